//! The invariant checks, fed as the run goes: callcore's checkers, wired to the engine.
//!
//! - 2 and 7: a [`StatusLedger`] fed with every status change the switchboard reports;
//! - 5: [`CallbackLedger::observe_state`] on every callback a client raises, with the state of
//!   each (device, call) pair kept per call slot (cleared when the switchboard evicts the call,
//!   which keeps memory bounded; the buffers are reused by the slot's next call);
//! - 6: [`check_authority`] on each status change, after the input that caused it;
//! - 1: [`check_involvement`] on every party of a changed call and on the requesting user;
//! - 8: a [`PushLedger`] fed every push and every connection the switchboard learns of; the
//!   pushes outstanding for a call are checked after each input about it (a message naming it,
//!   a status change, its timers, its eviction) and all of them at the end of a run;
//! - 9: a [`MediaLedger`] fed the calls each input is about, checked after every input;
//! - 3 and 4 are checked by the drivers (liveness bound, convergence once quiet).

use callcore::grammar::State;
use callcore::push::Push;
use callcore::switchboard::StatusChange;
use callcore::testing::invariants::{
    check_authority, check_caught_up, check_convergence, check_involvement, CallbackLedger, MediaLedger,
    PushLedger, StatusLedger, Violation,
};
use callcore::{Callback, CallbackKind, Client, DeviceId, SessionId, Status, Switchboard, UserId};
use smallvec::SmallVec;

/// Each device's callback state for one call (see [`CallbackLedger::observe_state`]); the
/// devices of a one-to-one call fit inline, so a callback reads one record, not two.
type DeviceStates = SmallVec<[(DeviceId, State); DEVICES_INLINE]>;

/// Devices whose callback state a call keeps inline (two users with two devices each).
const DEVICES_INLINE: usize = 4;

/// The checks that need nothing but what the engine reports, in the order it reports it:
/// invariant 2 (every status change), 5 (every callback) and the ledger's side of 7. They can
/// run on another thread ([`crate::sidecar`]), fed the same reports in the same order.
#[derive(Debug, Default)]
pub struct Ledgers {
    statuses: StatusLedger,
    /// Per call, by the session's slot in the switchboard's call table (a slot is reused only
    /// after the call in it was evicted): the session and each device's callback state.
    callbacks: Vec<(Option<SessionId>, DeviceStates)>,
    /// Checks done so far.
    pub checks: u64,
}

impl Ledgers {
    /// Records one status change (invariant 2).
    pub fn observe_status(&mut self, change: &StatusChange) -> Result<(), Violation> {
        self.checks += 1;
        self.statuses.observe(change)
    }

    /// Records one callback on `device` (invariant 5).
    pub fn observe_callback(&mut self, device: DeviceId, callback: &Callback) -> Result<(), Violation> {
        let outgoing = callback.call.initiator == device.user;
        self.observe_callback_parts(device, callback.call.session, outgoing, callback.kind)
    }

    /// [`Ledgers::observe_callback`] from the parts it reads: the call, whether `device`'s
    /// user initiated it, and the callback's kind.
    pub fn observe_callback_parts(
        &mut self,
        device: DeviceId,
        session: SessionId,
        outgoing: bool,
        kind: CallbackKind,
    ) -> Result<(), Violation> {
        self.checks += 1;
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
                devices.push((device, State::Idle));
                devices.len() - 1
            }
        };
        CallbackLedger::observe_state(&mut devices[i].1, device, session, outgoing, kind)
    }

    /// Where `device`'s callback sequence for `session` stands ([`State::Idle`] before its
    /// first callback, or once the call was forgotten).
    pub fn said(&self, device: DeviceId, session: SessionId) -> State {
        let Some((owner, devices)) = self.callbacks.get(session.0 as u32 as usize) else {
            return State::Idle;
        };
        match *owner == Some(session) {
            true => devices.iter().find(|(d, _)| *d == device).map_or(State::Idle, |(_, state)| *state),
            false => State::Idle,
        }
    }

    /// Invariant 7 against the switchboard's counts (`created`, terminal by status).
    pub fn check_counts(&mut self, created: u64, terminal: &[u64; 8]) -> Result<(), Violation> {
        self.checks += 1;
        self.statuses.check_counts(created, terminal)
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
}

/// The checker of one run.
#[derive(Default)]
pub struct Checker {
    /// Invariants 2, 5 and 7's ledger (empty while a sidecar holds them).
    ledgers: Ledgers,
    changed: Vec<StatusChange>,
    users: Vec<UserId>,
    sessions: Vec<SessionId>,
    /// Invariant 8's ledger.
    pushes: PushLedger,
    /// Invariant 9's ledger.
    media: MediaLedger,
    /// Checks done so far here (the ledgers count theirs).
    checks: u64,
}

impl Checker {
    /// Checks done so far (by the ledgers while they are here).
    pub fn checks(&self) -> u64 {
        self.checks + self.ledgers.checks
    }

    /// Records one status change: invariant 2 now, the rest after the input.
    pub fn observe_status(&mut self, change: &StatusChange) -> Result<(), Violation> {
        self.ledgers.observe_status(change)?;
        self.note_change(change);
        Ok(())
    }

