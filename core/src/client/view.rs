//! The device's view of its calls: one record per call, where the call stands on this device
//! ([`Stage`]), and the callbacks it raises. Every callback is admitted or refused by one
//! function, [`Client::admit`], from the callback grammar ([`crate::grammar`]).

use super::{bump, Client, Output, CLIENT_CALLS_MAX, FORGOTTEN_MAX};
use crate::call::{CallView, Callback, CallbackKind, CancelReason, EndReason, Receiver, Status};
use crate::error::ClientError;
use crate::grammar::{self, Class, Refusal, Role, State};
use crate::ids::SessionId;
use crate::message::{ClientMsg, Notice, Request};

/// One call as this device knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LocalCall {
    pub(super) view: CallView,
    /// The role of this device's user in the call, fixed when the device first learns of it.
    pub(super) role: Role,
    /// Where the call stands on this device.
    pub(super) stage: Stage,
    /// When this device first saw the call terminal. The record is dropped a retention later:
    /// not earlier, or a late notice about a call still live would look new and raise again.
    pub(super) terminal_seen_ms: SeenAt,
}

/// Where a call stands on one device: how far its callbacks went (a state of the callback
/// grammar, [`State::Done`] once the call is over for the device) and the device's own part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// The call goes on for this device; its callbacks stand at the state (never `Done`).
    Live(State),
    /// This device accepted the call and its accept was answered: it is in the call. Its
    /// callbacks stand at the state (never `Done`); on a receiver's device at least at
    /// `Received`, since its own accept answered the ring.
    Joined(State),
    /// Over for this device: it raised its terminal callback, its own reject or end was
    /// answered, or it learned of the call only once it was over. Nothing more is raised,
    /// except `held`: the callback a snapshot gave for an outgoing call of this device's user
    /// that the device never knew and that was over already, while an initiate of the device
    /// still waited for its answer. The call may be that initiate's (its answer lost with the
    /// connection), so the callback is held back and raised right after that answer (or its
    /// timeout), when the application can tell which call it is about.
    Over {
        /// The callback held back, if any.
        held: Option<CallbackKind>,
    },
    /// Over, and left out of a snapshot: the device no longer knows the call's status (the
    /// switchboard evicted it, or it fell out of the user's bounded audience list). Hidden from
    /// `call`/`calls` until a notice about it arrives again.
    Gone,
}

impl Stage {
    /// Over for this device, with nothing held back.
    const OVER: Stage = Stage::Over { held: None };

    /// Where the device's callbacks stand in the grammar.
    pub(super) fn at(self) -> State {
        match self {
            Stage::Live(state) | Stage::Joined(state) => state,
            Stage::Over { .. } | Stage::Gone => State::Done,
        }
    }

    /// The stage once the device's callbacks stand at `to`.
    fn after(self, to: State) -> Stage {
        debug_assert_ne!(self.at(), State::Done, "nothing moves a call that is over for the device");
        match self {
            _ if to == State::Done => Stage::OVER,
            Stage::Live(_) => Stage::Live(to),
            Stage::Joined(_) => Stage::Joined(to),
            Stage::Over { .. } | Stage::Gone => self,
        }
    }

    /// The stage once the device's own accept was answered: in the call. A receiver's device
    /// counts its accept as the ring it answered.
    pub(super) fn join(self, role: Role) -> Stage {
        let received = |state: State| if role == Role::Incoming { State::Received } else { state };
        match self {
            Stage::Live(state) | Stage::Joined(state) => Stage::Joined(received(state)),
            Stage::Over { .. } | Stage::Gone => self,
        }
    }

    /// The stage once the device's own reject or end was answered: over, keeping what is held.
    pub(super) fn close(self) -> Stage {
        match self {
            Stage::Live(_) | Stage::Joined(_) | Stage::Gone => Stage::OVER,
            Stage::Over { .. } => self,
        }
    }

    /// Whether the device is in the call: it accepted it, or, an initiator's device, raised the
    /// accept.
    fn in_call(self, role: Role) -> bool {
        matches!(self, Stage::Joined(_)) || role == Role::Outgoing && self == Stage::Live(State::Accepted)
    }
}

