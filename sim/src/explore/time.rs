//! The time abstraction, and why it is sound.
//!
//! A state holds a concrete virtual time `now` (ms). Every item in flight carries the time it
//! was sent, so it may arrive within `[sent + min, sent + max]`; every timer fires at its
//! time. With `latest` the smallest latest time of everything pending (the heads of the FIFO
//! queues and the earliest timer: an item behind a head was sent no earlier, so its latest
//! time is no earlier), the moves are:
//!
//! - an event (a head arrives, a timer fires) whose earliest time is `<= latest`; it happens at
//!   `max(now, earliest)`, which is `<= latest`, so nothing pending is left past its deadline;
//! - a tick, `now + 1`, if `now + 1 <= latest`: the same event later in its window;
//! - a script command or a fault, at `now`, only while no event has happened at `now` yet (a
//!   scenario runs the steps of a ms before the machines' events of that ms).
//!
//! **Soundness.** Every explored path is a run of the simulator's network with integer
//! latencies in `[min, max]`: an item taken at `t` was sent at `s` with `t - s` in the window
//! (by the two rules above), FIFO order holds per connection and direction because only heads
//! are taken, and a timer fires exactly at its time, after everything due before it. So no
//! counterexample needs an ordering no real run has: an eviction cannot come before a request
//! timeout shorter than the retention, since the request timer's time bounds `latest`.
//!
//! **Completeness.** Every run with integer times is explored, up to two choices: a command
//! or fault happens at a ms before that ms's machine events (a command between two events of
//! one ms is explored one ms later), and events of the same ms run in every order, including
//! ones the simulator's tie-break (scheduling order) would not pick. Items that can no longer
//! arrive (their connection closed) are dropped at once; the simulator drops them unseen when
//! due, which changes nothing else.
//!
//! **Time shifts.** A state's digest writes every point in time relative to `now` (the items'
//! send times, the timers, and every time field of the machines: deadlines, the times of a
//! call's status changes, the clients' clocks), so states that differ only by a shift in time
//! are merged. This is sound because the machines are invariant under a shift: they compare
//! times with each other and with `now`, and add durations, but never read an absolute value
//! (0 as "unset" in two deadline fields is kept apart as such). It holds only while every time
//! field is known to the digest (`state.rs`, `TIME_FIELDS`): a field added to the machines
//! that holds a point in time must be added there, or states it tells apart would be merged.
//!
//! **What the past keeps.** Some of what a state holds is history that no future reads, or
//! reads only up to a ceiling; the digest writes it as a class, and states of one class are
//! one (`state.rs`, `Clocks`):
//!
//! - *The stamps* (`created_at_ms`, `ringing_at_ms`, `accepted_at_ms`, `terminal_at_ms`): data
//!   a view reports. No machine compares them with a time or a duration (only whether
//!   `ringing_at_ms` is set is read), and the checks compare them only for equality between
//!   copies of one view. They are written as their rank among the state's distinct stamps,
//!   counting back from `now`, which keeps equality and order among them and against every
//!   later time (every stamp a future input sets is `>= now`).
//! - *A client's `SeenAt`* (when it saw a call terminal) is compared only as `seen + retention
//!   < now` (expired) and, among unexpired ones, by order; an expired one is dropped before any
//!   order is taken. Every `SeenAt` older than the retention is written alike.
//! - *Each machine's clock* (`now_ms`, the time of its last input) is overwritten by every
//!   input with the input's own time before anything reads it; it is not written.
//! - *The counts of invariant 7* (calls created and terminal, the switchboard's and the
//!   ledger's) only grow; the checks compare them with each other, so only how far they are
//!   from agreeing is written (0 in a state that passed).
//! - *The callback ledger's entry of a call nothing names any more* (no machine, message or
//!   timer of the state mentions its session, and sessions are never given twice) judges no
//!   callback again; it is left out.
//!
//! A test walks whole graphs with the exact texts and checks that states of one class have
//! the same successors' classes, the same verdicts and the same liveness verdict
//! (`sim/tests/explore.rs`, `forgetting_the_past_merges_only_states_with_one_future`).
//!
//! **Finiteness.** Latencies and timers are at least 1 ms, so at a fixed `now` each event
//! only adds events of later times, and the events due by `now` strictly decrease; commands
//! and faults are bounded by the world. Every path is finite, and so is the state space.
