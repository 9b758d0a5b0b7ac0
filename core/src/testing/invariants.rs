//! Checkers for the contract's invariants, shared by the tests, the simulator and the fuzzers.
//!
//! Each checker is fed what an observer sees (status changes, callbacks, the switchboard's and
//! clients' state) and reports the first violation with the invariant's number.

use crate::call::{CallView, CallbackKind, Part, Status};
use crate::client::Client;
use crate::grammar::{self, Role, State};
use crate::ids::{DeviceId, SessionId, UserId};
use crate::push::{Push, PushKind};
use crate::switchboard::{CallInfo, StatusChange, Switchboard};
use crate::table::{GROUP, ONE_TO_ONE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The invariant's number in the contract (1 to 9).
    pub invariant: u8,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {}: {}", self.invariant, self.what)
    }
}

fn violation(invariant: u8, what: String) -> Result<(), Violation> {
    Err(Violation { invariant, what })
}

/// Invariant 1: no user joined in two non-terminal calls; without call waiting, nobody
/// involved in two.
pub fn check_involvement(sb: &Switchboard, user: UserId) -> Result<(), Violation> {
    let mut joined = 0;
    let mut involved = 0;
    for session in sb.user_calls(user) {
        let Some(call) = sb.call(*session) else { continue };
        if call.status().is_terminal() {
            continue;
        }
        let Some(party) = call.parties().iter().find(|p| p.user == user) else { continue };
        joined += usize::from(party.part == Part::Joined);
        involved += usize::from(party.involved());
    }
    if joined > 1 {
        return violation(1, format!("user {} joined {joined} live calls", user.0));
    }
    if !sb.config().call_waiting && involved > 1 {
        return violation(1, format!("user {} involved in {involved} live calls", user.0));
    }
    Ok(())
}

/// Invariant 6: the change was caused by someone with the right to make it: a row of the
/// contract's table (`callcore::table`) for the change's event names who may make it.
pub fn check_authority(change: &StatusChange, call: &CallInfo<'_>) -> Result<(), Violation> {
    let Some(by) = change.by else { return Ok(()) };
    let index = call.parties().iter().position(|p| p.user == by);
    let rows = ONE_TO_ONE.iter().chain(GROUP).filter(|row| row.event == change.event);
    let allowed = rows.clone().any(|row| row.by.admits(index));
    debug_assert!(rows.count() > 0, "every reported event is a row of the table: {change:?}");
    if allowed {
        return Ok(());
    }
    violation(
        6,
        format!("{} moved {:?} -> {} on request of user {}", change.session, change.from, change.to, by.0),
    )
}

/// Invariants 2 and 7, from the stream of status changes: no change leaves a terminal status,
/// every change starts from the status last reported, and the counts of calls created, terminal
/// and in progress agree with the switchboard's.
#[derive(Clone, Debug, Default)]
pub struct StatusLedger {
    live: LiveCalls,
    created: u64,
    terminal: [u64; 8],
}

/// The live calls by session: a map whose common case is an array index. A switchboard reuses a
/// call slot only after the call in it was evicted (terminal), so the live call of a slot (the
/// session id's low 32 bits) is kept at that index; a session whose index is taken by another
/// live session, or beyond [`LiveCalls::SLOTS_MAX`], goes to an ordered map instead. Either way
/// it behaves exactly as one map keyed by session.
#[derive(Clone, Debug, Default)]
struct LiveCalls {
    by_slot: Vec<Option<(SessionId, Status)>>,
    overflow: BTreeMap<SessionId, Status>,
    len: usize,
}

impl LiveCalls {
    /// Slots kept by index; the rest go to the map.
    const SLOTS_MAX: usize = 1 << 24;

    fn index(session: SessionId) -> Option<usize> {
        let slot = session.slot() as usize;
        (slot < Self::SLOTS_MAX).then_some(slot)
    }

    fn get(&self, session: SessionId) -> Option<Status> {
        if let Some(i) = Self::index(session) {
            if let Some(Some((s, status))) = self.by_slot.get(i) {
                if *s == session {
                    return Some(*status);
                }
            }
        }
        self.overflow.get(&session).copied()
    }

