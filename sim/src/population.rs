//! Population runs: many virtual users calling each other on a faulty network.
//!
//! Phases: a **safety phase** of `duration_ms` where users start calls (a Poisson process per
//! user) and the network drops devices and partitions groups of them; then a **liveness
//! phase**: faults stop, every dropped device reconnects, nobody starts a new call, and every
//! call must be terminal within ring timeout + longest talk time + reconnect grace (plus a
//! network slack of one retry second and four latencies). Once quiet (no live call, nothing
//! in flight) every connected device's view must equal the switchboard's.
//!
//! Virtual users keep 40 bytes of state each, and each device 24; their decisions about a call
//! (answer or not, after how long, talk time, who hangs up, when the media session starts, whether
//! the app dies, whether a push wakes the app) come from a generator keyed by the call and the
//! user (or device), so they do not depend on what other calls did.
//!
//! **Media session and push** (contract version 2). Each participant of an accepted call starts
//! its media session (`start_session`) after `session_start_delay_ms`, unless its app dies
//! (`app_death_probability`): it then never starts, never hangs up, and the call ends `no_media`
//! after `session_start_timeout_ms` (the device stays connected: a dead media stack, not a lost
//! connection, which the reconnect grace already covers). A share of the devices
//! (`offline_share`) is offline while not in a call: such a device does not log in; it connects
//! when its user calls from it, or when a push `ring` wakes its app (`push_wake_probability`,
//! after `push_wake_delay_ms`), and disconnects again `push_idle_ms` after its calls are over. A
//! share of the devices (`push_share`) is registered for push before the run. In the liveness
//! phase every device stays connected.

use crate::engine::{Driver, Engine, Observation, Stage, World};
use crate::profile::{Invalid, Profile, Range};
use crate::rng::{derive, SimRng, Stream};
use crate::stats::Samples;
use crate::trace::Trace;
use callcore::push::PushKind;
use callcore::testing::invariants::Violation;
use callcore::{
    CallType, CallbackKind, DeviceId, ErrorCode, GroupId, Reason, Receiver, RejectStatus, Request, SessionId,
    Status, UserId,
};
use std::collections::BTreeSet;

/// The longest safety phase the command line runs, virtual s (366 days).
pub const DURATION_S_MAX: u64 = 366 * 24 * 3600;
/// The most calls, or disconnects, the whole population may start per virtual hour (a million a
/// virtual second). Beyond it the gap between two arrivals can fall below what an f64 time can
/// add, and the arrivals would never get past one millisecond.
pub const STARTS_PER_HOUR_MAX: f64 = 3.6e9;
/// The most devices a population may have, counting each user at `devices_per_user` rounded up
/// (2^24: about 10 GB at the default profile, which lays out a million users in 0.75 GB). A
/// larger run is refused before anything is allocated.
pub const POPULATION_DEVICES_MAX: f64 = 16_777_216.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Virtual users.
    pub users: u32,
    /// Length of the safety phase, virtual ms (the command line takes at most
    /// [`DURATION_S_MAX`]).
    pub duration_ms: u64,
    /// The seed.
    pub seed: u64,
    /// Behaviour.
    pub profile: Profile,
}

impl Options {
    /// Checks the bounds a run needs to end: the profile's ([`Profile::validate`]), the
    /// duration's ([`DURATION_S_MAX`]) and the population-wide rates ([`STARTS_PER_HOUR_MAX`]).
    pub fn validate(&self) -> Result<(), OptionsError> {
        self.profile.validate().map_err(OptionsError::Profile)?;
        if self.users == 0 {
            return Err(OptionsError::NoUsers);
        }
        if self.duration_ms > DURATION_S_MAX * 1000 {
            return Err(OptionsError::TooLong);
        }
        let users = f64::from(self.users);
        let devices = users * self.profile.devices_per_user.ceil();
        if devices > POPULATION_DEVICES_MAX {
            return Err(OptionsError::TooManyDevices { devices });
        }
        let totals = [
            (
                ["partitions_per_hour", "partition_devices.max"],
                self.profile.partitions_per_hour * self.profile.partition_devices.max as f64,
            ),
            (["users", "calls_per_user_per_hour"], users * self.profile.calls_per_user_per_hour),
            (
                ["devices", "disconnects_per_device_per_hour"],
                devices * self.profile.disconnects_per_device_per_hour,
            ),
        ];
        for (product, total) in totals {
            if total > STARTS_PER_HOUR_MAX {
                return Err(OptionsError::TooManyStarts { product, total });
            }
        }
        Ok(())
    }
}

