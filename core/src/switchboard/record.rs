//! One call's record in the switchboard: its machine, its call object and its parties.

use crate::call::{
    CallType, CallView, CallbackKind, CancelReason, EndReason, Part, Reason, Receiver, RejectReason, Status,
};
use crate::ids::{DeviceId, SessionId, UserId};
use crate::lifecycle::{CallMachine, Event, Facts, Role};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// A party of a call: the initiator (always first) or a receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// The user.
    pub user: UserId,
    /// Its part now. The initiator is `joined` from the start.
    pub part: Part,
    /// Whether the call is in this user's audience (it was rung, or it is the initiator).
    pub rung: bool,
    /// The device that accepted or declined for this user, if one did (a later hang-up from
    /// another of the user's devices does not change it).
    pub device: Option<DeviceId>,
    /// Whether the party left because its connection was lost for good (past the reconnect
    /// grace): its device, when it comes back, is told the call ended for it.
    #[serde(default)]
    pub lost: bool,
    /// The device whose request (`end`, or the initiator's cancel or give-up of an accepted call)
    /// made the party leave, when it left that way: the party's other
    /// devices that were in the call are told it ended for them (`call_ended hangup`), as the
    /// other devices of an accept are told it was answered elsewhere.
    #[serde(default)]
    pub left_from: Option<DeviceId>,
    /// Whether the party left because it did not start its media session in time (reason
    /// `no_media`).
    #[serde(default)]
    pub no_media: bool,
    /// Whether the user started its media session (from any device).
    #[serde(default)]
    pub session_started: bool,
    /// When the party's media-session start timeout fires, while it is a participant that has
    /// not started (0: no timeout runs).
    #[serde(default)]
    pub session_due_ms: u64,
    /// Bit `i`: device `i` was pushed `ring` for this call, has not connected since, and has not
    /// been pushed `cancel` (the `Pushed` state of [`crate::push`]).
    #[serde(default)]
    pub pushed: u16,
}

impl Party {
    /// A party with `part`, in the call's audience or not (`rung`), nothing else known yet.
    pub const fn new(user: UserId, part: Part, rung: bool) -> Self {
        Party {
            user,
            part,
            rung,
            device: None,
            lost: false,
            left_from: None,
            no_media: false,
            session_started: false,
            session_due_ms: 0,
            pushed: 0,
        }
    }

    /// Whether the user is involved through this party, in a call that is not terminal
    /// (contract: "its initiator (until it leaves the call), is being rung by it, or has joined
    /// it"): while it rings or is joined. The initiator is joined from the start until it
    /// leaves; one that left a group call that goes on is free.
    pub fn involved(&self) -> bool {
        matches!(self.part, Part::Ringing | Part::Joined)
    }
}

/// The call object but its status, which the machine holds: what [`CallRecord::view`] builds
/// the call object from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallData {
    pub session: SessionId,
    pub initiator: UserId,
    pub receiver: Receiver,
    pub call_type: CallType,
    /// Why the call is terminal, set with its terminal status (from the event that made it).
    pub reason: Option<Reason>,
    pub created_at_ms: u64,
    pub ringing_at_ms: Option<u64>,
    pub accepted_at_ms: Option<u64>,
    pub terminal_at_ms: Option<u64>,
}

/// A call as the switchboard keeps it: in 256 bytes on a 64-byte boundary, four whole cache
/// lines (three before the media session and pushes of contract version 2), with the parties of a one-to-one call inline (a group call's go to the heap), so that
/// handling a message about the call reads no second record at another place
/// (`docs/performance.md`, "Eighth round"). Its status lives in its machine alone.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct CallRecord {
    pub generation: u32,
    pub in_use: bool,
    pub machine: CallMachine,
    pub data: CallData,
    /// `parties[0]` is the initiator; inline for two.
    pub parties: SmallVec<[Party; 2]>,
    /// Whether the receiver is a group (several receivers may join).
    pub group: bool,
    /// The event that made the call terminal, once it is.
    pub terminal_event: Option<Event>,
    pub ring_deadline_ms: u64,
    /// When the call's session timer is set to fire (the earliest `session_due_ms` of its
    /// parties when it was set); 0: not set.
    pub session_deadline_ms: u64,
    pub evict_at_ms: u64,
}

impl CallRecord {
    /// The call's status (a record in use holds a created call).
    pub fn status(&self) -> Status {
        let status = self.machine.status();
        debug_assert!(status.is_some() || !self.in_use, "a call in use is created");
        status.unwrap_or(Status::Initiated)
    }

