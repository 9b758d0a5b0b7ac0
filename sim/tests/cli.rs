//! The command line as a user runs it: exit codes and messages.

use std::process::Command;

fn callsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim")).args(args).output().expect("runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("callsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn replay_of_the_suite_prints_pass_lines_and_exits_0() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let (code, out, _) = callsim(&["replay", dir]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().count() >= 50 && out.lines().all(|l| l.starts_with("PASS ")), "{out}");
}

#[test]
fn a_file_that_does_not_parse_exits_2_naming_file_line_and_column() {
    let path = temp("bad.json", "{\n  \"format\": 1,\n  \"nmae\": \"typo\"\n}\n");
    let (code, _, err) = callsim(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    let want = format!("{}:3:", path.display());
    assert!(err.contains(&want) && err.contains("nmae"), "{err}");
}

#[test]
fn a_failing_scenario_exits_1_with_its_differences_indented() {
    let text = r#"{"format":1,"name":"wrong on purpose","users":{"a":{},"b":{}},"steps":[
      {"at_ms":0,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1","expect":"busy_signal"}]}"#;
    let path = temp("typo-code.json", text);
    let (code, _, err) = callsim(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 2, "an unknown error code is a parse error: {err}");
    let text = text.replace("busy_signal", "invalid_receiver");
    let path = temp("wrong.json", &text);
    let (code, out, _) = callsim(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "FAIL wrong on purpose\n    step 1 (a initiate at 0 ms): expected invalid_receiver, got ok"
        ),
        "{out}"
    );
}

#[test]
fn run_json_reports_the_fields_and_a_recorded_run_replays() {
    let record = temp("recorded.json", "");
    let (code, out, err) = callsim(&[
        "run",
        "--users",
        "50",
        "--duration-s",
        "600",
        "--seed",
        "3",
        "--json",
        "--record",
        record.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    for field in ["seed", "users", "events", "calls_by_status", "violations", "trace_hash", "reproduce"] {
        assert!(v.get(field).is_some(), "missing {field}: {out}");
    }
    assert_eq!(v["seed"], 3);
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(0));
    let (code, out, _) = callsim(&["replay", record.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("PASS recorded run"), "{out}");
}

#[test]
fn check_runs_a_shard_of_seeds() {
    let (code, out, err) =
        callsim(&["check", "--seeds", "0..6", "--shard", "1/3", "--users", "30", "--duration-s", "300"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 seeds, 0 failed"), "{out}");
}