/// A virtual time in ms, or none, in 8 bytes where `Option<u64>` takes 16 (it keeps the
/// client's first call, kept inline, small): the time + 1, or 0 for none. `u64::MAX` reads back
/// one ms early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SeenAt(u64);

impl SeenAt {
    const NEVER: Self = Self(0);

    fn at(ms: u64) -> Self {
        Self(ms.saturating_add(1))
    }

    fn get(self) -> Option<u64> {
        self.0.checked_sub(1)
    }
}

/// What the client does with a callback for a call, as the grammar judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    /// Raise it; the device's callbacks then stand at the state.
    Raise(State),
    /// Nothing to raise: the device raised it (or a later one) already.
    Stale(Refusal),
    /// It contradicts what the device raised: a broken notice, dropped.
    Illegal,
}

impl Client {
    /// Whether the call at `index` may raise `kind` now: the callback grammar's verdict for the
    /// role of the device's user, after what the device raised so far. The one place the
    /// client decides about a callback.
    fn admit(&self, index: usize, kind: CallbackKind) -> Admission {
        let call = &self.calls[index];
        match grammar::next(call.role, call.stage.at(), kind) {
            Ok(to) => Admission::Raise(to),
            Err(refusal) if refusal.is_stale() => Admission::Stale(refusal),
            Err(_) => Admission::Illegal,
        }
    }

    /// Raises `kind` for the call at `index`, as far as the grammar admits it (a caller raises
    /// only what [`Client::admit`] admitted, or what its own logic calls for: a callback the
    /// device missed, the close of a call a snapshot left out).
    fn raise(&mut self, index: usize, kind: CallbackKind) {
        match self.admit(index, kind) {
            Admission::Raise(to) => self.push_callback(index, kind, to),
            refused => {
                debug_assert!(false, "{} refused on {:?}: {refused:?}", kind.name(), self.calls[index].stage)
            }
        }
    }

    /// Raises `kind`, admitted for the call at `index`: the device's callbacks then stand at `to`.
    fn push_callback(&mut self, index: usize, kind: CallbackKind, to: State) {
        let call = &mut self.calls[index];
        call.stage = call.stage.after(to);
        bump(&mut self.counts.callbacks);
        self.outputs.push_back(Output::Callback(Callback { kind, call: call.view }));
    }

    /// Finds or adds the call, and moves its view forward (never back).
    pub(super) fn upsert(&mut self, view: CallView) -> Result<usize, ClientError> {
        if let Some(i) = self.calls.iter().position(|c| c.view.session == view.session) {
            let local = &mut self.calls[i].view;
            if view.status.rank() >= local.status.rank() && !local.status.is_terminal() {
                *local = view;
            }
            let call = &mut self.calls[i];
            if call.stage == Stage::Gone {
                call.stage = Stage::OVER; // the switchboard speaks of it again: the view is vouched for
            }
            if call.view.status.is_terminal() && call.terminal_seen_ms.get().is_none() {
                call.terminal_seen_ms = SeenAt::at(self.now_ms);
            }
            return Ok(i);
        }
        self.make_room(view.session)?;
        let role = Role::of(view.initiator == self.user);
        let terminal_seen_ms =
            if view.status.is_terminal() { SeenAt::at(self.now_ms) } else { SeenAt::NEVER };
        // A call dropped from a full view is over for the device: one that comes back (a late
        // answer carries it) has nothing more to raise, or a callback would be raised twice.
        let forgotten = self.rare.as_ref().is_some_and(|r| r.forgotten.contains(&view.session));
        let stage = if forgotten { Stage::OVER } else { Stage::Live(State::Idle) };
        self.calls.push(LocalCall { view, role, stage, terminal_seen_ms });
        Ok(self.calls.len() - 1)
    }