/// Why [`Options`] cannot be run. Each names the settings it involves by their names in
/// [`Options`] and in a profile file (`users`, `duration_s`, `calls_per_user_per_hour`);
/// [`OptionsError::describe`] words it with other names (a command line names its flags).
#[derive(Clone, Debug, PartialEq)]
pub enum OptionsError {
    /// A profile's value out of its bounds.
    Profile(Invalid),
    /// No users.
    NoUsers,
    /// A safety phase longer than [`DURATION_S_MAX`].
    TooLong,
    /// More devices than [`POPULATION_DEVICES_MAX`].
    TooManyDevices {
        /// Users times devices per user, rounded up.
        devices: f64,
    },
    /// More starts per hour than [`STARTS_PER_HOUR_MAX`]: the total is the product of two
    /// settings (or counts).
    TooManyStarts {
        /// The two factors' names.
        product: [&'static str; 2],
        /// Their product, per hour.
        total: f64,
    },
}

impl OptionsError {
    /// The message, each setting called what `name` calls it (given its field's name).
    pub fn describe(&self, name: &dyn Fn(&'static str) -> &'static str) -> String {
        match self {
            Self::Profile(Invalid { field, rule }) => format!("{} {rule}", name(field)),
            Self::NoUsers => format!("{} must be at least 1", name("users")),
            Self::TooLong => format!("{} must be at most {DURATION_S_MAX} (366 days)", name("duration_s")),
            Self::TooManyDevices { devices } => format!(
                "{} x {} (rounded up) must be at most {POPULATION_DEVICES_MAX} devices (got {devices})",
                name("users"),
                name("devices_per_user")
            ),
            Self::TooManyStarts { product: [a, b], total } => format!(
                "{} x {} must be at most {STARTS_PER_HOUR_MAX:e} per hour (got {total:e})",
                name(a),
                name(b)
            ),
        }
    }
}

impl std::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&|field| field))
    }
}

impl std::error::Error for OptionsError {}

const NONE: SessionId = SessionId(u64::MAX);
const NO_GROUP: u32 = u32::MAX;
/// How long a virtual user waits before retrying a hang-up that could not go out.
const RETRY_MS: u64 = 1_000;
/// How many `start_session` requests a participant sends for one call: the first, and one retry
/// after a `timeout` or `not_connected` answer.
const SESSION_SENDS_MAX: u8 = 2;
/// How many times, [`RETRY_MS`] apart, a participant looks again for its device connected and
/// seeing the call accepted before it gives up starting its media session (the default start
/// timeout is 20 of them).
const SESSION_WAITS_MAX: u8 = 30;
/// [`VUser::media_sends`] of a participant whose app died: it never starts nor hangs up.
const APP_DEAD: u8 = u8::MAX;

/// The run's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Calls and faults.
    Safety,
    /// Faults off, no new calls: everything must settle.
    Liveness,
}

/// A virtual user's or the network's next move.
#[derive(Clone, Copy, Debug)]
pub enum Act {
    /// Calls start (the whole population's arrivals due now).
    Arrival,
    /// Devices drop.
    Fault,
    /// A partition cuts devices off.
    Partition,
    /// A dropped device comes back.
    Reconnect(DeviceId),
    /// A rung user accepts.
    Accept(DeviceId, SessionId),
    /// A rung user declines (`true`: as busy).
    Reject(DeviceId, SessionId, bool),
    /// The caller gives up waiting.
    Cancel(DeviceId, SessionId),
    /// A participant hangs up.
    End(DeviceId, SessionId),
    /// A participant starts its media session (or looks again whether it can).
    StartSession(DeviceId, SessionId),
    /// A push `ring` for this call wakes the device's app: it connects.
    Wake(DeviceId, SessionId),
    /// A device that is offline while idle goes offline if its calls are over.
    Idle(DeviceId),
    /// Faults stop; every device reconnects.
    LivenessStart,
    /// The devices due to log in by now connect (the first second of the run).
    LoginWave,
}

#[derive(Clone, Copy, Debug)]
struct VUser {
    /// The incoming call this user decided about (one decision per call, whatever rings).
    handling: SessionId,
    /// The call this user scheduled a hang-up for.
    ending: SessionId,
    /// When the user's last initiate went out, plus one (0: none waiting for a ring).
    initiated_at: u64,
    /// The call this user decided about starting its media session for.
    media: SessionId,
    /// `start_session` requests sent for `media` ([`APP_DEAD`]: the app died).
    media_sends: u8,
    /// Times the user looked again for a device that can start the session.
    media_waits: u8,
}

/// Set in [`Dev::flags`] for a device that is offline while not in a call.
const OFFLINE_IDLE: u8 = 1;
/// Set in [`Dev::flags`] while such a device's app is up (woken by a push, or opened to call):
/// it reconnects after a fault, until it goes idle.
const AWAKE: u8 = 2;

/// A device's state in the population.
#[derive(Clone, Copy, Debug)]
struct Dev {
    /// [`OFFLINE_IDLE`], [`AWAKE`].
    flags: u8,
    /// When the device is next due to go idle (an [`Act::Idle`] due earlier is stale).
    idle_at: u64,
    /// The call whose push `ring` last woke the device.
    woken_for: SessionId,
}

