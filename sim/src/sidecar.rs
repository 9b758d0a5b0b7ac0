//! The sidecar: a second thread that takes the ledger checks (invariants 2, 5 and the
//! ledger's side of 7) off the engine's thread in a large run.
//!
//! The ledgers only consume what the engine reports, in order: each status change, callback,
//! eviction, and the switchboard's counts after each input that changed a status. The engine
//! writes these reports into a batch; a full batch goes to the sidecar over a bounded channel
//! and comes back empty for reuse. The sidecar feeds them to the same [`Ledgers`] in the same
//! order, so a run that passes is the same run, with the same count of checks, as on one
//! thread (and the trace hash, which the engine keeps, is the same too).
//!
//! A violation the sidecar finds is found a few batches after the step that caused it, while
//! the engine has gone on. The engine stops after the step in which it learns of it, and the
//! caller runs the seed again on one thread (the run is deterministic): the report then names
//! the same violation at the same step, and the summary describes the world as it was at that
//! step. The first run's work is lost, which only a failing run pays.

use crate::checks::Ledgers;
use callcore::switchboard::{Stats, StatusChange};
use callcore::testing::invariants::Violation;
use callcore::{Callback, CallbackKind, DeviceId, SessionId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A batch goes to the sidecar once it holds this many reports.
pub const BATCH_REPORTS: usize = 1 << 11;
/// Batches in existence: one being filled, the rest queued or being checked. When all are
/// out, the engine waits for one to come back.
pub const BATCHES_MAX: usize = 4;

/// One thing the engine reported, as the ledgers take it.
#[derive(Clone, Copy, Debug)]
enum Report {
    /// A status change (invariant 2).
    Status { at_ms: u64, change: StatusChange },
    /// A callback a client raised (invariant 5): on which device, about which call, whether
    /// the device's user initiated it, and which callback.
    Callback { at_ms: u64, device: DeviceId, session: SessionId, outgoing: bool, kind: CallbackKind },
    /// The switchboard's counts after an input that changed a status (invariant 7): the next
    /// entry of the batch's counts.
    Counts { at_ms: u64 },
    /// The switchboard evicted a call.
    Forget(SessionId),
}

#[derive(Default)]
struct Batch {
    reports: Vec<Report>,
    /// The switchboard's counts (created, terminal by status), one per [`Report::Counts`].
    counts: Vec<(u64, [u64; 8])>,
}

impl Batch {
    fn new() -> Self {
        Self { reports: Vec::with_capacity(BATCH_REPORTS), counts: Vec::with_capacity(BATCH_REPORTS) }
    }

    fn is_full(&self) -> bool {
        self.reports.len() >= BATCH_REPORTS
    }
}

/// What the sidecar hands back when it is done.
pub struct Audit {
    /// The ledgers, fed every report it was given.
    pub ledgers: Ledgers,
    /// The first violation, and the time of the step that caused it.
    pub failure: Option<(Violation, u64)>,
}

impl Audit {
    /// Takes one batch (and nothing more after a violation).
    fn take(&mut self, batch: &Batch) {
        if self.failure.is_some() {
            return;
        }
        let mut counts = batch.counts.iter();
        for report in &batch.reports {
            let (result, at_ms) = match report {
                Report::Status { at_ms, change } => (self.ledgers.observe_status(change), *at_ms),
                Report::Callback { at_ms, device, session, outgoing, kind } => {
                    (self.ledgers.observe_callback_parts(*device, *session, *outgoing, *kind), *at_ms)
                }
                Report::Counts { at_ms } => {
                    let (created, terminal) = counts.next().expect("one count per report of counts");
                    (self.ledgers.check_counts(*created, terminal), *at_ms)
                }
                Report::Forget(session) => {
                    self.ledgers.forget(*session);
                    continue;
                }
            };
            if let Err(violation) = result {
                self.failure = Some((violation, at_ms));
                return;
            }
        }
    }
}

/// The engine's end of the sidecar.
pub struct Sidecar {
    batch: Batch,
    /// Batches made so far (at most [`BATCHES_MAX`]).
    batches: usize,
    full: Option<SyncSender<Batch>>,
    empty: Receiver<Batch>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<Audit>>,
}

impl Sidecar {
    /// Starts the sidecar thread, continuing `ledgers`; gives them back if no thread can be
    /// started (the run then stays on one thread).
    pub fn start(ledgers: Ledgers) -> Result<Self, Box<Ledgers>> {
        let (full, full_rx) = mpsc::sync_channel::<Batch>(BATCHES_MAX);
        let (empty_tx, empty) = mpsc::sync_channel::<Batch>(BATCHES_MAX);
        // The ledgers go over once the thread runs, so that they stay here if it cannot.
        let (ledgers_tx, ledgers_rx) = mpsc::sync_channel::<Ledgers>(1);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failed);
        let spawned = std::thread::Builder::new().name("callsim-sidecar".into()).spawn(move || {
            let ledgers = ledgers_rx.recv().unwrap_or_default();
            let mut audit = Audit { ledgers, failure: None };
            for mut batch in full_rx {
                audit.take(&batch);
                if audit.failure.is_some() {
                    flag.store(true, Ordering::Relaxed);
                }
                batch.reports.clear();
                batch.counts.clear();
                // The engine may have stopped taking batches back; then this one is dropped.
                let _ = empty_tx.try_send(batch);
            }
            audit
        });
        let Ok(thread) = spawned else { return Err(Box::new(ledgers)) };
        if let Err(mpsc::SendError(ledgers)) = ledgers_tx.send(ledgers) {
            // The thread ended before taking them (it cannot, short of a panic): keep them here.
            drop(full);
            let _ = thread.join();
            return Err(Box::new(ledgers));
        }
        Ok(Self { batch: Batch::new(), batches: 1, full: Some(full), empty, failed, thread: Some(thread) })
    }

    /// Whether the sidecar has found a violation (as of the batches it has checked).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Takes a status change at `at_ms`.
    #[inline]
    pub fn status(&mut self, at_ms: u64, change: &StatusChange) {
        self.report(Report::Status { at_ms, change: *change });
    }

    /// Takes a callback raised on `device` at `at_ms`.
    #[inline]
    pub fn callback(&mut self, at_ms: u64, device: DeviceId, callback: &Callback) {
        let (session, outgoing) = (callback.call.session, callback.call.initiator == device.user);
        self.report(Report::Callback { at_ms, device, session, outgoing, kind: callback.kind });
    }

    /// Takes the switchboard's counts after an input at `at_ms` that changed a status.
    #[inline]
    pub fn counts(&mut self, at_ms: u64, stats: &Stats) {
        self.batch.counts.push((stats.created, stats.terminal));
        self.report(Report::Counts { at_ms });
    }

    /// Takes the eviction of `session`.
    #[inline]
    pub fn forget(&mut self, session: SessionId) {
        self.report(Report::Forget(session));
    }

    #[inline]
    fn report(&mut self, report: Report) {
        self.batch.reports.push(report);
        self.send_if_full();
    }

    #[inline]
    fn send_if_full(&mut self) {
        if self.batch.is_full() {
            self.send();
        }
    }

    /// Sends the batch being filled and starts another (one that came back, a new one while
    /// there are fewer than [`BATCHES_MAX`], or else the next to come back).
    fn send(&mut self) {
        let next = match self.empty.try_recv() {
            Ok(batch) => batch,
            Err(_) if self.batches < BATCHES_MAX => {
                self.batches += 1;
                Batch::new()
            }
            Err(_) => self.empty.recv().unwrap_or_else(|_| Batch::new()),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        if let Some(full) = &self.full {
            // A send fails only if the thread is gone, which `finish` reports.
            let _ = full.send(batch);
        }
    }

    /// Sends what is left, waits for the sidecar to take it all, and returns its audit.
    pub fn finish(mut self) -> Audit {
        let last = std::mem::take(&mut self.batch);
        if let Some(full) = self.full.take() {
            let _ = full.send(last);
        }
        let thread = self.thread.take().expect("a sidecar finishes once");
        match thread.join() {
            Ok(audit) => audit,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callcore::{CallView, Status, UserId};

    fn change(session: u64, from: Option<Status>, to: Status) -> StatusChange {
        StatusChange { session: SessionId(session), from, to, event: None, by: None, at_ms: 0 }
    }

    fn view(session: u64, status: Status) -> CallView {
        CallView { session: SessionId(session), status, ..crate::hash::tests::view() }
    }

    /// Many batches' worth of reports, through the thread: the same checks, and the same
    /// ledgers after, as checking them in place.
    #[test]
    fn reports_checked_by_the_sidecar_are_checked_as_in_place() {
        let mut sidecar = Sidecar::start(Ledgers::default()).expect("a thread starts");
        let mut in_place = Ledgers::default();
        let device = DeviceId::new(UserId(2), 0);
        let calls = 3 * BATCH_REPORTS as u64;
        for i in 0..calls {
            let created = change(i, None, Status::Initiated);
            let rejected = change(i, Some(Status::Initiated), Status::Rejected);
            let incoming =
                Callback { call: view(i, Status::Ringing), kind: CallbackKind::IncomingCallReceived };
            sidecar.status(i, &created);
            sidecar.callback(i, device, &incoming);
            sidecar.status(i, &rejected);
            in_place.observe_status(&created).unwrap();
            in_place.observe_callback(device, &incoming).unwrap();
            in_place.observe_status(&rejected).unwrap();
            if i % 2 == 0 {
                sidecar.forget(SessionId(i));
                in_place.forget(SessionId(i));
            }
        }
        let audit = sidecar.finish();
        assert!(audit.failure.is_none());
        assert_eq!(audit.ledgers.checks, in_place.checks);
        assert_eq!(audit.ledgers.checks, 3 * calls, "two status changes and a callback a call");
        // Both ledgers saw every call created and rejected, and nothing live.
        let mut terminal = [0; 8];
        terminal[Status::Rejected.index()] = calls;
        let mut ledgers = audit.ledgers;
        assert!(ledgers.check_counts(calls, &terminal).is_ok());
        assert!(in_place.check_counts(calls, &terminal).is_ok());
        assert!(ledgers.check_counts(calls + 1, &terminal).is_err(), "a count that is off is caught");
        // A second incoming call on the device breaks invariant 5 only where the call was not forgotten.
        let again =
            |i: u64| Callback { call: view(i, Status::Ringing), kind: CallbackKind::IncomingCallReceived };
        assert!(ledgers.observe_callback(device, &again(1)).is_err());
        assert!(ledgers.observe_callback(device, &again(2)).is_ok(), "call 2 was forgotten");
    }

    /// A violation is reported with the time of the step that caused it, and nothing after
    /// it is checked.
    #[test]
    fn a_violation_is_reported_with_its_time() {
        let mut sidecar = Sidecar::start(Ledgers::default()).expect("a thread starts");
        let device = DeviceId::new(UserId(2), 1);
        let incoming = Callback { call: view(9, Status::Ringing), kind: CallbackKind::IncomingCallReceived };
        sidecar.callback(30, device, &incoming);
        // The receiving device is told of the same call twice: invariant 5 breaks at 40 ms.
        sidecar.callback(40, device, &incoming);
        // This would break invariant 2 at 50 ms (call 9 was never created), but it comes after.
        sidecar.status(50, &change(9, Some(Status::Accepted), Status::Ended));
        for i in 0..(2 * BATCH_REPORTS as u64) {
            sidecar.forget(SessionId(i));
        }
        let audit = sidecar.finish();
        let (violation, at_ms) = audit.failure.expect("the second incoming call is a violation");
        assert_eq!((violation.invariant, at_ms), (5, 40));
        assert_eq!(audit.ledgers.checks, 2, "the two callbacks, not the status change after them");
    }
}
