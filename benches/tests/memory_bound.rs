//! The switchboard's memory is bounded by the call rate times how long a call is kept: 20,000
//! one-to-one calls run through the callcore harness at a steady rate with a short retention,
//! and the number of call records never exceeds rate × (longest call + retention + the
//! latencies), and drops to zero once every retention has run out.

use callcore::testing::harness::Harness;
use callcore::{CallType, Config, DeviceId, Receiver, Request, RequestId, Status, UserId};

const CALLS: u64 = 20_000;
const PAIRS: u64 = 50;
/// A call starts every this many ms (100 calls a second).
const INTERVAL_MS: u64 = 10;
const ACCEPT_AFTER_MS: u64 = 100;
const END_AFTER_MS: u64 = 300;
const LATENCY_MS: u64 = 10;
const RETENTION_MS: u64 = 1_000;
/// Harness events allowed between two actions (a livelock fails).
const STEPS_MAX: usize = 10_000;

#[derive(Clone, Copy)]
enum Action {
    Initiate,
    Accept,
    End,
}

#[test]
fn call_records_stay_under_rate_times_lifetime_and_retention() {
    let config = Config { call_retention_ms: RETENTION_MS, ..Config::default() };
    let mut h = Harness::new(config, LATENCY_MS);
    let users: Vec<UserId> = (0..2 * PAIRS).map(|_| h.add_connected_user(1)).collect();
    let device = |u: UserId| DeviceId::new(u, 0);

    // Every action in time order: call i starts at 1000 + i * INTERVAL_MS between pair i % PAIRS
    // (a pair calls again every PAIRS * INTERVAL_MS = 500 ms, after its last call ended).
    let mut schedule: Vec<(u64, u64, Action)> = Vec::new();
    for i in 0..CALLS {
        let t = 1_000 + i * INTERVAL_MS;
        schedule.push((t, i, Action::Initiate));
        schedule.push((t + ACCEPT_AFTER_MS, i, Action::Accept));
        schedule.push((t + END_AFTER_MS, i, Action::End));
    }
    schedule.sort_by_key(|&(t, i, _)| (t, i));

    // A record lives from creation (one latency after the initiate) to eviction (a retention
    // after the end reached the switchboard): at most END_AFTER_MS + RETENTION_MS + LATENCY_MS.
    let lifetime_ms = END_AFTER_MS + RETENTION_MS + 2 * LATENCY_MS;
    let bound = (lifetime_ms / INTERVAL_MS + 1) as usize;
    let mut initiate_ids: Vec<RequestId> = Vec::with_capacity(CALLS as usize);
    let mut most = 0;
    for (t, i, action) in schedule {
        h.run_until(t, STEPS_MAX);
        let pair = (i % PAIRS) as usize;
        let (caller, callee) = (device(users[2 * pair]), device(users[2 * pair + 1]));
        match action {
            Action::Initiate => {
                let to = Receiver::User(callee.user);
                let request = Request::Initiate { to, call_type: CallType::Audio, ring_timeout_ms: None };
                initiate_ids.push(h.command(caller, request));
            }
            Action::Accept | Action::End => {
                let answer = h.answer(caller, initiate_ids[i as usize]).expect("the initiate was answered");
                let session = answer.expect("the pair was free").session;
                let (by, request) = match action {
                    Action::Accept => (callee, Request::Accept { session }),
                    _ => (caller, Request::End { session }),
                };
                h.command(by, request);
            }
        }
        most = most.max(h.switchboard.record_count());
        assert!(most <= bound, "{most} call records at {t} ms, bound {bound}");
    }
    h.run_until_quiet(STEPS_MAX);

    let stats = h.switchboard.stats();
    assert_eq!(stats.created, CALLS);
    assert_eq!(stats.terminal[Status::Ended.index()], CALLS, "every call was accepted, then ended");
    assert_eq!(stats.evicted, CALLS);
    assert_eq!(h.switchboard.record_count(), 0, "every record evicted once its retention ran out");
    eprintln!("call records at most {most}, bound {bound}");
    // The bound is not vacuous: the steady state comes close to it.
    assert!(most >= bound * 3 / 4, "only {most} records at most, bound {bound}");
}