/// Counters a population run keeps besides the engine's.
#[derive(Clone, Debug, Default)]
pub struct Measures {
    /// Answers by error code (as the application saw them).
    pub errors: [u64; 8],
    /// Initiate → `outgoing_call_ringing` on the calling user.
    pub setup: Samples,
    /// Creation → accept.
    pub ring: Samples,
    /// Accept → end.
    pub talk: Samples,
    /// Call attempts skipped because the user was busy or offline.
    pub skipped: u64,
    /// Devices whose app a push `ring` woke (each wake that connected a device).
    pub woken: u64,
    /// Accepts sent from a device woken by a push for that call.
    pub accepts_from_push: u64,
    /// `start_session` requests answered with success.
    pub sessions_started: u64,
    /// Participants whose app died before starting the media session.
    pub app_deaths: u64,
    /// Calls that changed to `ended` with reason `no_media`.
    pub ended_no_media: u64,
    /// One-to-one calls whose callee had no device connected (as the switchboard held it) when
    /// the call was created.
    pub offline_callee: u64,
    /// Those of them that were accepted.
    pub offline_callee_accepted: u64,
}

/// The population's driver.
pub struct Population {
    profile: Profile,
    seed: u64,
    /// The phase now.
    pub phase: Phase,
    duration_ms: u64,
    arrivals: SimRng,
    next_arrival_ms: f64,
    /// Who makes the next arrival's call. It is the next draw from `arrivals` after the
    /// arrival's time, drawn as soon as that time is, so that the call's records can be loaded
    /// ahead (see [`Driver::prefetch`]); the draws come in the same order as if it were drawn
    /// when the call starts.
    next_caller: UserId,
    arrival_mean_ms: f64,
    faults: SimRng,
    next_fault_ms: f64,
    fault_mean_ms: f64,
    next_partition_ms: f64,
    partition_mean_ms: f64,
    users: Vec<VUser>,
    /// Each device, by slot.
    devices: Vec<Dev>,
    group_of: Vec<u32>,
    /// The calls counted in [`Measures::offline_callee`] that have not been accepted nor ended.
    offline_callee: BTreeSet<SessionId>,
    /// What was measured.
    pub measures: Measures,
    /// When set, sees every observation (to write the run as a scenario).
    pub recorder: Option<crate::record::Recorder>,
    /// Devices connected by the login wave so far.
    logged_in: usize,
}

/// Devices log in over the first second of the run, in slot order (device `i` of `n` at
/// `i * LOGIN_MS / n` ms), rather than all at once: the same start for the users, without a
/// million messages in flight at the same moment.
pub const LOGIN_MS: u64 = 1_000;

/// The liveness bound: ring timeout + longest talk + reconnect grace + network slack. A call
/// whose participant's app died lasts the session start timeout instead of its talk time: the
/// longer of the two counts.
pub fn liveness_bound_ms(profile: &Profile) -> u64 {
    let c = &profile.config;
    // Saturating for a profile that skipped `Profile::validate` (a validated one is far below).
    [
        c.ring_timeout_ms,
        profile.talk_ms.max.max(c.session_start_timeout_ms.unwrap_or(0)),
        c.reconnect_grace_ms,
        RETRY_MS,
        profile.latency_ms.max_ms().saturating_mul(4),
    ]
    .into_iter()
    .fold(0, u64::saturating_add)
}

fn mean_ms(per_hour_total: f64) -> f64 {
    if per_hour_total > 0.0 {
        3_600_000.0 / per_hour_total
    } else {
        f64::INFINITY
    }
}

/// Builds the world (users, devices, groups, initial connects) and the driver.
pub fn build(opts: &Options, trace: Trace) -> Engine<Population> {
    let p = &opts.profile;
    // The wheel's default blocks (~4 s) suit every population: later timers wait in level 1.
    let mut world = World::new(p.config, p.latency_ms, opts.seed, trace);
    let mut setup = SimRng::stream(opts.seed, Stream::Setup);
    let whole = p.devices_per_user.floor();
    let frac = p.devices_per_user - whole;
    // Every table sized once: at most ⌈devices_per_user⌉ devices a user, and groups of at
    // least `group_size.min` (≥ 2) members.
    let users = opts.users as usize;
    let devices_max = (p.devices_per_user.ceil() as usize).clamp(1, callcore::DEVICES_PER_USER_MAX.into());
    world.reserve(users, users * devices_max, users / p.group_size.min.max(2) as usize);
    let counts: Vec<u16> = (0..opts.users)
        .map(|_| (whole as u16 + u16::from(setup.chance(frac))).clamp(1, callcore::DEVICES_PER_USER_MAX))
        .collect();
    world.add_users(&counts);
    let group_of = make_groups(&mut world, &mut setup, opts.users, p.group_size);
    let mut device_states = Vec::with_capacity(world.device_slots());
    for slot in 0..world.device_slots() {
        let offline = setup.chance(p.offline_share);
        if setup.chance(p.push_share) {
            let device = world.client_at(slot).device();
            world.register_push(device);
        }
        let flags = if offline { OFFLINE_IDLE } else { 0 };
        device_states.push(Dev { flags, idle_at: 0, woken_for: NONE });
    }
    let devices = world.device_slots() as f64;
    let mut driver = Population {
        profile: p.clone(),
        seed: opts.seed,
        phase: Phase::Safety,
        duration_ms: opts.duration_ms,
        arrivals: SimRng::stream(opts.seed, Stream::Arrivals),
        next_arrival_ms: 0.0,
        next_caller: UserId(0),
        arrival_mean_ms: mean_ms(p.calls_per_user_per_hour * f64::from(opts.users)),
        faults: SimRng::stream(opts.seed, Stream::Faults),
        next_fault_ms: 0.0,
        fault_mean_ms: mean_ms(p.disconnects_per_device_per_hour * devices),
        next_partition_ms: 0.0,
        partition_mean_ms: mean_ms(p.partitions_per_hour),
        users: vec![
            VUser {
                handling: NONE,
                ending: NONE,
                initiated_at: 0,
                media: NONE,
                media_sends: 0,
                media_waits: 0
            };
            opts.users as usize
        ],
        devices: device_states,
        group_of,
        offline_callee: BTreeSet::new(),
        measures: Measures::default(),
        recorder: None,
        logged_in: 0,
    };
    driver.next_arrival_ms = driver.arrivals.exp_f64(driver.arrival_mean_ms);
    driver.next_caller = driver.draw_caller();
    driver.next_fault_ms = driver.faults.exp_f64(driver.fault_mean_ms);
    driver.next_partition_ms = driver.faults.exp_f64(driver.partition_mean_ms);
    let (a, f, pt) = (driver.next_arrival_ms, driver.next_fault_ms, driver.next_partition_ms);
    schedule_next(&mut world, a, opts.duration_ms, Act::Arrival);
    schedule_next(&mut world, f, opts.duration_ms, Act::Fault);
    schedule_next(&mut world, pt, opts.duration_ms, Act::Partition);
    world.schedule(0, Act::LoginWave);
    world.schedule(opts.duration_ms.max(LOGIN_MS), Act::LivenessStart);
    Engine::new(world, driver)
}

