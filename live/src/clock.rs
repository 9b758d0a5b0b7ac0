//! The switchboard's clock: monotonic milliseconds, and a way to wait for a deadline. The server
//! runs on [`TokioClock`]; tests and the conformance replay use [`ManualClock`], which only moves
//! when told to.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A future that completes at a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A monotonic clock in milliseconds, with timers.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the clock's start. Never goes back.
    fn now_ms(&self) -> u64;
    /// A future that completes once [`Clock::now_ms`] is at least `at_ms`.
    fn sleep_until(&self, at_ms: u64) -> Sleep;
}

/// Real time, on tokio's timer.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self { start: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let deadline = self.start.checked_add(Duration::from_millis(at_ms));
        match deadline {
            Some(deadline) => Box::pin(tokio::time::sleep_until(deadline)),
            None => Box::pin(std::future::pending()),
        }
    }
}

/// A clock that moves only when [`ManualClock::advance_to`] is called.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: tokio::sync::watch::Sender<u64>,
}

impl ManualClock {
    /// A clock at 0.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { now_ms: tokio::sync::watch::Sender::new(0) })
    }

    /// Moves the clock to `at_ms` (a time in the past is ignored: the clock never goes back).
    pub fn advance_to(&self, at_ms: u64) {
        self.now_ms.send_if_modified(|now| {
            let later = at_ms > *now;
            if later {
                *now = at_ms;
            }
            later
        });
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        let now = *self.now_ms.borrow();
        self.advance_to(now.saturating_add(ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        *self.now_ms.borrow()
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let mut now = self.now_ms.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock, which the server holds: no early return.
            if now.wait_for(|&n| n >= at_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