    /// Drops calls seen terminal longer than the retention ago (the switchboard has evicted
    /// them too), then, if still full, the one seen terminal first, remembering its session so
    /// that a later notice about it is not taken for a new call. Never drops one that became
    /// terminal at this very ms: a message (a snapshot) may name it again, even with no retention.
    fn make_room(&mut self, session: SessionId) -> Result<(), ClientError> {
        let retention_ms = u64::from(self.call_retention_ms);
        let now_ms = self.now_ms;
        let expired =
            |c: &LocalCall| c.terminal_seen_ms.get().is_some_and(|t| t.saturating_add(retention_ms) < now_ms);
        // A call the device stopped vouching for (a snapshot left it out, see `close_missing`)
        // may still be live at the switchboard, which tells its parties when it ends: remember
        // it, so that the device raises nothing for it again. So may one whose last known
        // status is live (a notice named it again after the snapshot had left it out).
        let may_be_live = |c: &LocalCall| c.stage == Stage::Gone || !c.view.status.is_terminal();
        while let Some(i) = self.calls.iter().position(|c| expired(c) && may_be_live(c)) {
            let session = self.calls.remove(i).view.session;
            self.forget(session);
        }
        self.calls.retain(|c| !expired(c));
        if self.calls.len() < CLIENT_CALLS_MAX {
            return Ok(());
        }
        let oldest =
            self.calls.iter().enumerate().filter_map(|(i, c)| Some((c.terminal_seen_ms.get()?, i))).min();
        match oldest.map(|(_, i)| i) {
            Some(i) => {
                let session = self.calls.remove(i).view.session;
                self.forget(session);
                Ok(())
            }
            None => {
                bump(&mut self.counts.dropped);
                Err(ClientError::ViewFull(session))
            }
        }
    }

    /// Remembers (up to `FORGOTTEN_MAX`, oldest out first) a call dropped from the view while
    /// the switchboard may still speak of it.
    fn forget(&mut self, session: SessionId) {
        let forgotten = &mut self.rare.get_or_insert_with(Box::default).forgotten;
        if forgotten.len() == FORGOTTEN_MAX {
            forgotten.remove(0);
        }
        forgotten.push(session);
    }

    /// Applies one notice: updates the view and raises what the device has not raised yet.
    /// A snapshot entry for a call the device never knew is recorded silently unless it rings.
    pub(super) fn apply_notice(&mut self, notice: Notice, live: bool) -> Result<(), ClientError> {
        let Notice { call, callback } = notice;
        let me = self.user;
        if call.initiator != me && matches!(call.receiver, Receiver::User(u) if u != me) {
            bump(&mut self.counts.dropped);
            return Err(ClientError::NotMyCall(call.session));
        }
        let known = self.calls.iter().any(|c| c.view.session == call.session);
        if !known && self.rare.as_ref().is_some_and(|r| r.forgotten.contains(&call.session)) {
            return Ok(()); // closed and dropped from a full view: nothing more to raise
        }
        let index = self.upsert(call)?;
        // A snapshot entry for a call this device never heard of: its user's own live outgoing
        // call is news the device must raise (it may be the very device whose initiate answer
        // was lost); a call ringing the user rings; anything else is over for this device and
        // is recorded silently.
        let outgoing_live = call.initiator == me && !call.status.is_terminal();
        let rings = callback == Some(CallbackKind::IncomingCallReceived);
        if !known && !live && !outgoing_live && !rings {
            return self.apply_news_of_the_past(index, callback);
        }
        #[cfg(feature = "plant")]
        if !known && !live && outgoing_live && crate::plant::on(crate::plant::Plant::OwnCallSilent) {
            return Ok(()); // the fuzzers' F4: recorded silently, as before its fix
        }
        let Some(kind) = callback else { return Ok(()) };
        #[cfg(feature = "plant")]
        if kind == CallbackKind::IncomingCallCancelled(crate::call::CancelReason::AnsweredElsewhere)
            && crate::plant::on(crate::plant::Plant::ElsewhereSilent)
            || kind == CallbackKind::OutgoingCallRejected(crate::call::RejectReason::Rejected)
                && crate::plant::on(crate::plant::Plant::RejectedSilent)
            || kind == CallbackKind::OutgoingCallRejected(crate::call::RejectReason::Unanswered)
                && crate::plant::on(crate::plant::Plant::UnansweredSilent)
        {
            return Ok(()); // the view moved on; the application is never told
        }
        self.raise_notice(index, kind)
    }