/// Every user joins one group: consecutive users in blocks of `size` (a last block of one
/// user has no group).
fn make_groups(world: &mut World<Act>, setup: &mut SimRng, users: u32, size: Range) -> Vec<u32> {
    let mut group_of = vec![NO_GROUP; users as usize];
    let mut start = 0u32;
    let mut members = Vec::new();
    while start < users {
        let len = (setup.range(size.min, size.max) as u32).min(users - start);
        if len >= 2 {
            members.clear();
            members.extend((start..start + len).map(UserId));
            if let Some(GroupId(g)) = world.add_group(&members) {
                group_of[start as usize..(start + len) as usize].fill(g);
            }
        }
        start += len;
    }
    group_of
}

/// Schedules a generator's next run at the ms its next occurrence falls in, if that is still
/// within the safety phase.
fn schedule_next(world: &mut World<Act>, next_ms: f64, duration_ms: u64, act: Act) {
    if next_ms < duration_ms as f64 {
        world.schedule(next_ms as u64, act);
    }
}

impl Population {
    fn keyed(&self, session: SessionId, who: u64) -> SimRng {
        SimRng::keyed(self.seed, Stream::Decisions, derive(session.0, who))
    }

    fn user(&mut self, user: UserId) -> &mut VUser {
        &mut self.users[user.0 as usize]
    }

    fn arrival(&mut self, world: &mut World<Act>) {
        let until = (world.now_ms() + 1) as f64;
        while self.next_arrival_ms < until {
            self.start_call(world, self.next_caller);
            self.next_arrival_ms += self.arrivals.exp_f64(self.arrival_mean_ms);
            self.next_caller = self.draw_caller();
        }
        schedule_next(world, self.next_arrival_ms, self.duration_ms, Act::Arrival);
    }

    /// A random user, to make the next arrival's call.
    fn draw_caller(&mut self) -> UserId {
        UserId(self.arrivals.below(self.users.len() as u64) as u32)
    }

    /// Cache hints for the next arrival's call: its caller's devices, their clients and
    /// buffers, and the caller's own records.
    fn prefetch_caller(&self, world: &World<Act>, stage: Stage) {
        let user = self.next_caller;
        match stage {
            Stage::Named => {
                world.prefetch_device_index(DeviceId::new(user, 0));
                prefetch_index::prefetch_index(&self.users, user.0 as usize);
                prefetch_index::prefetch_index(&self.group_of, user.0 as usize);
            }
            Stage::Linked => world.prefetch_user_devices(user),
            Stage::Buffers => world.prefetch_user_device_buffers(user),
            Stage::Recipients => {}
        }
    }

    /// `user` starts a call from a random device of theirs, unless that device is offline or
    /// already on a call. A device that is offline while idle (and not away for a fault) comes
    /// online to call: its app opens.
    fn start_call(&mut self, world: &mut World<Act>, user: UserId) {
        let n = self.users.len() as u64;
        let device = DeviceId::new(user, self.arrivals.below(u64::from(world.device_count(user))) as u16);
        if n >= 2 {
            self.open_app(world, device);
        }
        let busy = world
            .client(device)
            .is_none_or(|c| !c.is_connected() || c.calls().any(|v| !v.status.is_terminal()));
        if busy || n < 2 {
            self.measures.skipped += 1;
            return;
        }
        let group = self.group_of[user.0 as usize];
        let to = if group != NO_GROUP && self.arrivals.chance(self.profile.group_share) {
            Receiver::Group(GroupId(group))
        } else {
            let other = self.arrivals.below(n - 1) as u32;
            Receiver::User(UserId(other + u32::from(other >= user.0)))
        };
        let video = self.arrivals.chance(self.profile.video_share);
        let call_type = if video { CallType::Video } else { CallType::Audio };
        let now = world.now_ms();
        if world.command(device, Request::Initiate { to, call_type, ring_timeout_ms: None }).is_ok() {
            self.user(user).initiated_at = now + 1;
        }
    }

