//! A population profile: how virtual users behave and how the network misbehaves. Built-in
//! defaults look like a real calling app; every field can be overridden by a JSON file
//! (`--profile FILE`, unknown fields are an error) and some by flags.

use crate::net::Latency;
use callcore::Config;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The longest time a profile may give any delay, talk time, partition or timeout, ms (one day).
/// Runs add these up (the liveness bound is a sum of several), so each is bounded.
pub const PROFILE_MS_MAX: u64 = 24 * 3600 * 1000;
/// The longest one-way latency a profile may give a message, ms.
pub const LATENCY_MS_MAX: u64 = 60_000;
/// The highest per-user call rate and per-device disconnect rate, per hour (one a second).
pub const RATE_PER_HOUR_MAX: f64 = 3_600.0;
/// The highest partition rate (the whole population's), per hour (one a millisecond).
pub const PARTITIONS_PER_HOUR_MAX: f64 = 3_600_000.0;

/// An inclusive range of milliseconds (or counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = r#"a range: {"min": A, "max": B}"#)]
pub struct Range {
    /// Smallest value.
    pub min: u64,
    /// Largest value.
    pub max: u64,
}

impl Range {
    const fn new(min: u64, max: u64) -> Self {
        Self { min, max }
    }
}

/// How the virtual users and the network behave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a profile: an object of settings")]
pub struct Profile {
    /// Calls each user starts per hour, on average (a Poisson process per user).
    pub calls_per_user_per_hour: f64,
    /// Share of calls that are video (the rest audio).
    pub video_share: f64,
    /// Share of calls made to the caller's group (the rest one-to-one to a random user).
    pub group_share: f64,
    /// Group sizes (every user belongs to one group).
    pub group_size: Range,
    /// Devices per user, on average (`1.3`: every user has 1, 30% have a second).
    pub devices_per_user: f64,
    /// Probability that a rung user accepts.
    pub answer_probability: f64,
    /// Probability that a rung user declines (the rest let it ring).
    pub reject_probability: f64,
    /// Share of declines sent with status busy.
    pub reject_busy_share: f64,
    /// Delay before accepting or declining, uniform.
    pub answer_delay_ms: Range,
    /// Probability that the caller cancels if nobody answered yet.
    pub cancel_probability: f64,
    /// When the caller cancels, uniform after the call was created.
    pub cancel_after_ms: Range,
    /// Talk time, log-uniform (most calls short, some long).
    pub talk_ms: Range,
    /// Disconnects per device per hour (safety phase only).
    pub disconnects_per_device_per_hour: f64,
    /// How long a dropped device stays away, uniform.
    pub reconnect_delay_ms: Range,
    /// Network partitions per hour (all devices, safety phase only).
    pub partitions_per_hour: f64,
    /// Devices cut off by one partition, uniform.
    pub partition_devices: Range,
    /// How long a partition lasts, uniform.
    pub partition_ms: Range,
    /// One-way latency of every message.
    pub latency_ms: Latency,
    /// Delay from joining an accepted call (the initiator: `outgoing_call_accepted`; a receiver:
    /// its accept's success) to sending `start_session`, uniform.
    pub session_start_delay_ms: Range,
    /// Probability that a participant's app dies before it starts its media session (the call
    /// then ends `no_media` for it).
    pub app_death_probability: f64,
    /// Share of devices registered for push before the run.
    pub push_share: f64,
    /// Share of devices that are offline while not in a call (they do not log in; they connect
    /// to call, or when a push wakes their app).
    pub offline_share: f64,
    /// Probability that a push `ring` wakes the app of the device it reached (else never).
    pub push_wake_probability: f64,
    /// Delay from a push `ring` to the woken app's connection, uniform.
    pub push_wake_delay_ms: Range,
    /// How long a device that is offline while idle stays up after its calls are over, uniform.
    pub push_idle_ms: Range,
    /// The call semantics' settings.
    pub config: Config,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            calls_per_user_per_hour: 2.0,
            video_share: 0.3,
            group_share: 0.1,
            group_size: Range::new(3, 8),
            devices_per_user: 1.3,
            answer_probability: 0.7,
            reject_probability: 0.1,
            reject_busy_share: 0.2,
            answer_delay_ms: Range::new(2_000, 15_000),
            cancel_probability: 0.05,
            cancel_after_ms: Range::new(5_000, 30_000),
            talk_ms: Range::new(30_000, 600_000),
            disconnects_per_device_per_hour: 0.1,
            reconnect_delay_ms: Range::new(1_000, 30_000),
            partitions_per_hour: 2.0,
            partition_devices: Range::new(2, 20),
            partition_ms: Range::new(2_000, 20_000),
            latency_ms: Latency::Uniform { min: 10, max: 80 },
            session_start_delay_ms: Range::new(200, 3_000),
            app_death_probability: 0.02,
            push_share: 0.5,
            offline_share: 0.3,
            push_wake_probability: 0.9,
            push_wake_delay_ms: Range::new(500, 5_000),
            push_idle_ms: Range::new(5_000, 30_000),
            config: Config::default(),
        }
    }
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON does not fit.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// Which value, and the rule it breaks.
        problem: Invalid,
    },
}