    /// A snapshot entry for a call the device never knew, that does not ring it and is not its
    /// user's live outgoing call: over for the device if the call is terminal or the callback
    /// is. Its user's outgoing call, over while this device was away (it has been connected
    /// before): the device missed its callbacks, and raises them now (or, while an initiate of
    /// its own waits, right after that initiate's answer). On a device's first connection,
    /// calls already over are history: silent.
    fn apply_news_of_the_past(
        &mut self,
        index: usize,
        callback: Option<CallbackKind>,
    ) -> Result<(), ClientError> {
        let call = self.calls[index];
        debug_assert_eq!(call.stage, Stage::Live(State::Idle), "a call the device never knew");
        let over = call.view.status.is_terminal() || callback.is_some_and(CallbackKind::is_terminal);
        let missed = callback.filter(|_| call.view.initiator == self.user && self.connections > 1);
        let Some(kind) = missed else {
            if over {
                self.calls[index].stage = Stage::OVER;
            }
            return Ok(());
        };
        debug_assert!(over, "its user's outgoing call, not live");
        if !self.pending.iter().any(|p| matches!(p.request, Request::Initiate { .. })) {
            return self.raise_notice(index, kind);
        }
        let admission = self.admit(index, kind);
        if admission == Admission::Illegal {
            self.calls[index].stage = Stage::OVER;
            bump(&mut self.counts.dropped);
            return Err(ClientError::IllegalCallback { session: call.view.session, callback: kind });
        }
        self.calls[index].stage = Stage::Over { held: Some(kind) };
        Ok(())
    }

    /// Raises the callbacks held back (see [`Stage::Over`]) now that the application has the
    /// answer to an initiate of this device (or its timeout), in the order of the view.
    pub(super) fn release_held(&mut self) {
        for index in 0..self.calls.len() {
            if let Stage::Over { held: Some(kind) } = self.calls[index].stage {
                // Held back from the start of the device's sequence for the call, which has not
                // moved since (it is over for the device); were it not to fit, `raise_notice`
                // drops and counts it, which is all there is to do for a notice that came earlier.
                self.calls[index].stage = Stage::Live(State::Idle);
                let _ = self.raise_notice(index, kind);
            }
        }
    }

    /// Raises what callback `kind` of a notice about the call at `index` means for this device,
    /// as far as it has not raised it yet.
    fn raise_notice(&mut self, index: usize, kind: CallbackKind) -> Result<(), ClientError> {
        let session = self.calls[index].view.session;
        let to = match self.admit(index, kind) {
            Admission::Raise(to) => to,
            Admission::Stale(refusal) => {
                // Rung again (a snapshot, a repeated notice): acknowledge while the call still
                // waits for its first acknowledgement.
                if refusal == Refusal::Twice
                    && kind == CallbackKind::IncomingCallReceived
                    && self.calls[index].view.status == Status::Initiated
                {
                    self.outputs.push_back(Output::Send(ClientMsg::Ack { session }));
                }
                #[cfg(feature = "plant")]
                if refusal == Refusal::Twice && crate::plant::on(crate::plant::Plant::CallbackTwice) {
                    let call = self.calls[index].view;
                    self.outputs.push_back(Output::Callback(crate::call::Callback { kind, call }));
                }
                return Ok(());
            }
            Admission::Illegal => {
                bump(&mut self.counts.dropped);
                return Err(ClientError::IllegalCallback { session, callback: kind });
            }
        };
        if self.raise_missed(index, kind) {
            self.raise(index, kind); // admitted again, after what was missed
        } else {
            self.push_callback(index, kind, to);
        }
        if kind == CallbackKind::IncomingCallReceived {
            self.outputs.push_back(Output::Send(ClientMsg::Ack { session }));
        }
        Ok(())
    }