    fn fault(&mut self, world: &mut World<Act>) {
        let until = (world.now_ms() + 1) as f64;
        while self.next_fault_ms < until {
            let slot = self.faults.below(world.device_slots() as u64) as usize;
            self.drop_device(world, slot, self.profile.reconnect_delay_ms);
            self.next_fault_ms += self.faults.exp_f64(self.fault_mean_ms);
        }
        schedule_next(world, self.next_fault_ms, self.duration_ms, Act::Fault);
    }

    fn partition(&mut self, world: &mut World<Act>) {
        let until = (world.now_ms() + 1) as f64;
        while self.next_partition_ms < until {
            let size =
                self.faults.range(self.profile.partition_devices.min, self.profile.partition_devices.max);
            let lasts = self.faults.range(self.profile.partition_ms.min, self.profile.partition_ms.max);
            // Each draw picks a device, maybe one already picked: more draws than devices
            // would only pick again.
            for _ in 0..size.min(world.device_slots() as u64) {
                let slot = self.faults.below(world.device_slots() as u64) as usize;
                self.drop_device(world, slot, Range { min: lasts, max: lasts });
            }
            self.next_partition_ms += self.faults.exp_f64(self.partition_mean_ms);
        }
        schedule_next(world, self.next_partition_ms, self.duration_ms, Act::Partition);
    }

    fn drop_device(&mut self, world: &mut World<Act>, slot: usize, away: Range) {
        let delay = self.faults.range(away.min, away.max);
        let device = world.client_at(slot).device();
        if world.client_at(slot).is_connected() {
            world.disconnect(device);
            world.schedule(world.now_ms() + delay, Act::Reconnect(device));
        }
    }

    /// Connects a device that is offline while idle and whose app is not up, and keeps it up
    /// until it goes idle ([`Act::Idle`]). Returns whether it connected it.
    fn open_app(&mut self, world: &mut World<Act>, device: DeviceId) -> bool {
        let Some(slot) = world.slot(device) else { return false };
        let dev = self.devices[slot as usize];
        let closed = dev.flags & OFFLINE_IDLE != 0 && dev.flags & AWAKE == 0;
        if self.phase != Phase::Safety || !closed || world.client_at(slot as usize).is_connected() {
            return false;
        }
        world.connect(device);
        self.devices[slot as usize].flags |= AWAKE;
        self.schedule_idle(world, device, slot);
        true
    }

    /// Schedules the device's next look at whether it is idle.
    fn schedule_idle(&mut self, world: &mut World<Act>, device: DeviceId, slot: u32) {
        let p = self.profile.push_idle_ms;
        // Keyed by the device and the time: a device looks at most once a millisecond.
        let mut r = self.keyed(SessionId(world.now_ms()), device_key(device) | 1 << 46);
        let at = world.now_ms() + r.range(p.min, p.max);
        self.devices[slot as usize].idle_at = at;
        world.schedule(at, Act::Idle(device));
    }

    /// A device that is offline while idle goes offline once it has no live call nor request
    /// waiting for an answer (otherwise it looks again later).
    fn idle(&mut self, world: &mut World<Act>, device: DeviceId) {
        let Some(slot) = world.slot(device) else { return };
        let dev = self.devices[slot as usize];
        if self.phase != Phase::Safety || dev.flags & AWAKE == 0 || world.now_ms() < dev.idle_at {
            return;
        }
        let client = world.client_at(slot as usize);
        let busy = client.pending_requests() > 0 || client.calls().any(|v| !v.status.is_terminal());
        if busy {
            self.schedule_idle(world, device, slot);
            return;
        }
        self.devices[slot as usize].flags &= !AWAKE;
        if world.client_at(slot as usize).is_connected() {
            world.disconnect(device);
        }
    }

    /// A push `ring` reached a device: its app wakes after a while, or never.
    fn on_push_ring(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId) {
        if self.phase != Phase::Safety {
            return;
        }
        let p = &self.profile;
        let mut r = self.keyed(session, device_key(device) | 1 << 45);
        if r.chance(p.push_wake_probability) {
            let at = world.now_ms() + r.range(p.push_wake_delay_ms.min, p.push_wake_delay_ms.max);
            world.schedule(at, Act::Wake(device, session));
        }
    }

    /// The woken app connects (unless the device is connected already): its snapshot rings it
    /// if the call still rings its user.
    fn wake(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId) {
        let Some(slot) = world.slot(device) else { return };
        if self.phase != Phase::Safety || world.client_at(slot as usize).is_connected() {
            return;
        }
        if !self.open_app(world, device) {
            world.connect(device);
        }
        self.devices[slot as usize].woken_for = session;
        self.measures.woken += 1;
    }