    /// Inserts or updates; returns the status it had.
    fn insert(&mut self, session: SessionId, status: Status) -> Option<Status> {
        if let Some(i) = Self::index(session) {
            if self.by_slot.len() <= i {
                self.by_slot.resize(i + 1, None);
            }
            match &mut self.by_slot[i] {
                Some((s, old)) if *s == session => return Some(std::mem::replace(old, status)),
                entry @ None if !self.overflow.contains_key(&session) => {
                    *entry = Some((session, status));
                    self.len += 1;
                    return None;
                }
                _ => {}
            }
        }
        let old = self.overflow.insert(session, status);
        self.len += usize::from(old.is_none());
        old
    }

    fn remove(&mut self, session: SessionId) {
        if let Some(i) = Self::index(session) {
            if let Some(entry) = self.by_slot.get_mut(i) {
                if entry.is_some_and(|(s, _)| s == session) {
                    *entry = None;
                    self.len -= 1;
                    return;
                }
            }
        }
        if self.overflow.remove(&session).is_some() {
            self.len -= 1;
        }
    }

    /// Every entry, in session order.
    fn iter(&self) -> impl Iterator<Item = (&SessionId, &Status)> {
        let mut all: Vec<(&SessionId, &Status)> =
            self.by_slot.iter().filter_map(|e| e.as_ref().map(|(s, st)| (s, st))).collect();
        all.extend(self.overflow.iter());
        all.sort_unstable_by_key(|(s, _)| **s);
        all.into_iter()
    }
}

impl StatusLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls not yet terminal, per the stream.
    pub fn in_progress(&self) -> usize {
        self.live.len
    }

    /// The sessions not yet terminal, in session order.
    pub fn live_sessions(&self) -> impl Iterator<Item = (&SessionId, &Status)> {
        self.live.iter()
    }

    #[cfg(feature = "hooks")]
    /// Cache hint: starts loading what a change of `session` will read. It changes nothing.
    #[inline]
    pub fn prefetch(&self, session: SessionId) {
        if let Some(i) = LiveCalls::index(session) {
            prefetch_index::prefetch_index(&self.live.by_slot, i);
        }
    }

    /// Records one change.
    pub fn observe(&mut self, change: &StatusChange) -> Result<(), Violation> {
        match change.from {
            None => {
                if self.live.insert(change.session, change.to).is_some() {
                    return violation(2, format!("{} created twice", change.session));
                }
                self.created += 1;
            }
            Some(from) => {
                let Some(known) = self.live.get(change.session) else {
                    return violation(2, format!("{} left terminal status {from}", change.session));
                };
                if known != from {
                    return violation(2, format!("{} moved from {from} but was {known}", change.session));
                }
                self.live.insert(change.session, change.to);
            }
        }
        if change.to.is_terminal() {
            self.live.remove(change.session);
            self.terminal[change.to.index()] += 1;
        }
        Ok(())
    }

    /// Invariant 7: created = terminal + in progress, per status and in total, on both sides.
    pub fn check_conservation(&self, sb: &Switchboard) -> Result<(), Violation> {
        let stats = sb.stats();
        self.check_counts(stats.created, &stats.terminal)
    }

    #[cfg(feature = "hooks")]
    /// Writes what decides the ledger's future verdicts, for a model checker that merges equal
    /// states: the live calls and their statuses, and how far the counts of invariant 7 are
    /// from agreeing (the ledger's created against its terminal and live, the switchboard's
    /// against the ledger's). The counts themselves are history: two ledgers that differ only
    /// by them judge every future change alike. In a state that passed invariant 7 the
    /// differences are all 0.
    pub fn digest(&self, sb: &Switchboard, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        let stats = sb.stats();
        let diff = |a: u64, b: u64| i128::from(a) - i128::from(b);
        let terminal: u64 = self.terminal.iter().sum();
        let mut live: Vec<_> = self.live.iter().collect();
        live.sort_unstable();
        write!(out, "{live:?} {}", diff(self.created, terminal + self.live.len as u64))?;
        write!(out, " {}", diff(stats.created, self.created))?;
        for (theirs, ours) in stats.terminal.iter().zip(&self.terminal) {
            write!(out, " {}", diff(*theirs, *ours))?;
        }
        Ok(())
    }

    /// Invariant 7 against the switchboard's counts taken at some earlier moment
    /// ([`Stats::created`](crate::switchboard::Stats::created) and
    /// [`Stats::terminal`](crate::switchboard::Stats::terminal)), for a ledger that was fed the
    /// status changes up to that moment (a checker on another thread).
    pub fn check_counts(&self, created: u64, terminal_by_status: &[u64; 8]) -> Result<(), Violation> {
        let terminal: u64 = self.terminal.iter().sum();
        if self.created != terminal + self.live.len as u64 {
            return violation(
                7,
                format!("created {} != terminal {terminal} + live {}", self.created, self.live.len),
            );
        }
        if created != self.created || *terminal_by_status != self.terminal {
            return violation(
                7,
                format!(
                    "switchboard counts created {created} terminal {terminal_by_status:?}, observed {} {:?}",
                    self.created, self.terminal
                ),
            );
        }
        Ok(())
    }
}