    /// The call object, built from the machine's status and the record's data.
    pub fn view(&self) -> CallView {
        let d = &self.data;
        let status = self.status();
        CallView {
            session: d.session,
            initiator: d.initiator,
            receiver: d.receiver,
            call_type: d.call_type,
            status,
            reason: d.reason,
            created_at_ms: d.created_at_ms,
            ringing_at_ms: d.ringing_at_ms,
            accepted_at_ms: d.accepted_at_ms,
            terminal_at_ms: d.terminal_at_ms,
        }
    }

    /// What who `index` (a party index, or none) is to this call.
    pub fn role_of(&self, index: Option<usize>) -> Role {
        let Some(index) = index else { return Role::Stranger };
        let party = &self.parties[index];
        match index {
            0 if party.part == Part::Joined => Role::Initiator,
            0 => Role::InitiatorLeft,
            // A member marked busy at initiation "is not rung and not involved" (contract): no
            // part in the call, like a stranger, for answering it.
            _ if self.group && !party.rung => Role::NotRung,
            _ => Role::Receiver(party.part),
        }
    }

    /// The facts about the parties other than `index` that the machine's rules read.
    pub fn facts(&self, index: Option<usize>, joined_elsewhere: bool) -> Facts {
        let session_started = index.is_some_and(|i| self.parties[i].session_started);
        let mut facts = Facts { group: self.group, joined_elsewhere, session_started, ..Facts::default() };
        let mut note = |i: usize, p: &Party| {
            facts.others_joined += usize::from(p.part == Part::Joined);
            facts.others_ringing |= p.part == Part::Ringing;
            facts.others_rejected |= p.part == Part::Rejected;
            facts.others_accepted |= i > 0 && matches!(p.part, Part::Joined | Part::Left);
        };
        match (self.parties.as_slice(), index) {
            // A one-to-one call asked about by one party: the other one is all there is.
            ([_, second], Some(0)) => note(1, second),
            ([first, _], Some(1)) => note(0, first),
            (parties, _) => {
                for (i, p) in parties.iter().enumerate().filter(|&(i, _)| Some(i) != index) {
                    note(i, p);
                }
            }
        }
        facts
    }

    pub fn party_index(&self, user: UserId) -> Option<usize> {
        self.parties.iter().position(|p| p.user == user)
    }

    /// The callback (if any) that the call as it is now means for `device`, a device of party
    /// `index`, in a live notification (snapshots use [`CallRecord::snapshot_notice_for`]). The
    /// client raises each callback at most once.
    pub fn notice_for(&self, index: usize, device: DeviceId) -> Option<CallbackKind> {
        if index == 0 {
            self.initiator_notice(device)
        } else {
            self.receiver_notice(&self.parties[index], device)
        }
    }

    /// Like [`CallRecord::notice_for`], for a reconnect snapshot. The one difference: the device
    /// from which the initiator hung up is told nothing live (it got its answer); if it comes
    /// back, the snapshot gives it the accept, which it raises only if it missed it.
    pub fn snapshot_notice_for(&self, index: usize, device: DeviceId) -> Option<CallbackKind> {
        let initiator = &self.parties[0];
        if index == 0
            && initiator.part == Part::Left
            && !initiator.lost
            && initiator.left_from == Some(device)
        {
            debug_assert!(self.data.accepted_at_ms.is_some(), "the initiator leaves only an accepted call");
            return Some(CallbackKind::OutgoingCallAccepted);
        }
        self.notice_for(index, device)
    }

    /// What a party that hung up means for `device`, one of its devices in the call: nothing
    /// for the device that hung up (it got its answer), `call_ended hangup` for the others.
    fn hung_up_elsewhere(party: &Party, device: DeviceId) -> Option<CallbackKind> {
        match party.left_from {
            Some(from) if from != device => Some(CallbackKind::CallEnded(EndReason::Hangup)),
            _ => None,
        }
    }

    fn end_reason(&self) -> EndReason {
        match self.terminal_event {
            Some(Event::PartyLost) => EndReason::ConnectionLost,
            Some(Event::SessionTimeout) => EndReason::NoMedia,
            _ => EndReason::Hangup,
        }
    }

