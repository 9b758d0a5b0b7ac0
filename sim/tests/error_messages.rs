//! What a user reads when a scenario or profile file is wrong: one snapshot of the messages,
//! each naming the file, line and column and saying what the format wanted there, in the
//! format's words (never a Rust type's name).

use callsim::profile::Profile;
use callsim::scenario;
use std::path::Path;

/// A minimal valid scenario with `steps` and `extra` top-level fields spliced in.
fn scenario_with(users: &str, steps: &str, extra: &str) -> String {
    format!(r#"{{"format":1,"name":"n","users":{users},"steps":[{steps}]{extra}}}"#)
}

const INITIATE: &str =
    r#"{"at_ms":0,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1"}"#;

#[test]
fn scenario_and_profile_errors_read_well() {
    let ab = r#"{"a":{},"b":{}}"#;
    let scenarios = [
        ("not an object", "5".to_owned()),
        ("a user that is not an object", scenario_with(r#"{"a":5}"#, "", "")),
        ("a step that is not an object", scenario_with(ab, "5", "")),
        ("a step written as a list", scenario_with(ab, r#"[0,"a","accept"]"#, "")),
        ("a step without its call", scenario_with(ab, r#"{"at_ms":0,"user":"a","do":"accept"}"#, "")),
        (
            "a field of another command",
            scenario_with(ab, r#"{"at_ms":0,"user":"a","do":"end","call":"c1","status":"busy"}"#, ""),
        ),
        (
            "a misspelt receiver kind",
            scenario_with(ab, &INITIATE.replace(r#"{"user":"b"}"#, r#"{"usr":"b"}"#), ""),
        ),
        (
            "a misspelt error code",
            scenario_with(ab, &INITIATE.replace(r#""call":"c1"}"#, r#""call":"c1","expect":"okay"}"#), ""),
        ),
        ("an unknown top-level field", scenario_with(ab, INITIATE, r#","expcet":{}"#)),
        (
            "a call's expectation that is not an object",
            scenario_with(ab, INITIATE, r#","expect":{"calls":{"c1":5}}"#),
        ),
        (
            "a latency range without its max",
            scenario_with(ab, INITIATE, "")
                .replace(r#""users""#, r#""config":{"latency_ms":{"min":1}},"users""#),
        ),
        ("format 3", scenario_with(ab, INITIATE, "").replace(r#""format":1"#, r#""format":3"#)),
        (
            "a format-2 field in a format-1 file",
            scenario_with(ab, INITIATE, "").replace(r#""b":{}"#, r#""b":{"connected":[0]}"#),
        ),
        (
            "a push step in a format-1 file",
            scenario_with(ab, INITIATE, "")
                .replace(r#""steps":["#, r#""steps":[{"at_ms":0,"user":"b","do":"register_push"},"#),
        ),
        (
            "a push cancel without its reason",
            scenario_with(ab, INITIATE, r#","expect":{"pushes":{"b":["cancel c1"]}}"#)
                .replace(r#""format":1"#, r#""format":2"#),
        ),
    ];
    let mut out = String::new();
    for (what, text) in scenarios {
        let e = scenario::parse(&text, Path::new("s.json")).expect_err(what);
        out.push_str(&format!("{what}:\n  {e}\n"));
    }
    let profiles = [
        ("a profile that is not an object", "5"),
        ("a range that is not an object", r#"{"talk_ms":"x"}"#),
        ("a range written as a list", r#"{"talk_ms":[1,2]}"#),
        ("a misspelt profile field", r#"{"group_shar":0.5}"#),
        ("a probability above 1", r#"{"group_share":1.5}"#),
        ("a range whose min is above its max", r#"{"talk_ms":{"min":2,"max":1}}"#),
        ("two probabilities whose sum is above 1", r#"{"answer_probability":0.8,"reject_probability":0.3}"#),
    ];
    for (what, text) in profiles {
        let e = Profile::parse(text, "p.json".to_owned()).expect_err(what);
        out.push_str(&format!("{what}:\n  {e}\n"));
    }
    insta::assert_snapshot!(out);
}

/// What a user reads when a world file (`callsim explore --world-file`) is wrong: the file, where
/// in it for what the format does not know, and the world's limit for what it refuses.
#[test]
fn world_file_errors_read_well() {
    let user = r#"{"alphabet":[{"initiate":{"user":1}},"cancel"],"commands_max":1}"#;
    let callee = r#"{"alphabet":["accept"],"commands_max":1}"#;
    let world = |users: &str, extra: &str| format!(r#"{{"users":[{users}]{extra}}}"#);
    let worlds = [
        ("not JSON", "users: []".to_owned()),
        ("no users", "{}".to_owned()),
        ("a misspelt top-level field", world(&format!("{user},{callee}"), r#","disconects_max":1"#)),
        (
            "a misspelt user field",
            world(&format!("{user},{}", callee.replace("commands_max", "comands_max")), ""),
        ),
        ("an unknown command", world(&format!("{user},{}", callee.replace("accept", "acept")), "")),
        (
            "an initiate without its receiver",
            world(&format!("{},{callee}", user.replace(r#"{"initiate":{"user":1}}"#, r#""initiate""#)), ""),
        ),
        ("a misspelt setting", world(&format!("{user},{callee}"), r#","config":{"ring_timeout":6}"#)),
        (
            "the contract's ring timeout",
            world(&format!("{user},{callee}"), r#","config":{"ring_timeout_ms":45000}"#),
        ),
        (
            "a call to a user who is not there",
            world(&format!("{},{callee}", user.replace(r#""user":1"#, r#""user":5"#)), ""),
        ),
        ("one user", world(user, "")),
        (
            "too many commands",
            world(&format!("{user},{}", callee.replace(r#""commands_max":1"#, r#""commands_max":9"#)), ""),
        ),
        ("a group member who is not there", world(&format!("{user},{callee}"), r#","groups":[[0,1,7]]"#)),
    ];
    let mut out = String::new();
    for (what, text) in worlds {
        let e = callsim::explore::World::parse(&text, "w").expect_err(what);
        out.push_str(&format!("{what}:\n  {e}\n"));
    }
    insta::assert_snapshot!(out);
}
