//! Ringing offline devices by push, as data: the rows that say when the switchboard emits a push
//! `ring` or a push `cancel` for one device of a rung user, and the push itself (an output for
//! the embedder to hand to the push service; nothing in the model waits for it).
//!
//! Each (call, device) pair is a small machine: `Unpushed` until the call starts ringing the
//! device's user, then `Pushed` if the device was registered and not connected, and `Settled`
//! once it connected or was told by a push `cancel` that the ringing stopped. The switchboard
//! keeps the `Pushed` ones (a bit per device of each rung party) and asks [`step`] what each
//! event means.

use crate::call::CancelReason;
use crate::ids::{DeviceId, SessionId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a push tells the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "push", content = "reason")]
pub enum PushKind {
    /// Wake the app: a call rings its user.
    Ring,
    /// Dismiss the incoming-call screen: the call stopped ringing the user, for this reason (the
    /// one `incoming_call_cancelled` would have carried on the device).
    Cancel(CancelReason),
}

/// A push the switchboard emits for a device registered for push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Push {
    /// The device to wake or tell.
    pub to: DeviceId,
    /// The call.
    pub session: SessionId,
    /// Ring or cancel.
    pub kind: PushKind,
}

impl fmt::Display for PushKind {
    /// `ring`, or `cancel <reason>` as scenario files write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushKind::Ring => f.write_str("ring"),
            PushKind::Cancel(reason) => {
                let name = crate::CallbackKind::IncomingCallCancelled(*reason).reason_name();
                write!(f, "cancel {}", name.unwrap_or("?"))
            }
        }
    }
}

/// Where one device stands towards pushes for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No push for this call yet.
    Unpushed,
    /// Pushed `ring`; it has not connected since and the ringing has not stopped.
    Pushed,
    /// Done with pushes for this call: never pushed, connected since, or pushed `cancel`.
    Settled,
}

/// What happens to the device's user in the call, or to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The call starts ringing the user (its creation; for a group, each rung member), and the
    /// device is registered for push and not connected.
    RingsOffline,
    /// The call starts ringing the user, and the device is connected or not registered.
    RingsOtherwise,
    /// The device connects (its snapshot rings it, if the call still rings its user).
    Connects,
    /// The call stops ringing the user (accepted, declined, cancelled, unanswered, answered or
    /// declined elsewhere, or ended).
    StopsRinging,
}

/// What the switchboard emits for the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Emit {
    /// Nothing.
    Nothing,
    /// A push `ring`.
    Ring,
    /// A push `cancel` with the reason the device would have got.
    Cancel,
}

/// One row of the push rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The device's state before.
    pub from: State,
    /// The event.
    pub event: Event,
    /// Its state after.
    pub to: State,
    /// What the switchboard emits.
    pub emit: Emit,
}

/// The push rules (contract, "Ringing offline devices by push"). A pair absent from the rows
/// changes nothing and emits nothing: a push `ring` is sent once per call and device, and only
/// when the call starts ringing the user; a device that connected, or was told `cancel`, gets no
/// more pushes for the call.
pub const ROWS: &[Row] = &[
    Row { from: State::Unpushed, event: Event::RingsOffline, to: State::Pushed, emit: Emit::Ring },
    Row { from: State::Unpushed, event: Event::RingsOtherwise, to: State::Settled, emit: Emit::Nothing },
    Row { from: State::Pushed, event: Event::Connects, to: State::Settled, emit: Emit::Nothing },
    Row { from: State::Pushed, event: Event::StopsRinging, to: State::Settled, emit: Emit::Cancel },
];

/// The device's next state and what to emit, read from [`ROWS`].
pub fn step(from: State, event: Event) -> (State, Emit) {
    ROWS.iter().find(|r| r.from == from && r.event == event).map_or((from, Emit::Nothing), |r| (r.to, r.emit))
}

#[cfg(test)]
mod tests {
    use super::{step, Emit, Event, State};

    #[test]
    fn a_device_is_pushed_ring_once_and_cancel_only_if_it_never_connected() {
        // Offline and registered when the call starts ringing: ring.
        assert_eq!(step(State::Unpushed, Event::RingsOffline), (State::Pushed, Emit::Ring));
        // Connected (or unregistered) then: never a push for this call.
        let (s, e) = step(State::Unpushed, Event::RingsOtherwise);
        assert_eq!(e, Emit::Nothing);
        assert_eq!(step(s, Event::StopsRinging), (State::Settled, Emit::Nothing));
        // Pushed, then the ringing stops: cancel, and nothing after.
        assert_eq!(step(State::Pushed, Event::StopsRinging), (State::Settled, Emit::Cancel));
        assert_eq!(step(State::Settled, Event::StopsRinging), (State::Settled, Emit::Nothing));
        // Pushed, then the device connects: the snapshot rings it; no cancel later.
        assert_eq!(step(State::Pushed, Event::Connects), (State::Settled, Emit::Nothing));
        // A second ring start (there is none in the contract) would not push twice.
        assert_eq!(step(State::Pushed, Event::RingsOffline), (State::Pushed, Emit::Nothing));
    }
}
