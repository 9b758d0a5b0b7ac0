//! Insta snapshots of the full input/output trace of the documented flows (latency 20 ms). A
//! change in behaviour shows up as a changed snapshot; each snapshot was read line by line
//! against the contract when it was accepted. They run with the contract's defaults, the media
//! session's start timeout included (its timer is set at the accept and cancelled at the end).

mod common;

use callcore::testing::harness::Harness;
use callcore::{Receiver, Request};
use common::*;

fn trace_of(h: &Harness) -> String {
    h.trace.as_ref().expect("recording").join("\n")
}

fn pair() -> (Harness, callcore::UserId, callcore::UserId) {
    let mut h = harness_with(callcore::Config::default());
    h.record_trace();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    (h, alex, bob)
}

#[test]
fn accept_and_end() {
    let (mut h, alex, bob) = pair();
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    at(&mut h, 1000, dev(bob, 0), accept(s));
    at(&mut h, 5000, dev(alex, 0), end(s));
    h.run_until(5100, MAX_STEPS);
    insta::assert_snapshot!(trace_of(&h));
}

#[test]
fn cancel() {
    let (mut h, alex, bob) = pair();
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    at(&mut h, 1000, dev(alex, 0), Request::cancel(s));
    h.run_until(1100, MAX_STEPS);
    insta::assert_snapshot!(trace_of(&h));
}

#[test]
fn unanswered() {
    let (mut h, alex, bob) = pair();
    let request = Request::Initiate {
        to: Receiver::User(bob),
        call_type: callcore::CallType::Audio,
        ring_timeout_ms: Some(3_000),
    };
    at(&mut h, 100, dev(alex, 0), request);
    h.run_until(3_200, MAX_STEPS);
    insta::assert_snapshot!(trace_of(&h));
}

#[test]
fn glare() {
    let (mut h, alex, bob) = pair();
    at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.command(dev(bob, 0), call_user(alex));
    h.run_until(300, MAX_STEPS);
    insta::assert_snapshot!(trace_of(&h));
}

#[test]
fn group_with_one_join() {
    let mut h = harness_with(callcore::Config::default());
    h.record_trace();
    let [alex, bob, carol] = [0, 1, 2].map(|_| h.add_connected_user(1));
    let team = h.add_group(&[alex, bob, carol]);
    let id = at(&mut h, 100, dev(alex, 0), initiate(Receiver::Group(team)));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    at(&mut h, 1000, dev(bob, 0), accept(s));
    at(
        &mut h,
        2000,
        dev(carol, 0),
        callcore::Request::Reject { session: s, status: callcore::RejectStatus::Rejected },
    );
    at(&mut h, 5000, dev(bob, 0), end(s));
    h.run_until(5100, MAX_STEPS);
    insta::assert_snapshot!(trace_of(&h));
}
