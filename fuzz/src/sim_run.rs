//! The `sim_run` target: a whole callsim population run (`callsim::runner::run`) from an
//! arbitrary small seed, population and behaviour/fault profile: a safety phase with drops and
//! partitions, then the liveness phase. The simulator checks the contract's invariants after
//! every step; the target panics with the first violation it reports, or with a panic of the
//! simulator itself.

use crate::ConfigSel;
use arbitrary::Arbitrary;
use callsim::net::Latency;
use callsim::population::Options;
use callsim::profile::{Profile, Range};

/// Users at most in one run.
pub const USERS_MAX: u32 = 40;
/// Safety phase at most, virtual seconds.
pub const DURATION_S_MAX: u64 = 1_800;

/// The whole input of one run.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// The run's seed.
    pub seed: u64,
    /// Users (modulo `USERS_MAX`, at least 2).
    pub users: u8,
    /// Safety phase length, virtual seconds (modulo `DURATION_S_MAX`, at least 1).
    pub duration_s: u16,
    /// Behaviour and faults.
    pub profile: ProfileSel,
}

/// A profile, every field drawn within what `Profile::validate` accepts.
#[derive(Arbitrary, Clone, Debug)]
pub struct ProfileSel {
    /// Calls per user per hour.
    pub calls_per_user_per_hour: u8,
    /// Shares and probabilities, in 1/255.
    pub video_share: u8,
    /// Share of group calls.
    pub group_share: u8,
    /// Group sizes.
    pub group_size: (u8, u8),
    /// Devices per user: 1 + n/10.
    pub extra_devices_tenths: u8,
    /// Answer and reject probabilities (normalised so that they add up to at most 1).
    pub answer: u8,
    /// Reject probability.
    pub reject: u8,
    /// Share of declines sent busy.
    pub reject_busy_share: u8,
    /// Answer delay.
    pub answer_delay_ms: (u16, u16),
    /// Cancel probability.
    pub cancel_probability: u8,
    /// Cancel delay.
    pub cancel_after_ms: (u16, u16),
    /// Talk time.
    pub talk_ms: (u32, u32),
    /// Disconnects per device per hour.
    pub disconnects_per_device_per_hour: u8,
    /// Reconnect delay.
    pub reconnect_delay_ms: (u16, u16),
    /// Partitions per hour.
    pub partitions_per_hour: u8,
    /// Devices per partition.
    pub partition_devices: (u8, u8),
    /// Partition length.
    pub partition_ms: (u16, u16),
    /// Latency: fixed (`min` only) or uniform.
    pub latency_ms: (u8, u8, bool),
    /// The call semantics' settings.
    pub config: ConfigSel,
    /// Delay before a participant starts its media session.
    pub session_start_delay_ms: (u16, u16),
    /// Probability that a participant's app dies before it starts.
    pub app_death_probability: u8,
    /// Share of devices registered for push.
    pub push_share: u8,
    /// Share of devices offline while idle.
    pub offline_share: u8,
    /// Probability that a push wakes the app.
    pub push_wake_probability: u8,
    /// Delay from a push to the woken app's connection.
    pub push_wake_delay_ms: (u16, u16),
    /// How long a woken device stays up after its calls.
    pub push_idle_ms: (u16, u16),
}

fn share(x: u8) -> f64 {
    f64::from(x) / 255.0
}

fn range<T: Into<u64>>((a, b): (T, T), cap: u64) -> Range {
    let (a, b) = (a.into().clamp(1, cap), b.into().clamp(1, cap));
    Range { min: a.min(b), max: a.max(b) }
}

impl ProfileSel {
    /// The profile it names.
    pub fn profile(&self) -> Profile {
        let (answer, reject) = (f64::from(self.answer), f64::from(self.reject));
        let scale = 255.0_f64.max(answer + reject);
        let (g0, g1) = (self.group_size.0 % 7 + 2, self.group_size.1 % 7 + 2);
        let (l0, l1, uniform) = self.latency_ms;
        let mut config = self.config.config();
        config.ring_timeout_ms = config.ring_timeout_ms.max(1);
        config.request_timeout_ms = config.request_timeout_ms.max(1);
        Profile {
            calls_per_user_per_hour: f64::from(self.calls_per_user_per_hour),
            video_share: share(self.video_share),
            group_share: share(self.group_share),
            group_size: Range { min: u64::from(g0.min(g1)), max: u64::from(g0.max(g1)) },
            devices_per_user: 1.0 + f64::from(self.extra_devices_tenths % 31) / 10.0,
            answer_probability: answer / scale,
            reject_probability: reject / scale,
            reject_busy_share: share(self.reject_busy_share),
            answer_delay_ms: range(self.answer_delay_ms, 60_000),
            cancel_probability: share(self.cancel_probability),
            cancel_after_ms: range(self.cancel_after_ms, 60_000),
            talk_ms: range(self.talk_ms, 600_000),
            disconnects_per_device_per_hour: f64::from(self.disconnects_per_device_per_hour),
            reconnect_delay_ms: range(self.reconnect_delay_ms, 60_000),
            partitions_per_hour: f64::from(self.partitions_per_hour),
            partition_devices: range(self.partition_devices, 255),
            partition_ms: range(self.partition_ms, 60_000),
            latency_ms: if uniform {
                Latency::Uniform { min: u64::from(l0.min(l1)), max: u64::from(l0.max(l1)) }
            } else {
                Latency::Fixed(u64::from(l0))
            },
            config,
            session_start_delay_ms: range(self.session_start_delay_ms, 60_000),
            // A dead app's call ends only by the media session's timeout (the profile refuses
            // deaths without one).
            app_death_probability: if config.session_start_timeout_ms.is_some() {
                share(self.app_death_probability)
            } else {
                0.0
            },
            push_share: share(self.push_share),
            offline_share: share(self.offline_share),
            push_wake_probability: share(self.push_wake_probability),
            push_wake_delay_ms: range(self.push_wake_delay_ms, 60_000),
            push_idle_ms: range(self.push_idle_ms, 60_000),
        }
    }
}

impl Input {
    /// The run it names.
    pub fn options(&self) -> Options {
        Options {
            users: (u32::from(self.users) % USERS_MAX).max(2),
            duration_ms: (u64::from(self.duration_s) % DURATION_S_MAX).max(1) * 1_000,
            seed: self.seed,
            profile: self.profile.profile(),
        }
    }
}

/// Runs one input; panics on the first violation.
pub fn run(input: &Input) {
    let opts = input.options();
    if let Err(e) = opts.profile.validate() {
        panic!("the driver built a profile the simulator refuses: {e}");
    }
    let out = callsim::runner::run(&opts, callsim::trace::Trace::default(), false, &mut |_, _| {});
    if let Some(f) = out.failure {
        panic!("{} at {} ms (virtual); options {opts:?}", f.violation, f.at_ms);
    }
    assert!(out.summary.violations.is_empty(), "violations: {:?}", out.summary.violations);
}
