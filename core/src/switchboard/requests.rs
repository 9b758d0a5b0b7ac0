//! Judging requests: rights first, then the call's status, then acting and notifying.

use super::record::{CallData, CallRecord};
use super::users::Seen;
use super::{Output, Party, Switchboard, Timer};
use crate::call::{CallType, Part, Receiver};
use crate::config::{CALLS_PER_USER_MAX, RING_TIMEOUT_MS_MAX};
use crate::error::{ErrorCode, SwitchboardError};
use crate::ids::{DeviceId, RequestId, SessionId, UserId};
use crate::lifecycle::{Effect, Event};
use crate::message::{RejectStatus, Request};

/// A request's outcome as remembered for a repeat: the call (none for a push registration), or
/// the error code.
type Answer = Result<Option<SessionId>, ErrorCode>;

impl Switchboard {
    pub(super) fn handle_request(
        &mut self,
        from: DeviceId,
        id: RequestId,
        request: Request,
        answered_below: RequestId,
    ) -> Result<(), SwitchboardError> {
        let device = self.device_mut(from);
        // A device never says it is done with the request it is sending.
        device.release(answered_below.min(id));
        let seen = device.seen(id);
        match seen {
            Seen::Stale => Err(self.drop_input(SwitchboardError::StaleRequest { device: from, request: id })),
            #[cfg(feature = "plant")]
            Seen::Repeat(_) if crate::plant::on(crate::plant::Plant::DedupMissing) => {
                self.stats.requests += 1;
                let _ = self.act(from, id, request);
                Ok(())
            }
            Seen::Repeat(result) => {
                self.stats.repeats += 1;
                let result = result.and_then(|s| match s {
                    Some(s) => {
                        self.record(s).map(|r| Some(CallRecord::view(r))).ok_or(ErrorCode::CallNotFound)
                    }
                    None => Ok(None),
                });
                self.outputs.push_back(Output::Send {
                    to: from,
                    msg: crate::message::ServerMsg::Answer { id, result },
                });
                Ok(())
            }
            Seen::New => {
                self.stats.requests += 1;
                let answer = self.act(from, id, request);
                if self.device_mut(from).remember(id, answer) {
                    self.stats.answers_forgotten += 1;
                }
                Ok(())
            }
        }
    }

    /// Judges and carries out one new request; answers it and returns the answer to remember.
    fn act(&mut self, from: DeviceId, id: RequestId, request: Request) -> Answer {
        let outcome = match request {
            Request::Initiate { to, call_type, ring_timeout_ms } => {
                self.initiate(from, id, to, call_type, ring_timeout_ms)
            }
            Request::Accept { session } => self.accept(from, id, session),
            Request::Reject { session, status } => self.reject(from, id, session, status),
            Request::End { session } => self.end(from, id, session),
            Request::StartSession { session } => self.start_session(from, id, session),
            Request::RegisterPush | Request::UnregisterPush => {
                let registered = request == Request::RegisterPush;
                let set = self.set_push_registration(from, registered);
                debug_assert!(set.is_ok(), "a connected device is a known one: {set:?}");
                self.answer(from, id, Ok(None));
                Ok(None)
            }
        };
        if let Err(code) = outcome {
            self.answer(from, id, Err(code));
        }
        outcome
    }

    /// Answers `id` with the call in `slot` (success) and returns its session.
    fn succeed(&mut self, from: DeviceId, id: RequestId, slot: usize) -> Answer {
        let view = self.calls[slot].view();
        self.answer(from, id, Ok(Some(view)));
        Ok(Some(view.session))
    }

    /// The call and the requester's party index in it; `call_not_found` when there is no call.
    fn find(&self, session: SessionId, user: UserId) -> Result<(usize, Option<usize>), ErrorCode> {
        let slot = self.slot_of(session).ok_or(ErrorCode::CallNotFound)?;
        Ok((slot, self.calls[slot].party_index(user)))
    }

    fn check_receiver(&self, from: UserId, to: Receiver) -> Result<(), ErrorCode> {
        match to {
            Receiver::User(user) if user == from || !self.is_user(user) => Err(ErrorCode::InvalidReceiver),
            Receiver::User(_) => Ok(()),
            Receiver::Group(group) => match self.group_members(group) {
                None => Err(ErrorCode::InvalidReceiver),
                Some(members) if !members.contains(&from) => Err(ErrorCode::NotAMember),
                Some(_) => Ok(()),
            },
        }
    }