/// Invariant 5: on each device, each call's callbacks form a legal sequence: a sentence of the
/// callback grammar ([`crate::grammar`]) for the role of the device's user.
#[derive(Clone, Debug, Default)]
pub struct CallbackLedger {
    seen: BTreeMap<(DeviceId, SessionId), State>,
}

impl CallbackLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets calls the switchboard no longer keeps (bounds the ledger's memory).
    pub fn forget(&mut self, session: SessionId) {
        self.seen.retain(|(_, s), _| *s != session);
    }

    /// Where the sequence of `device` for `session` stands ([`State::Idle`] before its first
    /// callback, or once the call was forgotten).
    pub fn said(&self, device: DeviceId, session: SessionId) -> State {
        self.seen.get(&(device, session)).copied().unwrap_or_default()
    }

    /// Records one callback raised on `device`; `outgoing` tells whether the device's user
    /// initiated the call.
    pub fn observe(
        &mut self,
        device: DeviceId,
        session: SessionId,
        outgoing: bool,
        kind: CallbackKind,
    ) -> Result<(), Violation> {
        let state = self.seen.entry((device, session)).or_default();
        Self::observe_state(state, device, session, outgoing, kind)
    }

    /// The check behind [`CallbackLedger::observe`], for callers that keep each (device, call)
    /// pair's state themselves: `state` is where the pair's sequence stands in the grammar
    /// ([`State::Idle`] before its first callback), moved on when the callback is legal.
    pub fn observe_state(
        state: &mut State,
        device: DeviceId,
        session: SessionId,
        outgoing: bool,
        kind: CallbackKind,
    ) -> Result<(), Violation> {
        match grammar::next(Role::of(outgoing), *state, kind) {
            Ok(to) => {
                *state = to;
                Ok(())
            }
            Err(refusal) => violation(
                5,
                format!(
                    "{} {} on device {}/{} for {session}",
                    kind.name(),
                    refusal.describe(),
                    device.user.0,
                    device.index
                ),
            ),
        }
    }
}

/// Each call a connected device sees (connected as the switchboard knows it too) that the
/// switchboard still keeps: the device, its view, and the switchboard's call. Invariant 4's two
/// checks read these pairs.
fn kept_views<'s, 'c>(
    sb: &'s Switchboard,
    clients: impl IntoIterator<Item = &'c Client>,
) -> impl Iterator<Item = (DeviceId, &'c CallView, CallInfo<'s>)> {
    clients.into_iter().filter(move |c| c.is_connected() && sb.is_connected(c.device())).flat_map(move |c| {
        c.calls().filter_map(move |view| sb.call(view.session).map(|call| (c.device(), view, call)))
    })
}

