//! A small world to explore: the cast, the settings, what each user may do and how many
//! faults may strike. Everything is bounded: the world's own limits are checked before a search.

use callcore::{Config, GroupId, Receiver, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Users a world may have.
pub const USERS_MAX: usize = 4;
/// Devices a user of a world may have.
pub const DEVICES_MAX: u16 = 3;
/// Commands a user of a world may issue.
pub const COMMANDS_MAX: u8 = 4;
/// Disconnects a world may have (each may be followed by a reconnect).
pub const DISCONNECTS_MAX: u8 = 3;
/// The longest latency a world may give a message, ms.
pub const LATENCY_MS_MAX: u64 = 20;
/// The longest timer a world may set, ms.
pub const TIMER_MS_MAX: u64 = 100;

/// One command of a user's alphabet; a command about a call is issued for each call the
/// device sees as live that fits the user's role in it (the initiator cancels or ends, a
/// receiver accepts, declines or ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmd {
    /// Call this user (by index) or group.
    Initiate(Receiver),
    /// Accept a call that rings the user.
    Accept,
    /// Decline (reject, status rejected) a call that rings the user.
    Decline,
    /// Cancel the user's own call.
    Cancel,
    /// End (leave) a call.
    End,
    /// Start the media session of an accepted call (contract version 2).
    StartSession,
}

/// A user of the world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserPlan {
    /// Its devices, all connected at the start.
    pub devices: u16,
    /// The commands it may issue, on any of its connected devices, in any order.
    pub alphabet: Vec<Cmd>,
    /// How many commands it issues at most.
    pub commands_max: u8,
    /// Whether its devices are registered for push from the start (contract version 2).
    pub push: bool,
}

/// A world: the cast, the settings, the script alphabet and the faults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct World {
    /// A short name (for reports).
    pub name: String,
    /// The users, ids 0, 1, ...
    pub users: Vec<UserPlan>,
    /// The groups, ids 0, 1, ...: member user indexes.
    pub groups: Vec<Vec<u32>>,
    /// The call semantics' settings (small timers keep the state space small).
    pub config: Config,
    /// The shortest one-way latency of a message, ms (at least 1).
    pub latency_ms_min: u64,
    /// The longest one-way latency of a message, ms.
    pub latency_ms_max: u64,
    /// Disconnects of any device, in total (a disconnected device may reconnect once each).
    pub disconnects_max: u8,
}

/// A world the checker refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadWorld(pub String);

impl fmt::Display for BadWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad world: {}", self.0)
    }
}

impl std::error::Error for BadWorld {}

impl World {
    /// The explore settings: every timer a few ms, so that a run is a few dozen ms long. No
    /// media session timeout: the worlds whose scripts start no session leave it off (as a
    /// format-1 scenario does); the media worlds set it ([`World::named`]).
    pub fn small_config(call_waiting: bool) -> Config {
        Config {
            ring_timeout_ms: 6,
            reconnect_grace_ms: 3,
            request_timeout_ms: 5,
            call_waiting,
            call_retention_ms: 4,
            session_start_timeout_ms: None,
        }
    }