    fn initiator_notice(&self, device: DeviceId) -> Option<CallbackKind> {
        let initiator = &self.parties[0];
        let left = initiator.part == Part::Left;
        match self.status() {
            Status::Initiated | Status::Cancelled => None,
            Status::Ringing => Some(CallbackKind::OutgoingCallRinging),
            Status::Accepted | Status::Ended if left && initiator.lost => {
                Some(CallbackKind::CallEnded(EndReason::ConnectionLost))
            }
            Status::Accepted | Status::Ended if left && initiator.no_media => {
                Some(CallbackKind::CallEnded(EndReason::NoMedia))
            }
            Status::Accepted if left => Self::hung_up_elsewhere(initiator, device),
            Status::Accepted => Some(CallbackKind::OutgoingCallAccepted),
            Status::Rejected => Some(CallbackKind::OutgoingCallRejected(RejectReason::Rejected)),
            Status::Busy => Some(CallbackKind::OutgoingCallRejected(RejectReason::Busy)),
            Status::Unanswered if self.terminal_event == Some(Event::GiveUp) => None,
            Status::Unanswered => Some(CallbackKind::OutgoingCallRejected(RejectReason::Unanswered)),
            Status::Ended if left => Self::hung_up_elsewhere(initiator, device),
            Status::Ended => Some(CallbackKind::CallEnded(self.end_reason())),
        }
    }

    fn receiver_notice(&self, party: &Party, device: DeviceId) -> Option<CallbackKind> {
        let mine = party.device == Some(device);
        let cancelled = |reason| Some(CallbackKind::IncomingCallCancelled(reason));
        match party.part {
            Part::Ringing => match self.status() {
                Status::Initiated | Status::Ringing | Status::Accepted => {
                    Some(CallbackKind::IncomingCallReceived)
                }
                Status::Cancelled if self.terminal_event == Some(Event::InitiatorLost) => {
                    cancelled(CancelReason::ConnectionLost)
                }
                Status::Cancelled | Status::Ended => cancelled(CancelReason::Cancelled),
                Status::Unanswered => cancelled(CancelReason::Unanswered),
                Status::Rejected | Status::Busy => cancelled(CancelReason::DeclinedElsewhere),
            },
            Part::NotReached => cancelled(CancelReason::Unanswered),
            Part::Joined if mine && self.status() == Status::Ended => {
                Some(CallbackKind::CallEnded(self.end_reason()))
            }
            Part::Left if mine && party.lost => Some(CallbackKind::CallEnded(EndReason::ConnectionLost)),
            Part::Left if mine && party.no_media => Some(CallbackKind::CallEnded(EndReason::NoMedia)),
            Part::Left if mine => Self::hung_up_elsewhere(party, device),
            Part::Joined if mine => None,
            Part::Joined | Part::Left => cancelled(CancelReason::AnsweredElsewhere),
            Part::Rejected | Part::Busy if mine => None,
            Part::Rejected | Part::Busy => cancelled(CancelReason::DeclinedElsewhere),
        }
    }
}

/// The reason a terminal event gives the call object, by the status it led to: an `ended` call
/// was hung up (the initiator's cancel or give-up of an accepted call included) unless a party's
/// connection was lost for good.
pub(crate) fn reason_of(event: Event, to: Status) -> Reason {
    debug_assert!(to.is_terminal(), "only a terminal status has a reason");
    match (to, event) {
        (Status::Ended, Event::PartyLost) => Reason::ConnectionLost,
        (Status::Ended, Event::SessionTimeout) => Reason::NoMedia,
        (Status::Ended, _) => Reason::Hangup,
        (_, Event::Reject | Event::AllDeclined) => Reason::Rejected,
        (_, Event::RejectBusy | Event::ReceiverBusy | Event::AllDeclinedBusy) => Reason::Busy,
        (_, Event::Cancel) => Reason::Cancelled,
        (_, Event::GiveUp | Event::RingTimeout) => Reason::Unanswered,
        (_, Event::InitiatorLost | Event::PartyLost) => Reason::ConnectionLost,
        (
            _,
            Event::End
            | Event::Ack
            | Event::Accept
            | Event::Create
            | Event::StartSession
            | Event::SessionTimeout,
        ) => {
            debug_assert!(false, "{event:?} leads to no terminal status but ended");
            Reason::Hangup
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CallRecord;
    use crate::switchboard::users::UserRecord;

    #[test]
    fn records_fill_whole_cache_lines() {
        // Four cache lines: 192 bytes (three) before the media session and push state of each
        // party (contract version 2) and the call's session timer.
        assert_eq!((std::mem::size_of::<CallRecord>(), std::mem::align_of::<CallRecord>()), (256, 64));
        assert_eq!((std::mem::size_of::<UserRecord>(), std::mem::align_of::<UserRecord>()), (128, 128));
        // A device's record: its connection token, its newest request id, and up to four
        // remembered answers inline (more go to the heap). 80 bytes before contract version 2
        // (a fixed window of four answers, no token).
        assert_eq!(std::mem::size_of::<crate::switchboard::users::DeviceRecord>(), 88);
    }
}
