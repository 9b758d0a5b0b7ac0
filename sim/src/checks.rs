//! The invariant checks, fed as the run goes: callcore's checkers, wired to the engine.
//!
//! - 2 and 7: a [`StatusLedger`] fed with every status change the switchboard reports;
//! - 5: [`CallbackLedger::observe_flags`] on every callback a client raises, with the state of
//!   each (device, call) pair kept per call slot (cleared when the switchboard evicts the call,
//!   which keeps memory bounded; the buffers are reused by the slot's next call);
//! - 6: [`check_authority`] on each status change, after the input that caused it;
//! - 1: [`check_involvement`] on every party of a changed call and on the requesting user;
//! - 3 and 4 are checked by the drivers (liveness bound, convergence once quiet).

use callcore::invariants::{
    check_authority, check_convergence, check_involvement, CallbackLedger, StatusLedger, Violation,
};
use callcore::switchboard::StatusChange;
use callcore::{Callback, Client, DeviceId, SessionId, Status, Switchboard, UserId};
use smallvec::SmallVec;

/// Each device's callback flags for one call (see [`CallbackLedger::observe_flags`]); the
/// devices of a one-to-one call fit inline, so a callback reads one record, not two.
type DeviceFlags = SmallVec<[(DeviceId, u8); DEVICES_INLINE]>;

/// Devices whose callback flags a call keeps inline (two users with two devices each).
const DEVICES_INLINE: usize = 4;

/// The checker of one run.
#[derive(Default)]
pub struct Checker {
    statuses: StatusLedger,
    /// Per call, by the session's slot in the switchboard's call table (a slot is reused only
    /// after the call in it was evicted): the session and each device's callback flags.
    callbacks: Vec<(Option<SessionId>, DeviceFlags)>,
    changed: Vec<StatusChange>,
    users: Vec<UserId>,
    /// Checks done so far.
    pub checks: u64,
}

impl Checker {
    /// Records one status change (invariant 2); the rest is checked after the input.
    pub fn observe_status(&mut self, change: &StatusChange) -> Result<(), Violation> {
        self.checks += 1;
        self.statuses.observe(change)?;
        self.changed.push(*change);
        Ok(())
    }

    /// Records one callback on `device` (invariant 5).
    pub fn observe_callback(&mut self, device: DeviceId, callback: &Callback) -> Result<(), Violation> {
        self.checks += 1;
        let session = callback.call.session;
        let outgoing = callback.call.initiator == device.user;
        let slot = session.0 as u32 as usize;
        if self.callbacks.len() <= slot {
            self.callbacks.resize_with(slot + 1, || (None, SmallVec::new()));
        }
        let (owner, devices) = &mut self.callbacks[slot];
        if *owner != Some(session) {
            *owner = Some(session);
            devices.clear();
        }
        let i = match devices.iter().position(|(d, _)| *d == device) {
            Some(i) => i,
            None => {
                devices.push((device, 0));
                devices.len() - 1
            }
        };
        CallbackLedger::observe_flags(&mut devices[i].1, device, session, outgoing, callback.kind)
    }

    /// Cache hint: starts loading the callback state of `session` (a callback about it is
    /// due soon). It changes nothing.
    #[inline]
    pub fn prefetch(&self, session: SessionId) {
        let slot = session.0 as u32 as usize;
        prefetch_index::prefetch_index(&self.callbacks, slot);
    }

    /// Cache hint: starts loading the status state of `session` (a status change of it may
    /// be due soon). It changes nothing.
    #[inline]
    pub fn prefetch_status(&self, session: SessionId) {
        self.statuses.prefetch(session);
    }

    /// After one input: authority (6) and involvement (1) for every changed call and for
    /// `requester`, conservation (7) when anything changed.
    pub fn after_input(&mut self, sb: &Switchboard, requester: Option<UserId>) -> Result<(), Violation> {
        self.users.clear();
        self.users.extend(requester);
        let any = !self.changed.is_empty();
        for change in self.changed.drain(..) {
            let Some(call) = sb.call(change.session) else { continue };
            self.checks += 1;
            check_authority(&change, &call)?;
            self.users.extend(call.parties.iter().map(|p| p.user));
        }
        for &user in &self.users {
            self.checks += 1;
            check_involvement(sb, user)?;
        }
        if any {
            self.checks += 1;
            self.statuses.check_conservation(sb)?;
        }
        Ok(())
    }

    /// The switchboard evicted `session`: its callback ledger is dropped.
    pub fn forget(&mut self, session: SessionId) {
        if let Some((owner, devices)) = self.callbacks.get_mut(session.0 as u32 as usize) {
            if *owner == Some(session) {
                *owner = None;
                devices.clear();
            }
        }
    }

    /// Calls not yet terminal.
    pub fn live_calls(&self) -> usize {
        self.statuses.in_progress()
    }

    /// The calls not yet terminal, with their status.
    pub fn live_sessions(&self) -> impl Iterator<Item = (SessionId, Status)> + '_ {
        self.statuses.live_sessions().map(|(s, st)| (*s, *st))
    }

    /// Invariant 4 over every client.
    pub fn convergence<'a>(
        &mut self,
        sb: &Switchboard,
        clients: impl IntoIterator<Item = &'a Client>,
    ) -> Result<(), Violation> {
        self.checks += 1;
        check_convergence(sb, clients)
    }
}
