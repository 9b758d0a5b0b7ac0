//! Shrinking keeps the failure and drops everything else.

use callsim::scenario;
use callsim::shrink::{self, Budget};
use std::path::Path;

/// Five users; four calls that end, and one (alex → erin at 30 s) that is still ringing when
/// the run stops at 40 s: the liveness predicate (a call live at the end) holds because of
/// that call alone.
const TEXT: &str = r#"{
  "format": 1, "name": "one stuck call among finished ones", "run_until_ms": 40000,
  "users": { "alex": {}, "bob": {}, "carol": {}, "dave": {}, "erin": {} },
  "steps": [
    { "at_ms": 0,     "user": "bob",   "do": "initiate", "to": { "user": "carol" }, "call_type": "audio", "call": "c1" },
    { "at_ms": 1000,  "user": "carol", "do": "reject", "call": "c1" },
    { "at_ms": 2000,  "user": "dave",  "do": "disconnect" },
    { "at_ms": 3000,  "user": "dave",  "do": "connect" },
    { "at_ms": 4000,  "user": "bob",   "do": "initiate", "to": { "user": "dave" }, "call_type": "video", "call": "c2" },
    { "at_ms": 5000,  "user": "dave",  "do": "accept", "call": "c2" },
    { "at_ms": 9000,  "user": "bob",   "do": "end", "call": "c2" },
    { "at_ms": 10000, "user": "carol", "do": "initiate", "to": { "user": "bob" }, "call_type": "audio", "call": "c3" },
    { "at_ms": 11000, "user": "carol", "do": "cancel", "call": "c3" },
    { "at_ms": 30000, "user": "alex",  "do": "initiate", "to": { "user": "erin" }, "call_type": "audio", "call": "c4" },
    { "at_ms": 31000, "user": "dave",  "do": "initiate", "to": { "user": "carol" }, "call_type": "audio", "call": "c5" },
    { "at_ms": 32000, "user": "carol", "do": "reject", "call": "c5", "status": "busy" }
  ]
}"#;

#[test]
fn a_stuck_call_shrinks_to_that_call_and_its_two_users() {
    let s = scenario::parse(TEXT, Path::new("stuck.json")).unwrap();
    assert_eq!(shrink::broken_invariant(&s), Some(3), "the predicate holds before shrinking");
    let (small, replays) = shrink::shrink(&s, 3, Budget::default());
    assert!(replays > 0);
    assert_eq!(small.steps.len(), 1, "{:#?}", small.steps);
    assert_eq!(small.steps[0].action.label(), Some("c4"));
    assert_eq!(small.users.keys().collect::<Vec<_>>(), ["alex", "erin"]);
    assert_eq!(small.steps[0].at_ms, 0, "moved to start at 0");
    assert_eq!(shrink::broken_invariant(&small), Some(3), "the shrunk scenario still fails");
}