/// A profile's value out of its bounds: the field, as a profile file names it, and the rule it
/// breaks. The field is a name, not a sentence, so that a command line that set the value with a
/// flag can name the flag instead (`calls_per_user_per_hour` is `--calls-per-hour` there).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct Invalid {
    /// The field (`talk_ms`, `config.ring_timeout_ms`), or the fields of a rule on several
    /// (`answer_probability + reject_probability`).
    pub field: &'static str,
    /// The rule, worded to follow the field (`must be within 0..=1`).
    pub rule: String,
}

impl Profile {
    /// Reads a profile file; fields it leaves out keep their defaults.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ProfileError::Read { path: name.clone(), source })?;
        Self::parse(&text, name)
    }

    /// Parses and checks a profile's text; `name` names it in errors.
    pub fn parse(text: &str, name: String) -> Result<Self, ProfileError> {
        // A byte-order mark (some editors write one) is not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let profile: Profile = serde_json::from_str(text).map_err(|e| ProfileError::Parse {
            path: name.clone(),
            line: e.line(),
            column: e.column(),
            message: crate::scenario::strip_position(&e.to_string()),
        })?;
        // serde would also read a profile (or one of its ranges) from an array, by position: a
        // profile has no arrays at all.
        if let Some(at) = crate::locate::stray_array(text, &|_| false) {
            let (line, column) = crate::locate::locate(text, &at);
            let message = "expected an object, found an array".to_owned();
            return Err(ProfileError::Parse { path: name, line, column, message });
        }
        profile.validate().map_err(|problem| ProfileError::Invalid { path: name, problem })?;
        Ok(profile)
    }

    /// Checks ranges and probabilities.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |field: &'static str, rule: String| Err(Invalid { field, rule });
        let probabilities = [
            ("video_share", self.video_share),
            ("group_share", self.group_share),
            ("answer_probability", self.answer_probability),
            ("reject_probability", self.reject_probability),
            ("reject_busy_share", self.reject_busy_share),
            ("cancel_probability", self.cancel_probability),
            ("app_death_probability", self.app_death_probability),
            ("push_share", self.push_share),
            ("offline_share", self.offline_share),
            ("push_wake_probability", self.push_wake_probability),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return bad(name, "must be within 0..=1".to_owned());
            }
        }
        if self.app_death_probability > 0.0 && self.config.session_start_timeout_ms.is_none() {
            // A participant whose app died never hangs up: only the media session's timeout ends
            // its call, and without one the call is a ghost for ever (invariant 3 cannot hold).
            return bad(
                "app_death_probability",
                "must be 0 while config.session_start_timeout_ms is off (null): nothing would end a dead app's call".to_owned(),
            );
        }
        if self.answer_probability + self.reject_probability > 1.0 {
            return bad("answer_probability + reject_probability", "must be at most 1".to_owned());
        }
        let rates = [
            ("calls_per_user_per_hour", self.calls_per_user_per_hour),
            ("disconnects_per_device_per_hour", self.disconnects_per_device_per_hour),
            ("partitions_per_hour", self.partitions_per_hour),
        ];
        for (name, r) in rates {
            if !(r.is_finite() && r >= 0.0) {
                return bad(name, "must be a finite number >= 0".to_owned());
            }
        }
        let capped = [
            ("calls_per_user_per_hour", self.calls_per_user_per_hour, RATE_PER_HOUR_MAX),
            ("disconnects_per_device_per_hour", self.disconnects_per_device_per_hour, RATE_PER_HOUR_MAX),
            ("partitions_per_hour", self.partitions_per_hour, PARTITIONS_PER_HOUR_MAX),
        ];
        for (name, r, max) in capped {
            if r > max {
                return bad(name, format!("must be at most {max}"));
            }
        }
        if !(1.0..=f64::from(callcore::DEVICES_PER_USER_MAX)).contains(&self.devices_per_user) {
            return bad("devices_per_user", "must be within 1..=16".to_owned());
        }
        let ranges = [
            ("group_size", self.group_size),
            ("answer_delay_ms", self.answer_delay_ms),
            ("cancel_after_ms", self.cancel_after_ms),
            ("talk_ms", self.talk_ms),
            ("reconnect_delay_ms", self.reconnect_delay_ms),
            ("partition_devices", self.partition_devices),
            ("partition_ms", self.partition_ms),
            ("session_start_delay_ms", self.session_start_delay_ms),
            ("push_wake_delay_ms", self.push_wake_delay_ms),
            ("push_idle_ms", self.push_idle_ms),
        ];
        for (name, r) in ranges {
            if r.min > r.max || r.min == 0 {
                return bad(name, "must have 1 <= min <= max".to_owned());
            }
        }
        if self.group_size.min < 2 || self.group_size.max as usize > callcore::GROUP_MEMBERS_MAX {
            return bad("group_size", "must be within 2..=256".to_owned());
        }
        let times = [
            ("answer_delay_ms", self.answer_delay_ms.max),
            ("cancel_after_ms", self.cancel_after_ms.max),
            ("talk_ms", self.talk_ms.max),
            ("reconnect_delay_ms", self.reconnect_delay_ms.max),
            ("partition_ms", self.partition_ms.max),
            ("session_start_delay_ms", self.session_start_delay_ms.max),
            ("push_wake_delay_ms", self.push_wake_delay_ms.max),
            ("push_idle_ms", self.push_idle_ms.max),
            ("config.session_start_timeout_ms", self.config.session_start_timeout_ms.unwrap_or(0)),
            ("config.reconnect_grace_ms", self.config.reconnect_grace_ms),
            ("config.request_timeout_ms", self.config.request_timeout_ms),
            ("config.call_retention_ms", self.config.call_retention_ms),
        ];
        for (name, ms) in times {
            if ms > PROFILE_MS_MAX {
                return bad(name, format!("must be at most {PROFILE_MS_MAX} ms (one day)"));
            }
        }
        if self.config.ring_timeout_ms > callcore::RING_TIMEOUT_MS_MAX {
            return bad(
                "config.ring_timeout_ms",
                format!("must be at most {} ms", callcore::RING_TIMEOUT_MS_MAX),
            );
        }
        if let Latency::Uniform { min, max } = self.latency_ms {
            if min > max {
                return bad("latency_ms", "must have min <= max".to_owned());
            }
        }
        if self.latency_ms.max_ms() > LATENCY_MS_MAX {
            return bad("latency_ms", format!("must be at most {LATENCY_MS_MAX} ms"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        Profile::default().validate().unwrap();
    }

    /// The profile with one field changed through its JSON form (as a profile file would).
    fn with(json: &str) -> Profile {
        serde_json::from_str(json).expect("parses")
    }

    /// serde reads a struct from an array by position; a profile has no arrays, so any array
    /// is refused, at its place. A byte-order mark is skipped.
    #[test]
    fn an_array_is_never_a_profile_nor_a_range() {
        let err = |text: &str| Profile::parse(text, "p.json".into()).unwrap_err().to_string();
        assert_eq!(err("[100.0]"), "p.json:1:1: expected an object, found an array");
        assert_eq!(
            err("{\n  \"talk_ms\": [1000, 2000]\n}"),
            "p.json:2:3: expected an object, found an array"
        );
        let ok = Profile::parse("\u{feff}{\"calls_per_user_per_hour\": 4}", "p.json".into()).expect("parses");
        assert_eq!(ok.calls_per_user_per_hour, 4.0);
    }

    #[test]
    fn every_time_is_bounded_so_that_sums_of_them_cannot_overflow() {
        let day = PROFILE_MS_MAX;
        let fields = [
            "answer_delay_ms",
            "cancel_after_ms",
            "talk_ms",
            "reconnect_delay_ms",
            "partition_ms",
            "session_start_delay_ms",
            "push_wake_delay_ms",
            "push_idle_ms",
        ];
        for field in fields {
            let at_max = with(&format!(r#"{{"{field}": {{"min": 1, "max": {day}}}}}"#));
            at_max.validate().unwrap_or_else(|e| panic!("{field} of one day: {e}"));
            let over = with(&format!(r#"{{"{field}": {{"min": 1, "max": {}}}}}"#, u64::MAX));
            let e = over.validate().expect_err(field).to_string();
            assert_eq!(e, format!("{field} must be at most 86400000 ms (one day)"));
        }
        for field in
            ["reconnect_grace_ms", "request_timeout_ms", "call_retention_ms", "session_start_timeout_ms"]
        {
            with(&format!(r#"{{"config": {{"{field}": {day}}}}}"#)).validate().unwrap();
            let e =
                with(&format!(r#"{{"config": {{"{field}": {}}}}}"#, day + 1)).validate().expect_err(field);
            assert!(e.to_string().contains(&format!("config.{field} must be at most")), "{e}");
        }
        with(r#"{"config": {"ring_timeout_ms": 600000}}"#).validate().unwrap();
        let e = with(r#"{"config": {"ring_timeout_ms": 600001}}"#).validate().unwrap_err();
        assert_eq!(e.to_string(), "config.ring_timeout_ms must be at most 600000 ms");
    }

    #[test]
    fn rates_are_bounded_so_that_a_typo_is_not_a_run_that_never_ends() {
        with(r#"{"calls_per_user_per_hour": 3600, "disconnects_per_device_per_hour": 3600}"#)
            .validate()
            .unwrap();
        with(r#"{"partitions_per_hour": 3600000}"#).validate().unwrap();
        let cases = [
            (r#"{"calls_per_user_per_hour": 3600.5}"#, "calls_per_user_per_hour must be at most 3600"),
            (
                r#"{"disconnects_per_device_per_hour": 1e300}"#,
                "disconnects_per_device_per_hour must be at most 3600",
            ),
            (r#"{"partitions_per_hour": 3600001}"#, "partitions_per_hour must be at most 3600000"),
        ];
        for (json, message) in cases {
            assert_eq!(with(json).validate().unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn latency_is_bounded_whichever_form_it_takes() {
        with(r#"{"latency_ms": 60000}"#).validate().unwrap();
        with(r#"{"latency_ms": {"min": 0, "max": 60000}}"#).validate().unwrap();
        for json in [r#"{"latency_ms": 60001}"#, r#"{"latency_ms": {"min": 5, "max": 60001}}"#] {
            let e = with(json).validate().unwrap_err();
            assert_eq!(e.to_string(), "latency_ms must be at most 60000 ms", "{json}");
        }
    }

    #[test]
    fn push_and_media_settings_are_checked_like_the_others() {
        for field in ["app_death_probability", "push_share", "offline_share", "push_wake_probability"] {
            with(&format!(r#"{{"{field}": 1}}"#)).validate().unwrap();
            let e = with(&format!(r#"{{"{field}": 1.5}}"#)).validate().expect_err(field);
            assert_eq!(e.to_string(), format!("{field} must be within 0..=1"));
        }
        let e = with(r#"{"push_idle_ms": {"min": 9, "max": 8}}"#).validate().unwrap_err();
        assert_eq!(e.to_string(), "push_idle_ms must have 1 <= min <= max");
        // Without the media session's timeout nothing ends a dead app's call: deaths must be 0
        // (found by the sim_run fuzzer as a liveness failure: calls accepted for ever).
        with(r#"{"app_death_probability": 0, "config": {"session_start_timeout_ms": null}}"#)
            .validate()
            .unwrap();
        let e = with(r#"{"config": {"session_start_timeout_ms": null}}"#).validate().unwrap_err();
        assert!(e.to_string().starts_with("app_death_probability must be 0 while"), "{e}");
        assert!(serde_json::from_str::<Profile>(r#"{"push_shares": 0.5}"#).is_err());
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults_and_typos_fail() {
        let p: Profile = serde_json::from_str(r#"{"group_share": 0.5}"#).unwrap();
        assert_eq!(p.group_share, 0.5);
        assert_eq!(p.talk_ms, Profile::default().talk_ms);
        assert!(serde_json::from_str::<Profile>(r#"{"group_shar": 0.5}"#).is_err());
    }
}