    /// A dropped device comes back, unless it is offline while idle and its app went down.
    fn reconnect(&mut self, world: &mut World<Act>, device: DeviceId) {
        let Some(slot) = world.slot(device) else { return };
        let flags = self.devices[slot as usize].flags;
        let closed = flags & OFFLINE_IDLE != 0 && flags & AWAKE == 0;
        if !closed && !world.client_at(slot as usize).is_connected() {
            world.connect(device);
        }
    }

    fn login_wave(&mut self, world: &mut World<Act>) {
        let n = world.device_slots();
        let now = world.now_ms();
        while self.logged_in < n && (self.logged_in as u64 * LOGIN_MS) / n as u64 <= now {
            let slot = self.logged_in;
            // A device offline while idle does not log in; one a push woke is already up.
            if self.devices[slot].flags & OFFLINE_IDLE == 0 && !world.client_at(slot).is_connected() {
                let device = world.client_at(slot).device();
                world.connect(device);
            }
            self.logged_in += 1;
        }
        if self.logged_in < n {
            let next = (self.logged_in as u64 * LOGIN_MS).div_ceil(n as u64);
            world.schedule(next.max(now + 1), Act::LoginWave);
        }
    }

    fn liveness_start(&mut self, world: &mut World<Act>) {
        self.phase = Phase::Liveness;
        for slot in 0..world.device_slots() {
            if !world.client_at(slot).is_connected() {
                let device = world.client_at(slot).device();
                world.connect(device);
            }
        }
    }

    /// The device's view of the call, if it is connected and knows it.
    fn view(world: &World<Act>, device: DeviceId, session: SessionId) -> Option<Status> {
        let client = world.client(device).filter(|c| c.is_connected())?;
        client.call(session).map(|v| v.status)
    }

    fn answer(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId, request: Request) {
        let Some(view) = Self::view(world, device, session) else { return };
        let group = world
            .client(device)
            .and_then(|c| c.call(session))
            .map(|v| matches!(v.receiver, Receiver::Group(_)));
        let ringing = matches!(view, Status::Initiated | Status::Ringing);
        let accept = matches!(request, Request::Accept { .. });
        if ringing || (view == Status::Accepted && group == Some(true) && accept) {
            let sent = world.command(device, request).is_ok();
            let woken = world.slot(device).is_some_and(|s| self.devices[s as usize].woken_for == session);
            if sent && accept && woken {
                self.measures.accepts_from_push += 1;
            }
        }
    }

    fn cancel(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId) {
        if matches!(Self::view(world, device, session), Some(Status::Initiated | Status::Ringing)) {
            let _ = world.command(device, Request::cancel(session));
        }
    }

    /// Hangs up from this device, or another connected device of the user that sees the call
    /// accepted; when none is connected, tries again a second later.
    fn end(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId) {
        let count = world.device_count(device.user);
        let from = (0..count)
            .map(|i| DeviceId::new(device.user, (device.index + i) % count))
            .find(|&d| world.client(d).is_some_and(|c| c.is_connected()));
        let Some(from) = from else {
            world.schedule(world.now_ms() + RETRY_MS, Act::End(device, session));
            return;
        };
        match Self::view(world, from, session) {
            Some(Status::Accepted) => {
                let _ = world.command(from, Request::End { session });
            }
            Some(status) if status.is_terminal() => {}
            // A view still ringing is stale (an accept whose answer was lost): it converges once
            // the device hears from the switchboard, so try again rather than never hang up.
            Some(_) => world.schedule(world.now_ms() + RETRY_MS, Act::End(device, session)),
            None if from != device => world.schedule(world.now_ms() + RETRY_MS, Act::End(device, session)),
            None => {}
        }
    }

    /// A rung user decides once per call: accept, decline, or let it ring.
    fn on_incoming(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId) {
        if self.user(device.user).handling == session {
            return;
        }
        self.user(device.user).handling = session;
        let p = &self.profile;
        let mut r = self.keyed(session, u64::from(device.user.0));
        let x = r.unit();
        let at = world.now_ms() + r.range(p.answer_delay_ms.min, p.answer_delay_ms.max);
        if x < p.answer_probability {
            world.schedule(at, Act::Accept(device, session));
        } else if x < p.answer_probability + p.reject_probability {
            let busy = r.chance(p.reject_busy_share);
            world.schedule(at, Act::Reject(device, session, busy));
        }
    }

    /// A participant of an accepted call decides, once per call, whether its app dies (then it
    /// does nothing more: the call ends `no_media` for it) or when it starts its media session;
    /// then it schedules its hang-up ([`Population::on_accepted`]).
    fn on_joined(
        &mut self,
        world: &mut World<Act>,
        device: DeviceId,
        session: SessionId,
        group: bool,
        initiator: bool,
    ) {
        let u = self.user(device.user);
        if u.media != session {
            u.media = session;
            u.media_sends = 0;
            u.media_waits = 0;
            let p = &self.profile;
            let (death, delay) = (p.app_death_probability, p.session_start_delay_ms);
            let mut r = self.keyed(session, u64::from(device.user.0) | 1 << 43);
            if r.chance(death) {
                self.user(device.user).media_sends = APP_DEAD;
                self.measures.app_deaths += 1;
            } else {
                world.schedule(
                    world.now_ms() + r.range(delay.min, delay.max),
                    Act::StartSession(device, session),
                );
            }
        }
        if self.user(device.user).media_sends != APP_DEAD {
            self.on_accepted(world, device, session, group, initiator);
        }
    }