    /// Whether a receiver can be rung now, or is busy.
    fn can_ring(&self, user: UserId) -> bool {
        #[cfg(feature = "plant")]
        if crate::plant::on(crate::plant::Plant::BusySkipped) {
            return true;
        }
        let count = self.involvement_count(user);
        count == 0 || self.config.call_waiting && count < CALLS_PER_USER_MAX
    }

    fn initiate(
        &mut self,
        from: DeviceId,
        id: RequestId,
        to: Receiver,
        call_type: CallType,
        ring_timeout_ms: Option<u64>,
    ) -> Answer {
        self.check_receiver(from.user, to)?;
        if self.involvement_count(from.user) > 0 {
            return Err(ErrorCode::AlreadyInCall);
        }
        let now_ms = self.now_ms;
        let slot = self.allocate(CallData {
            session: SessionId(0),
            initiator: from.user,
            receiver: to,
            call_type,
            reason: None,
            created_at_ms: now_ms,
            ringing_at_ms: None,
            accepted_at_ms: None,
            terminal_at_ms: None,
        });
        self.seat_parties(slot, from.user, to);
        self.stats.created += 1;
        // The machine creates the call: `initiated` when a receiver rings, else `busy` at once.
        let created = self.judge(slot, Event::Create, Some(0), Some(from.user), false);
        debug_assert!(created.is_ok(), "the initiator creates its call: {created:?}");
        let answer = self.succeed(from, id, slot);
        if let Ok((Effect::Ring, _)) = created {
            let timeout_ms =
                ring_timeout_ms.unwrap_or(self.config.ring_timeout_ms).clamp(1, RING_TIMEOUT_MS_MAX);
            let at_ms = now_ms.saturating_add(timeout_ms);
            self.calls[slot].ring_deadline_ms = at_ms;
            let session = self.calls[slot].data.session;
            self.outputs.push_back(Output::SetTimer { timer: Timer::Ring(session), at_ms });
        }
        self.enlist_audience(slot);
        self.notify_audience(slot, Some(from));
        self.push_rings(slot);
        answer
    }

    /// Fills the parties of a new call: the initiator, then each receiver rung or busy.
    fn seat_parties(&mut self, slot: usize, initiator: UserId, to: Receiver) {
        let mut parties = std::mem::take(&mut self.calls[slot].parties);
        debug_assert!(parties.is_empty());
        parties.push(Party::new(initiator, Part::Joined, true));
        let mut seat = |user: UserId, this: &Self| {
            let rung = this.can_ring(user);
            let part = if rung { Part::Ringing } else { Part::Busy };
            parties.push(Party::new(user, part, rung));
        };
        match to {
            Receiver::User(user) => seat(user, self),
            Receiver::Group(group) => {
                for &member in &self.groups[group.0 as usize] {
                    if member != initiator {
                        seat(member, self);
                    }
                }
            }
        }
        self.calls[slot].group = matches!(to, Receiver::Group(_));
        self.calls[slot].parties = parties;
    }

    fn accept(&mut self, from: DeviceId, id: RequestId, session: SessionId) -> Answer {
        let (slot, index) = self.find(session, from.user)?;
        let elsewhere = self.involved_elsewhere(from.user, Some(session), true);
        let (effect, changed) = self.judge(slot, Event::Accept, index, Some(from.user), elsewhere)?;
        let index = index.expect("the machine lets only a party accept");
        debug_assert_eq!(effect, Effect::Join);
        let party = &mut self.calls[slot].parties[index];
        party.part = Part::Joined;
        party.device = Some(from);
        if changed {
            // The accept made the call accepted: the initiator's start timeout runs from now too.
            self.start_session_timer(slot, 0);
        }
        #[cfg(feature = "plant")]
        let planted = crate::plant::on(crate::plant::Plant::SessionTimerSkipped);
        #[cfg(not(feature = "plant"))]
        let planted = false;
        if !planted {
            self.start_session_timer(slot, index);
        }
        let answer = self.succeed(from, id, slot);
        if changed {
            self.notify_audience(slot, Some(from));
        } else {
            self.notify_party(slot, index, Some(from));
        }
        if self.config.call_waiting {
            self.busy_other_rings(from.user, session);
        }
        answer
    }