    /// An initiator's device that missed what comes before `kind` (it was away, or the notice
    /// was lost) raises it first: `outgoing_call_ringing` if the call did ring, and
    /// `outgoing_call_accepted` before `call_ended` (a device "raises the callbacks it missed").
    /// Returns whether it raised any.
    fn raise_missed(&mut self, index: usize, kind: CallbackKind) -> bool {
        let call = &self.calls[index];
        if call.role != Role::Outgoing {
            return false;
        }
        let (at, rang) = (call.stage.at(), call.view.ringing_at_ms.is_some());
        let class = Class::of(kind);
        let after_ringing =
            matches!(class, Class::OutgoingCallAccepted | Class::OutgoingCallRejected | Class::CallEnded);
        let ringing = after_ringing && at == State::Idle && rang;
        if ringing {
            self.raise(index, CallbackKind::OutgoingCallRinging);
        }
        let accepted = class == Class::CallEnded && at != State::Accepted;
        if accepted {
            self.raise(index, CallbackKind::OutgoingCallAccepted);
        }
        ringing || accepted
    }

    /// After a snapshot: a call the device holds as live but the snapshot leaves out is over for
    /// this device (the switchboard evicted it, or, after more than `CALLS_PER_USER_MAX` newer
    /// calls for the user, no longer lists it): raise its terminal callback as fits the device's
    /// part, with the reason `connection_lost` (the real one is not known), and stop vouching for
    /// its status.
    pub(super) fn close_missing(&mut self, notices: &[Notice]) {
        for index in 0..self.calls.len() {
            let call = self.calls[index];
            let listed = notices.iter().any(|n| n.call.session == call.view.session);
            if listed || call.view.status.is_terminal() || call.stage == Stage::Gone {
                continue; // up to date, or its final status is known
            }
            if call.stage.at() == State::Done {
                // The device was done with it already: nothing to raise.
            } else if call.stage.in_call(call.role) {
                self.raise(index, CallbackKind::CallEnded(EndReason::ConnectionLost));
            } else if call.role == Role::Incoming && call.stage.at() == State::Received {
                self.raise(index, CallbackKind::IncomingCallCancelled(CancelReason::ConnectionLost));
            }
            // Over for this device: hidden, and dropped a retention on.
            let call = &mut self.calls[index];
            call.stage = Stage::Gone;
            if call.terminal_seen_ms.get().is_none() {
                call.terminal_seen_ms = SeenAt::at(self.now_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SeenAt, Stage};
    use crate::call::CallbackKind;
    use crate::grammar::{Role, State};

    #[test]
    fn a_seen_time_reads_back_as_written() {
        assert_eq!(SeenAt::NEVER.get(), None);
        assert_eq!(SeenAt::at(0).get(), Some(0), "time 0 is a time, not none");
        assert_eq!(SeenAt::at(1_234).get(), Some(1_234));
        assert_eq!(SeenAt::at(u64::MAX).get(), Some(u64::MAX - 1), "the one time kept one ms early");
    }

    #[test]
    fn a_receiver_device_that_accepted_stands_past_the_ring() {
        assert_eq!(Stage::Live(State::Idle).join(Role::Incoming), Stage::Joined(State::Received));
        assert_eq!(Stage::Live(State::Received).join(Role::Incoming), Stage::Joined(State::Received));
        assert_eq!(Stage::Live(State::Ringing).join(Role::Outgoing), Stage::Joined(State::Ringing));
        assert_eq!(Stage::OVER.join(Role::Incoming), Stage::OVER, "over stays over");
    }

    #[test]
    fn closing_keeps_what_is_held_back() {
        let held = Stage::Over { held: Some(CallbackKind::OutgoingCallAccepted) };
        assert_eq!(held.close(), held);
        assert_eq!(Stage::Joined(State::Received).close(), Stage::OVER);
        assert_eq!(Stage::Gone.close(), Stage::OVER);
        assert_eq!(Stage::Gone.at(), State::Done);
    }

    #[test]
    fn a_terminal_callback_closes_the_call_for_the_device() {
        assert_eq!(Stage::Joined(State::Received).after(State::Done), Stage::OVER);
        assert_eq!(Stage::Live(State::Idle).after(State::Ringing), Stage::Live(State::Ringing));
        assert!(Stage::Live(State::Accepted).in_call(Role::Outgoing));
        assert!(!Stage::Live(State::Received).in_call(Role::Incoming));
        assert!(Stage::Joined(State::Received).in_call(Role::Incoming));
    }
}