    /// Sends `start_session` from the device once it is connected and sees the call accepted;
    /// until then looks again every [`RETRY_MS`], at most [`SESSION_WAITS_MAX`] times.
    fn start_session(&mut self, world: &mut World<Act>, device: DeviceId, session: SessionId) {
        let u = *self.user(device.user);
        if u.media != session || u.media_sends >= SESSION_SENDS_MAX {
            return;
        }
        match Self::view(world, device, session) {
            Some(Status::Accepted) => {
                let sent = world.command(device, Request::StartSession { session }).is_ok();
                self.user(device.user).media_sends += u8::from(sent);
            }
            Some(status) if status.is_terminal() => {}
            // Not connected, or a stale view (the accept's answer was lost): look again.
            _ if u.media_waits < SESSION_WAITS_MAX => {
                self.user(device.user).media_waits += 1;
                world.schedule(world.now_ms() + RETRY_MS, Act::StartSession(device, session));
            }
            _ => {}
        }
    }

    /// A participant of an accepted call schedules its hang-up: in a one-to-one call one party
    /// (chosen by the call's generator) hangs up after the call's talk time; in a group call
    /// every participant leaves after its own.
    fn on_accepted(
        &mut self,
        world: &mut World<Act>,
        device: DeviceId,
        session: SessionId,
        group: bool,
        initiator: bool,
    ) {
        if self.user(device.user).ending == session {
            return;
        }
        let mut r = if group {
            self.keyed(session, u64::from(device.user.0) | 1 << 40)
        } else {
            self.keyed(session, 1 << 41)
        };
        let initiator_ends = r.chance(0.5);
        if !group && initiator_ends != initiator {
            return;
        }
        self.user(device.user).ending = session;
        let talk = log_uniform(&mut r, self.profile.talk_ms);
        world.schedule(world.now_ms() + talk, Act::End(device, session));
    }

    fn on_created_answer(&mut self, world: &mut World<Act>, device: DeviceId, view: &callcore::CallView) {
        let mut r = self.keyed(view.session, 1 << 42);
        if r.chance(self.profile.cancel_probability) {
            let after = r.range(self.profile.cancel_after_ms.min, self.profile.cancel_after_ms.max);
            let at = (view.created_at_ms + after).max(world.now_ms() + 1);
            world.schedule(at, Act::Cancel(device, view.session));
        }
    }

    fn on_callback(
        &mut self,
        world: &mut World<Act>,
        device: DeviceId,
        kind: CallbackKind,
        view: &callcore::CallView,
    ) {
        let session = view.session;
        let group = matches!(view.receiver, Receiver::Group(_));
        match kind {
            CallbackKind::IncomingCallReceived => self.on_incoming(world, device, session),
            CallbackKind::OutgoingCallRinging => {
                let at = std::mem::take(&mut self.user(device.user).initiated_at);
                if at > 0 {
                    self.measures.setup.push(world.now_ms().saturating_sub(at - 1));
                }
            }
            CallbackKind::OutgoingCallAccepted => self.on_joined(world, device, session, group, true),
            _ => {}
        }
    }

    fn on_answer(
        &mut self,
        world: &mut World<Act>,
        device: DeviceId,
        request: &Request,
        result: &Result<Option<callcore::CallView>, ErrorCode>,
    ) {
        match (request, result) {
            (_, Err(code)) => {
                self.measures.errors[code.index()] += 1;
                match (request, code) {
                    (Request::End { session }, ErrorCode::Timeout | ErrorCode::NotConnected) => {
                        world.schedule(world.now_ms() + RETRY_MS, Act::End(device, *session));
                    }
                    // Once more (the request may have gone through: a second one then gets
                    // `not_allowed`); `invalid_state` (the call ended) and the rest: give up.
                    (Request::StartSession { session }, ErrorCode::Timeout | ErrorCode::NotConnected) => {
                        world.schedule(world.now_ms() + RETRY_MS, Act::StartSession(device, *session));
                    }
                    // The accept may have gone through with its answer lost: behave as if it
                    // did; the hang-up only goes out if the device then sees the call accepted.
                    (Request::Accept { session }, ErrorCode::Timeout) => {
                        let group = world
                            .client(device)
                            .and_then(|c| c.call(*session))
                            .is_some_and(|v| matches!(v.receiver, Receiver::Group(_)));
                        self.on_joined(world, device, *session, group, false);
                    }
                    _ => {}
                }
            }
            (Request::StartSession { .. }, Ok(_)) => self.measures.sessions_started += 1,
            (Request::Initiate { .. }, Ok(Some(view))) => self.on_created_answer(world, device, view),
            (Request::Accept { .. }, Ok(Some(view))) => {
                let group = matches!(view.receiver, Receiver::Group(_));
                self.on_joined(world, device, view.session, group, false);
            }
            _ => {}
        }
    }