/// Invariant 4: once quiet, every connected device's view of every call the switchboard still
/// keeps equals the switchboard's.
pub fn check_convergence<'a>(
    sb: &Switchboard,
    clients: impl IntoIterator<Item = &'a Client>,
) -> Result<(), Violation> {
    for (d, view, call) in kept_views(sb, clients) {
        if call.status() != view.status {
            return violation(
                4,
                format!(
                    "device {}/{} sees {} as {}, switchboard as {}",
                    d.user.0,
                    d.index,
                    view.session,
                    view.status,
                    call.status()
                ),
            );
        }
    }
    Ok(())
}

/// Invariant 4 for what the applications heard: once quiet, every connected device has raised,
/// for each call it sees as the switchboard does, what [`grammar::CAUGHT_UP`] asks of its role
/// for that status (the contract: a device raises the callbacks it missed). `said` tells where
/// a device's callback sequence for a call stands ([`State::Idle`] before its first callback).
/// Check [`check_convergence`] first: a call the device sees otherwise is judged there.
pub fn check_caught_up<'a>(
    sb: &Switchboard,
    clients: impl IntoIterator<Item = &'a Client>,
    said: impl Fn(DeviceId, SessionId) -> State,
) -> Result<(), Violation> {
    for (d, view, call) in kept_views(sb, clients).filter(|(_, view, call)| call.status() == view.status) {
        let role = Role::of(view.initiator == d.user);
        let acted = call.parties().iter().any(|p| p.device == Some(d) || p.left_from == Some(d));
        let Some(raised) = grammar::caught_up(role, view.status, acted, call.terminal_event()) else {
            continue;
        };
        let stands = said(d, view.session);
        if !raised.contains(&stands) {
            return violation(
                4,
                format!(
                    "device {}/{} sees {} as {}, but its callbacks stand at {stands:?} (caught up: one of {raised:?})",
                    d.user.0, d.index, view.session, view.status
                ),
            );
        }
    }
    Ok(())
}

/// Invariant 8: every push `ring` to a device is followed, once the call stops ringing its user,
/// by that device's connection or by a push `cancel` for that call; no push goes to a connected
/// or unregistered device (and a `cancel` only follows a `ring`).
#[derive(Clone, Debug, Default)]
pub struct PushLedger {
    /// Devices pushed `ring` for a call that have neither connected since nor been pushed
    /// `cancel`.
    rung: BTreeSet<(SessionId, DeviceId)>,
}

impl PushLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes `ring` still waiting for the device's connection or a `cancel`.
    pub fn outstanding(&self) -> usize {
        self.rung.len()
    }

    /// Records a push at the moment the switchboard emitted it (its state is the emitter's).
    pub fn observe_push(&mut self, sb: &Switchboard, push: &Push) -> Result<(), Violation> {
        let Push { to, session, kind } = *push;
        let name = format!("push {kind} for {session} to device {}/{}", to.user.0, to.index);
        if sb.is_connected(to) {
            return violation(8, format!("{name}: the device is connected"));
        }
        match kind {
            PushKind::Ring if !sb.is_push_registered(to) => {
                violation(8, format!("{name}: the device is not registered for push"))
            }
            PushKind::Ring if !self.rung.insert((session, to)) => violation(8, format!("{name}: twice")),
            PushKind::Ring => Ok(()),
            PushKind::Cancel(_) if !self.rung.remove(&(session, to)) => {
                violation(8, format!("{name}: no ring is outstanding"))
            }
            PushKind::Cancel(_) => Ok(()),
        }
    }

    /// Records that the switchboard learned of `device`'s connection: its snapshot rings it for
    /// the calls that still ring its user, and no push `cancel` is owed any more.
    pub fn observe_connect(&mut self, device: DeviceId) {
        self.rung.retain(|&(_, d)| d != device);
    }

    /// [`PushLedger::observe_connect`] for every device with a ring outstanding that the
    /// switchboard holds as connected now: for callers that check after every single input
    /// (one input connects at most one device).
    pub fn observe_connected(&mut self, sb: &Switchboard) {
        self.rung.retain(|&(_, d)| !sb.is_connected(d));
    }

    /// Checks the outstanding rings of `session`: the call must still ring each device's user.
    pub fn check_session(&self, sb: &Switchboard, session: SessionId) -> Result<(), Violation> {
        let lo = (session, DeviceId::new(UserId(0), 0));
        for &(s, device) in self.rung.range(lo..).take_while(|(s, _)| *s == session) {
            Self::check_one(sb, s, device)?;
        }
        Ok(())
    }

    /// Checks every outstanding ring (see [`PushLedger::check_session`]).
    pub fn check_all(&self, sb: &Switchboard) -> Result<(), Violation> {
        self.rung.iter().try_for_each(|&(session, device)| Self::check_one(sb, session, device))
    }

    fn check_one(sb: &Switchboard, session: SessionId, device: DeviceId) -> Result<(), Violation> {
        let rings = sb.call(session).is_some_and(|call| {
            !call.status().is_terminal()
                && call.parties().iter().any(|p| p.user == device.user && p.part == Part::Ringing)
        });
        if rings {
            return Ok(());
        }
        violation(
            8,
            format!(
                "device {}/{} was pushed ring for {session}, which stopped ringing its user, \
                 and got no push cancel nor connected",
                device.user.0, device.index
            ),
        )
    }
}