    /// Checks the world's limits (no panic, no unbounded search on a bad world).
    pub fn validate(&self) -> Result<(), BadWorld> {
        let bad = |s: &str| Err(BadWorld(s.to_owned()));
        if self.users.len() < 2 || self.users.len() > USERS_MAX {
            return bad("a world has 2 to USERS_MAX (4) users");
        }
        if self.users.iter().any(|u| u.devices == 0 || u.devices > DEVICES_MAX) {
            return bad("a user has 1 to DEVICES_MAX (3) devices");
        }
        if self.users.iter().any(|u| u.commands_max > COMMANDS_MAX) {
            return bad("a user issues at most COMMANDS_MAX (4) commands");
        }
        if self.disconnects_max > DISCONNECTS_MAX {
            return bad("at most DISCONNECTS_MAX (3) disconnects");
        }
        if self.latency_ms_min == 0 || self.latency_ms_min > self.latency_ms_max {
            return bad("latency: 1 <= min <= max");
        }
        if self.latency_ms_max > LATENCY_MS_MAX {
            return bad("latency above LATENCY_MS_MAX (20 ms)");
        }
        let c = &self.config;
        let session = c.session_start_timeout_ms.unwrap_or(1);
        let timers =
            [c.ring_timeout_ms, c.reconnect_grace_ms, c.request_timeout_ms, c.call_retention_ms, session];
        if timers.iter().any(|&t| t == 0 || t > TIMER_MS_MAX) {
            return bad("every timer between 1 and TIMER_MS_MAX (100 ms)");
        }
        let n = self.users.len() as u32;
        for g in &self.groups {
            if g.iter().any(|&m| m >= n) {
                return bad("a group member is not a user");
            }
        }
        for u in &self.users {
            for cmd in &u.alphabet {
                match cmd {
                    Cmd::Initiate(Receiver::User(UserId(k))) if *k >= n => {
                        return bad("calls an unknown user")
                    }
                    Cmd::Initiate(Receiver::Group(GroupId(g))) if *g as usize >= self.groups.len() => {
                        return bad("calls an unknown group")
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Device count of the world.
    pub fn device_count(&self) -> usize {
        self.users.iter().map(|u| usize::from(u.devices)).sum()
    }

    /// The named worlds of the command line and the docs.
    pub fn named(name: &str) -> Option<World> {
        let receiver = |k| Cmd::Initiate(Receiver::User(UserId(k)));
        let group = Cmd::Initiate(Receiver::Group(GroupId(0)));
        let caller = |to: Cmd, n| UserPlan {
            devices: 1,
            alphabet: vec![to, Cmd::Cancel, Cmd::End],
            commands_max: n,
            push: false,
        };
        let callee = |d, n| UserPlan {
            devices: d,
            alphabet: vec![Cmd::Accept, Cmd::Decline, Cmd::End],
            commands_max: n,
            push: false,
        };
        let world = |name: &str, users, groups, waiting, disconnects| World {
            name: name.to_owned(),
            users,
            groups,
            config: World::small_config(waiting),
            latency_ms_min: 1,
            latency_ms_max: 1,
            disconnects_max: disconnects,
        };
        let member = |n| UserPlan {
            devices: 1,
            alphabet: vec![group, Cmd::Accept, Cmd::Decline, Cmd::Cancel, Cmd::End],
            commands_max: n,
            push: false,
        };
        // Contract version 2: a caller and a callee who may start their media sessions (or
        // not) with a 4 ms start timeout; the callee's devices registered for push.
        let media_caller = |to: Cmd, n| UserPlan {
            devices: 1,
            alphabet: vec![to, Cmd::StartSession, Cmd::End],
            commands_max: n,
            push: false,
        };
        let media_callee = |d, n, push| UserPlan {
            devices: d,
            alphabet: vec![Cmd::Accept, Cmd::StartSession, Cmd::End],
            commands_max: n,
            push,
        };
        let with_media = |mut w: World| {
            w.config.session_start_timeout_ms = Some(4);
            w
        };
        Some(match name {
            // The command line's default: one call, one answer, one disconnect.
            "default" => world("default", vec![caller(receiver(1), 1), callee(1, 1)], vec![], false, 1),
            // A call the caller may also cancel or end, one answer, one disconnect.
            "cancel-drop" => {
                world("cancel-drop", vec![caller(receiver(1), 2), callee(1, 1)], vec![], false, 1)
            }
            // Two users with two devices each, one disconnect.
            "pair-2x2" => world("pair-2x2", vec![caller(receiver(1), 2), callee(2, 1)], vec![], false, 1),
            // Three users, one device each, a group of the three.
            "group-3" => {
                world("group-3", vec![member(2), member(1), member(1)], vec![vec![0, 1, 2]], false, 0)
            }
            // Three users; two call the third, who has call waiting.
            "waiting-3" => world(
                "waiting-3",
                vec![caller(receiver(2), 1), caller(receiver(2), 1), callee(1, 1)],
                vec![],
                true,
                0,
            ),
            // As `waiting-3` without call waiting: the second caller finds the third busy.
            "busy-3" => world(
                "busy-3",
                vec![caller(receiver(2), 1), caller(receiver(2), 1), callee(1, 1)],
                vec![],
                false,
                0,
            ),
            // One call, one answer, no fault: the smallest world (tests).
            "one-call" => world("one-call", vec![caller(receiver(1), 1), callee(1, 1)], vec![], false, 0),
            // The caller may also cancel or end: two commands against one.
            "two-commands" => {
                world("two-commands", vec![caller(receiver(1), 2), callee(1, 1)], vec![], false, 0)
            }
            // One call, no answer, one disconnect of either device.
            "one-drop" => world("one-drop", vec![caller(receiver(1), 1), callee(1, 0)], vec![], false, 1),
            // Contract version 2: one call, each party may start its media session (or not, and
            // leave with no_media) and end; no fault.
            "media" => with_media(world(
                "media",
                vec![media_caller(receiver(1), 2), media_callee(1, 2, false)],
                vec![],
                false,
                0,
            )),
            // Contract version 2: the callee has two devices registered for push, one disconnect
            // (a device offline when the call comes is pushed; its connection or the end of the
            // ringing settles the push); sessions as in `media`.
            "push" => with_media(world(
                "push",
                vec![media_caller(receiver(1), 1), media_callee(2, 2, true)],
                vec![],
                false,
                1,
            )),
            _ => return None,
        })
    }

    /// The names [`World::named`] knows.
    pub const NAMES: [&'static str; 11] = [
        "default",
        "one-call",
        "two-commands",
        "one-drop",
        "cancel-drop",
        "pair-2x2",
        "group-3",
        "waiting-3",
        "busy-3",
        "media",
        "push",
    ];
}