    fn on_status(&mut self, world: &World<Act>, change: &callcore::switchboard::StatusChange) {
        let Some(call) = world.switchboard.call(change.session) else { return };
        let view = call.view();
        if change.from.is_none() {
            // Created: was the callee of a one-to-one call offline (no device connected)?
            if let Receiver::User(callee) = view.receiver {
                let count = world.device_count(callee);
                if !(0..count).any(|i| world.switchboard.is_connected(DeviceId::new(callee, i))) {
                    self.measures.offline_callee += 1;
                    self.offline_callee.insert(change.session);
                }
            }
        }
        match change.to {
            Status::Accepted => {
                self.measures.ring.push(change.at_ms - view.created_at_ms);
                if self.offline_callee.remove(&change.session) {
                    self.measures.offline_callee_accepted += 1;
                }
            }
            Status::Ended => {
                if let Some(accepted) = view.accepted_at_ms {
                    self.measures.talk.push(change.at_ms - accepted);
                }
                if view.reason == Some(Reason::NoMedia) {
                    self.measures.ended_no_media += 1;
                }
            }
            _ => {}
        }
        if change.to.is_terminal() {
            self.offline_callee.remove(&change.session);
        }
    }

    /// Invariant 3: nothing is live at the liveness deadline.
    pub fn check_liveness(world: &mut World<Act>, deadline_ms: u64) {
        if world.checker().live_calls() == 0 {
            return;
        }
        let stuck: Vec<String> =
            world.checker().live_sessions().take(5).map(|(s, st)| format!("{s} ({st})")).collect();
        let what = format!(
            "{} call(s) still live at the liveness deadline {deadline_ms} ms: {}",
            world.checker().live_calls(),
            stuck.join(", ")
        );
        world.report_at(Violation { invariant: 3, what }, deadline_ms);
    }
}

/// A device as a key for a keyed generator: its user and index (below bit 48).
fn device_key(device: DeviceId) -> u64 {
    u64::from(device.user.0) << 16 | u64::from(device.index)
}

/// A log-uniform draw in the range (whole ms).
fn log_uniform(r: &mut SimRng, range: Range) -> u64 {
    let (lo, hi) = ((range.min.max(1)) as f64, (range.max.max(1)) as f64);
    let x = (lo.ln() + r.unit() * (hi.ln() - lo.ln())).exp();
    (x.round() as u64).clamp(range.min.max(1), range.max.max(1))
}

impl Driver for Population {
    type Action = Act;

    fn act(&mut self, world: &mut World<Act>, action: Act) {
        let faults_on = self.phase == Phase::Safety;
        match action {
            Act::Arrival if faults_on => self.arrival(world),
            Act::Fault if faults_on => self.fault(world),
            Act::Partition if faults_on => self.partition(world),
            Act::Arrival | Act::Fault | Act::Partition => {}
            Act::Reconnect(device) => self.reconnect(world, device),
            Act::Accept(d, s) => self.answer(world, d, s, Request::Accept { session: s }),
            Act::Reject(d, s, busy) => {
                let status = if busy { RejectStatus::Busy } else { RejectStatus::Rejected };
                self.answer(world, d, s, Request::Reject { session: s, status });
            }
            Act::Cancel(d, s) => self.cancel(world, d, s),
            Act::End(d, s) => self.end(world, d, s),
            Act::StartSession(d, s) => self.start_session(world, d, s),
            Act::Wake(d, s) => self.wake(world, d, s),
            Act::Idle(d) => self.idle(world, d),
            Act::LivenessStart => self.liveness_start(world),
            Act::LoginWave => self.login_wave(world),
        }
    }

    fn prefetch(&self, world: &World<Act>, action: Act, stage: Stage) {
        if matches!(action, Act::Arrival) {
            self.prefetch_caller(world, stage);
            return;
        }
        let device = match action {
            Act::Reconnect(d)
            | Act::Accept(d, _)
            | Act::Reject(d, _, _)
            | Act::Cancel(d, _)
            | Act::End(d, _)
            | Act::StartSession(d, _)
            | Act::Wake(d, _)
            | Act::Idle(d) => d,
            _ => return,
        };
        match stage {
            Stage::Named => {
                world.prefetch_device_index(device);
                self.prefetch_observer(device);
            }
            Stage::Linked => world.prefetch_device(device),
            Stage::Buffers => world.prefetch_device_buffers(device),
            Stage::Recipients => {}
        }
    }

    fn prefetch_observer(&self, device: DeviceId) {
        prefetch_index::prefetch_index(&self.users, device.user.0 as usize);
    }

    fn observe(&mut self, world: &mut World<Act>, observation: &Observation) {
        if let Some(r) = self.recorder.as_mut() {
            r.observe(world, observation);
        }
        match observation {
            Observation::Callback { device, callback } => {
                self.on_callback(world, *device, callback.kind, &callback.call);
            }
            Observation::Answer { device, request, result, .. } => {
                self.on_answer(world, *device, request, result)
            }
            Observation::Status(change) => self.on_status(world, change),
            Observation::Push(push) if push.kind == PushKind::Ring => {
                self.on_push_ring(world, push.to, push.session)
            }
            Observation::Created { .. } | Observation::Evicted(_) | Observation::Push(_) => {}
        }
    }
}