/// Invariant 9: no participant stays in an `accepted` call without having started its media
/// session for longer than `session_start_timeout_ms`. The ledger notes when it first saw each
/// participant joined (feed it after every input that may have changed a call) and checks, as
/// time goes on, that each one due has started, left, or seen the call end.
#[derive(Clone, Debug, Default)]
pub struct MediaLedger {
    /// (due, session, user) for each participant seen joined and not started.
    due: BTreeSet<(u64, SessionId, UserId)>,
    /// The participants already noted.
    noted: BTreeSet<(SessionId, UserId)>,
}

impl MediaLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes the participants of `session` that joined and have not started, at `now_ms`.
    pub fn observe(&mut self, sb: &Switchboard, session: SessionId, now_ms: u64) {
        let Some(timeout_ms) = sb.config().session_start_after_ms() else { return };
        let Some(call) = sb.call(session) else { return };
        if call.status() != Status::Accepted {
            return;
        }
        for party in call.parties() {
            if party.part == Part::Joined
                && !party.session_started
                && self.noted.insert((session, party.user))
            {
                self.due.insert((now_ms.saturating_add(timeout_ms), session, party.user));
            }
        }
    }

    #[cfg(feature = "hooks")]
    /// Writes what decides the ledger's future verdicts, every due time relative to `now_ms`
    /// (the verdicts only compare them with the time of a check), for a model checker that
    /// merges states that differ only by a shift in time.
    pub fn digest(&self, now_ms: u64, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        for (due, session, user) in &self.due {
            write!(out, "({}, {session:?}, {user:?})", i128::from(*due) - i128::from(now_ms))?;
        }
        write!(out, "{:?}", self.noted)
    }

    /// Checks every participant due by `now_ms`: each one whose timeout is past (`due <
    /// now_ms`) must have started, left, or seen the call end.
    pub fn check(&mut self, sb: &Switchboard, now_ms: u64) -> Result<(), Violation> {
        while let Some(&(due, session, user)) = self.due.first() {
            if due >= now_ms {
                break;
            }
            self.due.pop_first();
            self.noted.remove(&(session, user));
            let Some(call) = sb.call(session) else { continue };
            let stuck = call.status() == Status::Accepted
                && call
                    .parties()
                    .iter()
                    .any(|p| p.user == user && p.part == Part::Joined && !p.session_started);
            if stuck {
                return violation(
                    9,
                    format!(
                        "user {} is in accepted call {session} without a media session {} ms after it joined",
                        user.0,
                        now_ms - due + sb.config().session_start_after_ms().unwrap_or(0)
                    ),
                );
            }
        }
        Ok(())
    }
}
