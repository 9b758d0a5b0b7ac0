//! The invariant checks, fed as the run goes: callcore's checkers, wired to the engine.
//!
//! - 2 and 7: a [`StatusLedger`] fed with every status change the switchboard reports;
//! - 5: a [`CallbackLedger`] per call, fed with every callback a client raises (one ledger per
//!   call, dropped when the switchboard evicts the call, keeps memory bounded);
//! - 6: [`check_authority`] on each status change, after the input that caused it;
//! - 1: [`check_involvement`] on every party of a changed call and on the requesting user;
//! - 3 and 4 are checked by the drivers (liveness bound, convergence once quiet).

use callcore::invariants::{
    check_authority, check_convergence, check_involvement, CallbackLedger, StatusLedger, Violation,
};
use callcore::switchboard::StatusChange;
use callcore::{Callback, Client, DeviceId, SessionId, Status, Switchboard, UserId};

/// The checker of one run.
#[derive(Default)]
pub struct Checker {
    statuses: StatusLedger,
    /// One ledger per call, by the session's slot in the switchboard's call table (a slot is
    /// reused only after the call in it was evicted).
    callbacks: Vec<Option<(SessionId, CallbackLedger)>>,
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
            self.callbacks.resize_with(slot + 1, || None);
        }
        let entry = &mut self.callbacks[slot];
        if entry.as_ref().is_none_or(|(s, _)| *s != session) {
            *entry = Some((session, CallbackLedger::new()));
        }
        let (_, ledger) = entry.as_mut().expect("just filled");
        ledger.observe(device, session, outgoing, callback.kind)
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
        if let Some(entry) = self.callbacks.get_mut(session.0 as u32 as usize) {
            if entry.as_ref().is_some_and(|(s, _)| *s == session) {
                *entry = None;
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
    pub fn convergence(&mut self, sb: &Switchboard, clients: &[Client]) -> Result<(), Violation> {
        self.checks += 1;
        check_convergence(sb, clients)
    }
}