    /// Notes a status change for the checks after the input, without invariant 2 (which
    /// the ledgers check wherever they are).
    pub fn note_change(&mut self, change: &StatusChange) {
        self.changed.push(*change);
    }

    /// Records one callback on `device` (invariant 5).
    pub fn observe_callback(&mut self, device: DeviceId, callback: &Callback) -> Result<(), Violation> {
        self.ledgers.observe_callback(device, callback)
    }

    /// Lends the ledgers out (to a sidecar); the checker keeps empty ones meanwhile.
    pub fn take_ledgers(&mut self) -> Ledgers {
        std::mem::take(&mut self.ledgers)
    }

    /// Takes the ledgers back.
    pub fn restore_ledgers(&mut self, ledgers: Ledgers) {
        debug_assert_eq!(self.ledgers.checks, 0, "the ledgers were lent out");
        self.ledgers = ledgers;
    }

    /// Cache hint: starts loading the callback state of `session` (a callback about it is
    /// due soon). It changes nothing.
    #[inline]
    pub fn prefetch(&self, session: SessionId) {
        let slot = session.0 as u32 as usize;
        prefetch_index::prefetch_index(&self.ledgers.callbacks, slot);
    }

    /// Cache hint: starts loading the status state of `session` (a status change of it may
    /// be due soon). It changes nothing.
    #[inline]
    pub fn prefetch_status(&self, session: SessionId) {
        self.ledgers.statuses.prefetch(session);
    }

    /// Records a push as the switchboard emitted it (invariant 8).
    pub fn observe_push(&mut self, sb: &Switchboard, push: &Push) -> Result<(), Violation> {
        self.checks += 1;
        self.pushes.observe_push(sb, push)
    }

    /// The switchboard learned of `device`'s connection (invariant 8: no push `cancel` is owed
    /// to it any more).
    pub fn observe_connect(&mut self, device: DeviceId) {
        if self.pushes.outstanding() > 0 {
            self.pushes.observe_connect(device);
        }
    }

    /// After one input: authority (6) and involvement (1) for every changed call and for
    /// `requester`; pushes (8) and media sessions (9) for every changed call and for `touched`,
    /// the call the input was about. Returns whether any status changed: then conservation (7)
    /// is due, which [`Checker::check_conservation`] checks here (or a sidecar, where the
    /// ledgers are).
    pub fn after_input(
        &mut self,
        sb: &Switchboard,
        requester: Option<UserId>,
        touched: Option<SessionId>,
        now_ms: u64,
    ) -> Result<bool, Violation> {
        self.users.clear();
        self.users.extend(requester);
        self.sessions.clear();
        self.sessions.extend(touched);
        let any = !self.changed.is_empty();
        for change in self.changed.drain(..) {
            self.sessions.push(change.session);
            let Some(call) = sb.call(change.session) else { continue };
            self.checks += 2;
            crate::explore::state::check_row(&change)?;
            check_authority(&change, &call)?;
            self.users.extend(call.parties().iter().map(|p| p.user));
        }
        for &user in &self.users {
            self.checks += 1;
            check_involvement(sb, user)?;
        }
        for &session in &self.sessions {
            if self.pushes.outstanding() > 0 {
                self.checks += 1;
                self.pushes.check_session(sb, session)?;
            }
            self.media.observe(sb, session, now_ms);
        }
        self.media.check(sb, now_ms)?;
        Ok(any)
    }

    /// Invariant 9 at `now_ms` with no input (at the end of a run: a participant whose timeout
    /// passed with nothing left to make it leave is caught here).
    pub fn check_media(&mut self, sb: &Switchboard, now_ms: u64) -> Result<(), Violation> {
        self.checks += 1;
        self.media.check(sb, now_ms)
    }

    /// Invariant 8 for every push still outstanding (at the end of a run).
    pub fn check_pushes(&mut self, sb: &Switchboard) -> Result<(), Violation> {
        self.checks += 1;
        self.pushes.check_all(sb)
    }

    /// Invariant 7 on the switchboard as it is now.
    pub fn check_conservation(&mut self, sb: &Switchboard) -> Result<(), Violation> {
        let stats = sb.stats();
        self.ledgers.check_counts(stats.created, &stats.terminal)
    }

    /// The switchboard evicted `session`: its callback ledger is dropped.
    pub fn forget(&mut self, session: SessionId) {
        self.ledgers.forget(session);
    }

    /// Calls not yet terminal.
    pub fn live_calls(&self) -> usize {
        self.ledgers.statuses.in_progress()
    }

    /// The calls not yet terminal, with their status.
    pub fn live_sessions(&self) -> impl Iterator<Item = (SessionId, Status)> + '_ {
        self.ledgers.statuses.live_sessions().map(|(s, st)| (*s, *st))
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

    /// Invariant 4 for what the applications heard ([`check_caught_up`]): once quiet, every
    /// connected device has raised what it missed. It reads the callback ledgers, so it runs
    /// only while they are here (not lent to a sidecar): at the end of a scenario replay, and at
    /// the end of a population run once the sidecar is done.
    pub fn caught_up<'a>(
        &mut self,
        sb: &Switchboard,
        clients: impl IntoIterator<Item = &'a Client>,
    ) -> Result<(), Violation> {
        self.checks += 1;
        check_caught_up(sb, clients, |device, session| self.ledgers.said(device, session))
    }
}
