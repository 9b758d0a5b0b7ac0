//! Judging requests: rights first, then the call's status, then acting and notifying.

use super::users::Seen;
use super::{Output, Party, StatusChange, Switchboard, Timer};
use crate::call::{CallType, CallView, Part, Receiver, Status};
use crate::config::{CALLS_PER_USER_MAX, RING_TIMEOUT_MS_MAX};
use crate::error::{ErrorCode, SwitchboardError};
use crate::ids::{DeviceId, RequestId, SessionId, UserId};
use crate::lifecycle::Event;
use crate::message::{RejectStatus, Request};

type Answer = Result<SessionId, ErrorCode>;

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
            Seen::Repeat(result) => {
                self.stats.repeats += 1;
                let result =
                    result.and_then(|s| self.record(s).map(|r| r.view).ok_or(ErrorCode::CallNotFound));
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
        };
        if let Err(code) = outcome {
            self.answer(from, id, Err(code));
        }
        outcome
    }

    /// Answers `id` with the call in `slot` (success) and returns its session.
    fn succeed(&mut self, from: DeviceId, id: RequestId, slot: usize) -> Answer {
        let view = self.calls[slot].view;
        self.answer(from, id, Ok(view));
        Ok(view.session)
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
        let slot = self.allocate(CallView {
            session: SessionId(0),
            initiator: from.user,
            receiver: to,
            call_type,
            status: Status::Initiated,
            reason: None,
            created_at_ms: now_ms,
            ringing_at_ms: None,
            accepted_at_ms: None,
            terminal_at_ms: None,
        });
        self.seat_parties(slot, from.user, to);
        let session = self.calls[slot].view.session;
        self.stats.created += 1;
        let answer = if self.calls[slot].anyone_ringing() {
            self.outputs.push_back(Output::Status(StatusChange {
                session,
                from: None,
                to: Status::Initiated,
                event: None,
                by: Some(from.user),
                at_ms: now_ms,
            }));
            let answer = self.succeed(from, id, slot);
            let timeout_ms =
                ring_timeout_ms.unwrap_or(self.config.ring_timeout_ms).clamp(1, RING_TIMEOUT_MS_MAX);
            let at_ms = now_ms.saturating_add(timeout_ms);
            self.calls[slot].ring_deadline_ms = at_ms;
            self.outputs.push_back(Output::SetTimer { timer: Timer::Ring(session), at_ms });
            answer
        } else {
            // Straight into `busy`: one status change, from none.
            let allowed = self.apply_as(slot, Event::ReceiverBusy, Some(from.user), true);
            debug_assert!(allowed, "a new call can be busy");
            // The answer carries the call as it is now: busy already.
            self.succeed(from, id, slot)
        };
        self.enlist_audience(slot);
        self.notify_audience(slot, Some(from));
        answer
    }

    /// Fills the parties of a new call: the initiator, then each receiver rung or busy.
    fn seat_parties(&mut self, slot: usize, initiator: UserId, to: Receiver) {
        let mut parties = std::mem::take(&mut self.calls[slot].parties);
        debug_assert!(parties.is_empty());
        parties.push(Party {
            user: initiator,
            part: Part::Joined,
            rung: true,
            device: None,
            lost: false,
            left_from: None,
        });
        let mut seat = |user: UserId, this: &Self| {
            let rung = this.can_ring(user);
            let part = if rung { Part::Ringing } else { Part::Busy };
            parties.push(Party { user, part, rung, device: None, lost: false, left_from: None });
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
        let index = index.filter(|&i| self.calls[slot].is_receiver(i)).ok_or(ErrorCode::NotAllowed)?;
        let record = &self.calls[slot];
        if record.view.status.is_terminal() || record.parties[index].part != Part::Ringing {
            return Err(ErrorCode::InvalidState);
        }
        if self.involved_elsewhere(from.user, Some(session), true) {
            return Err(ErrorCode::AlreadyInCall);
        }
        let before = record.view.status;
        let allowed = self.apply(slot, Event::Accept, Some(from.user));
        debug_assert!(allowed, "a ringing party can accept");
        let party = &mut self.calls[slot].parties[index];
        party.part = Part::Joined;
        party.device = Some(from);
        let answer = self.succeed(from, id, slot);
        if before == self.calls[slot].view.status {
            self.notify_party(slot, index, Some(from));
        } else {
            self.notify_audience(slot, Some(from));
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
                self.decline(slot, index, Part::Busy, None);
            }
        }
    }

    fn reject(&mut self, from: DeviceId, id: RequestId, session: SessionId, status: RejectStatus) -> Answer {
        let (slot, index) = self.find(session, from.user)?;
        let index = index.ok_or(ErrorCode::NotAllowed)?;
        let by_initiator = matches!(status, RejectStatus::Cancelled | RejectStatus::Unanswered);
        let allowed = if by_initiator { index == 0 } else { self.calls[slot].is_receiver(index) };
        if !allowed {
            return Err(ErrorCode::NotAllowed);
        }
        let record = &self.calls[slot];
        if by_initiator {
            let event = if status == RejectStatus::Cancelled { Event::Cancel } else { Event::GiveUp };
            if record.view.status == Status::Accepted {
                // It crossed the accept: the initiator's leave, checked and carried out as its
                // `end` would be.
                return self.hang_up(from, id, slot, index, event);
            }
            if !self.apply(slot, event, Some(from.user)) {
                return Err(ErrorCode::InvalidState);
            }
            let answer = self.succeed(from, id, slot);
            self.notify_audience(slot, Some(from));
            return answer;
        }
        if record.view.status.is_terminal() || record.parties[index].part != Part::Ringing {
            return Err(ErrorCode::InvalidState);
        }
        let part = if status == RejectStatus::Busy { Part::Busy } else { Part::Rejected };
        self.calls[slot].parties[index].device = Some(from);
        self.decline(slot, index, part, Some(from.user));
        self.succeed(from, id, slot)
    }

    /// Receiver `index` stops ringing with `part` (rejected or busy). A one-to-one call, or a
    /// group call nobody accepted and nobody still rings for, becomes terminal.
    fn decline(&mut self, slot: usize, index: usize, part: Part, by: Option<UserId>) {
        let record = &mut self.calls[slot];
        record.parties[index].part = part;
        let skip = by.and(record.parties[index].device);
        let event = match (record.group, part) {
            (false, Part::Busy) => Some(Event::RejectBusy),
            (false, _) => Some(Event::Reject),
            (true, _) if record.anyone_ringing() || record.anyone_accepted() => None,
            (true, _) if record.anyone_rejected() => Some(Event::AllDeclined),
            (true, _) => Some(Event::AllDeclinedBusy),
        };
        match event {
            Some(event) => {
                let allowed = self.apply(slot, event, by);
                debug_assert!(allowed, "an alerting call can be declined");
                self.notify_audience(slot, skip);
            }
            None => self.notify_party(slot, index, skip),
        }
    }

    fn end(&mut self, from: DeviceId, id: RequestId, session: SessionId) -> Answer {
        let (slot, index) = self.find(session, from.user)?;
        let index = index.ok_or(ErrorCode::NotAllowed)?;
        self.hang_up(from, id, slot, index, Event::End)
    }

    /// Party `index` leaves the call in `slot` from device `from`: its `end`, or the initiator's
    /// cancel or give-up of an accepted call (`event`).
    fn hang_up(&mut self, from: DeviceId, id: RequestId, slot: usize, index: usize, event: Event) -> Answer {
        let record = &self.calls[slot];
        let part = record.parties[index].part;
        // Once a call is accepted its participants are the initiator and every receiver who
        // accepted (the contract's group rule), until they leave ("`end` by a participant means
        // that participant leaves"): anyone else ending it, one who left included, is a
        // non-participant. In a group call that holds "whatever the call's status is by then":
        // also once it has ended.
        let accepted_group = record.group && record.view.accepted_at_ms.is_some();
        if (record.view.status == Status::Accepted || accepted_group) && part != Part::Joined {
            return Err(ErrorCode::NotAllowed);
        }
        if record.view.status != Status::Accepted {
            return Err(ErrorCode::InvalidState);
        }
        // `device` stays the one that accepted: a user may hang up from another of its
        // devices, and the one in the call must not then read the end as answered elsewhere.
        self.leave(slot, index, Some(from), event);
        self.succeed(from, id, slot)
    }
}