    /// Call waiting: accepting one call ends the user's other ringing calls with busy.
    fn busy_other_rings(&mut self, user: UserId, accepted: SessionId) {
        let calls = self.user_calls(user);
        let mut list = [SessionId(0); CALLS_PER_USER_MAX];
        list[..calls.len()].copy_from_slice(calls);
        for &session in &list[..calls.len()] {
            if session == accepted || !self.involves(session, user) {
                continue;
            }
            let Some(slot) = self.slot_of(session) else { continue };
            let index = self.calls[slot].party_index(user).expect("involved user is a party");
            if index > 0 && self.calls[slot].parties[index].part == Part::Ringing {
                let declined = self.decline(slot, Some(index), RejectStatus::Busy, None);
                debug_assert!(declined.is_ok(), "a ringing receiver can decline: {declined:?}");
            }
        }
    }

    fn reject(&mut self, from: DeviceId, id: RequestId, session: SessionId, status: RejectStatus) -> Answer {
        let (slot, index) = self.find(session, from.user)?;
        if matches!(status, RejectStatus::Rejected | RejectStatus::Busy) {
            self.decline(slot, index, status, Some(from))?;
            return self.succeed(from, id, slot);
        }
        let event = if status == RejectStatus::Cancelled { Event::Cancel } else { Event::GiveUp };
        match self.judge(slot, event, index, Some(from.user), false)? {
            // It crossed the accept: the initiator's leave, as its `end` would be.
            (Effect::Leave, ended) => {
                self.leave(slot, 0, Some(from), ended);
                self.succeed(from, id, slot)
            }
            _ => {
                let answer = self.succeed(from, id, slot);
                self.notify_audience(slot, Some(from));
                answer
            }
        }
    }

    /// Party `index` (none: a user who is no party) declines with `status` (rejected or busy),
    /// from device `from` (none: its accept of another call, with call waiting). The machine
    /// decides whether it may and whether the call ends.
    fn decline(
        &mut self,
        slot: usize,
        index: Option<usize>,
        status: RejectStatus,
        from: Option<DeviceId>,
    ) -> Result<(), ErrorCode> {
        let event = if status == RejectStatus::Busy { Event::RejectBusy } else { Event::Reject };
        let (effect, changed) = self.judge(slot, event, index, from.map(|d| d.user), false)?;
        debug_assert_eq!(effect, Effect::Decline);
        let index = index.expect("the machine lets only a receiver decline");
        let part = if status == RejectStatus::Busy { Part::Busy } else { Part::Rejected };
        let record = &mut self.calls[slot];
        record.parties[index].part = part;
        if from.is_some() {
            record.parties[index].device = from;
        }
        if changed {
            self.notify_audience(slot, from);
        } else {
            self.notify_party(slot, index, from);
        }
        Ok(())
    }

    /// A participant starts its media session (its user's, from any of its devices): its start
    /// timeout no longer runs. Nobody else is told.
    fn start_session(&mut self, from: DeviceId, id: RequestId, session: SessionId) -> Answer {
        let (slot, index) = self.find(session, from.user)?;
        let (effect, _) = self.judge(slot, Event::StartSession, index, Some(from.user), false)?;
        debug_assert_eq!(effect, Effect::StartSession);
        let party = &mut self.calls[slot].parties[index.expect("the machine lets only a participant start")];
        party.session_started = true;
        party.session_due_ms = 0;
        self.settle_session_timer(slot);
        self.succeed(from, id, slot)
    }

    fn end(&mut self, from: DeviceId, id: RequestId, session: SessionId) -> Answer {
        let (slot, index) = self.find(session, from.user)?;
        let (effect, ended) = self.judge(slot, Event::End, index, Some(from.user), false)?;
        debug_assert_eq!(effect, Effect::Leave);
        // `device` stays the one that accepted: a user may hang up from another of its
        // devices, and the one in the call must not then read the end as answered elsewhere.
        self.leave(slot, index.expect("the machine lets only a participant end"), Some(from), ended);
        self.succeed(from, id, slot)
    }
}
