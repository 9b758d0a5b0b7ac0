//! The command line as a user runs it: exit codes and messages.

use std::process::Command;

fn callsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim")).args(args).output().expect("runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = fresh(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A path in the tests' folder where no file is.
fn fresh(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("callsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
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

/// A scenario that expects `invalid_receiver` where the initiate succeeds (b is a registered,
/// connected user).
fn failing_scenario() -> String {
    r#"{"format":1,"name":"wrong on purpose","users":{"a":{},"b":{}},"steps":[
      {"at_ms":0,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1","expect":"invalid_receiver"}]}"#
        .to_owned()
}

#[test]
fn a_failing_scenario_exits_1_with_its_differences_indented() {
    let text = failing_scenario().replace("invalid_receiver", "busy_signal");
    let path = temp("typo-code.json", &text);
    let (code, _, err) = callsim(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 2, "an unknown error code is a parse error: {err}");
    let path = temp("wrong.json", &failing_scenario());
    let (code, out, _) = callsim(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "FAIL wrong on purpose\n    step 1 (a initiate at 0 ms): expected invalid_receiver, got ok"
        ),
        "{out}"
    );
}

/// Twelve initiates to users that do not exist, each expected to succeed: each is answered
/// `invalid_receiver`, twelve differences. Ten are printed, the other two counted; the file is
/// named; with two files, the totals go to stderr.
#[test]
fn a_failure_prints_at_most_ten_differences_and_names_its_file() {
    let steps: Vec<String> = (1..=12)
        .map(|i| {
            format!(
                r#"{{"at_ms":{},"user":"a","do":"initiate","to":{{"user":"nobody{i}"}},"call_type":"audio","call":"c{i}","expect":"ok"}}"#,
                i * 10
            )
        })
        .collect();
    let text =
        format!(r#"{{"format":1,"name":"twelve wrong","users":{{"a":{{}}}},"steps":[{}]}}"#, steps.join(","));
    let path = temp("twelve-wrong.json", &text);
    let passing = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/01_accept_and_end.json");
    let (code, out, err) = callsim(&["replay", path.to_str().unwrap(), passing]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "FAIL twelve wrong");
    for (k, line) in lines[1..11].iter().enumerate() {
        let i = k + 1;
        assert_eq!(
            *line,
            format!("    step {i} (a initiate at {} ms): expected ok, got invalid_receiver", i * 10)
        );
    }
    assert_eq!(lines[11], "    ... and 2 more differences");
    assert_eq!(lines[12], format!("    in {}", path.display()));
    assert!(lines[13].starts_with("PASS "), "{out}");
    assert_eq!(lines.len(), 14, "{out}");
    assert!(err.contains("callsim replay: 2 scenarios, 1 passed, 1 failed, 0 unreadable"), "{err}");
}

#[test]
fn run_json_reports_the_fields_and_a_recorded_run_replays() {
    let record = fresh("recorded.json");
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

/// Runs callsim with its stdout going to `stdout`; returns the exit code and stderr.
fn callsim_to(stdout: std::process::Stdio, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stderr).expect("utf-8"))
}

#[test]
fn a_reader_that_went_away_is_not_a_crash() {
    // `callsim run | head -1`: the reader is gone before the summary is printed (its end of the
    // pipe is closed before callsim starts, so every write fails). The run still succeeded.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let (code, err) = callsim_to(writer.into(), &["run", "--users", "20", "--duration-s", "60"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A failing replay still says so in its exit code when nobody reads its FAIL lines.
    let bad = temp("unread-failure.json", &failing_scenario());
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let (code, err) = callsim_to(writer.into(), &["replay", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_under_stdout_is_reported_with_exit_code_2() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full on Linux");
    let (code, err) = callsim_to(full.into(), &["run", "--users", "20", "--duration-s", "60"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches("callsim: cannot write to stdout").count(), 1, "reported once: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_duration_beyond_the_bound_is_a_usage_error_not_a_false_violation() {
    // u64::MAX seconds once wrapped the liveness deadline to a few minutes and reported calls
    // in progress as stuck.
    for duration in ["31622401", "18446744073709551615"] {
        let (code, out, err) = callsim(&["run", "--users", "10", "--duration-s", duration]);
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(err.trim(), "callsim: --duration-s must be at most 31622400 (366 days)");
        assert!(!out.contains("VIOLATION") && !err.contains("VIOLATION"), "{out}{err}");
    }
}

#[test]
fn a_profile_time_beyond_the_bound_is_a_usage_error_not_a_false_violation() {
    let profile = temp("long-talk.json", r#"{"talk_ms": {"min": 1, "max": 18446744073709551615}}"#);
    let (code, out, err) =
        callsim(&["run", "--users", "50", "--duration-s", "600", "--profile", profile.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let want = format!("callsim: {}: talk_ms must be at most 86400000 ms (one day)", profile.display());
    assert_eq!(err.trim(), want, "a value from a profile file: the file and the field");
}

#[test]
fn rates_that_would_never_let_a_run_end_are_usage_errors() {
    // `--calls-per-hour 1e300` once spun forever at the first millisecond.
    let (code, _, err) =
        callsim(&["run", "--users", "10", "--duration-s", "60", "--calls-per-hour", "1e300"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim(), "callsim: --calls-per-hour must be at most 3600");
    // Within the per-user bound, but a million users at 3,600 calls an hour is 3.6e9 an hour.
    let (code, _, err) =
        callsim(&["run", "--users", "1000001", "--duration-s", "60", "--calls-per-hour", "3600"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("callsim: --users x --calls-per-hour must be at most 3.6e9 per hour"), "{err}");
}

/// Sizes that would take the machine's memory, or run for ever, are refused before anything is
/// laid out: a population beyond 2^24 devices (4,294,967,295 users of 2 devices, counting the
/// default 1.3 rounded up), partitions of 10^12 devices (2e12 an hour at the default 2 partitions),
/// a sweep of 2^64 - 1 seeds.
#[test]
fn sizes_beyond_the_bounds_are_usage_errors_before_the_run() {
    let quiet = ["--calls-per-hour", "0", "--disconnects-per-hour", "0", "--duration-s", "1"];
    let (code, out, err) = callsim(&[&["run", "--users", "4294967295"][..], &quiet].concat());
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err.trim(),
        "callsim: --users x devices_per_user (rounded up) must be at most 16777216 devices (got 8589934590)"
    );
    let profile =
        temp("huge-partitions.json", r#"{"partition_devices":{"min":1000000000000,"max":1000000000000}}"#);
    let (code, _, err) =
        callsim(&["run", "--users", "10", "--duration-s", "60", "--profile", profile.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("callsim: partitions_per_hour x partition_devices.max must be at most 3.6e9"),
        "{err}"
    );
    let (code, _, err) = callsim(&["check", "--seeds", "0..18446744073709551615", "--users", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at most 1000000 in one run; split the range with --shard I/N"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_trace_that_cannot_be_written_is_an_error_not_a_silent_success() {
    // The trace file opens (so the run starts) but every write to it fails.
    let (code, _, err) = callsim(&["run", "--users", "10", "--duration-s", "60", "--trace", "/dev/full"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("callsim: trace: "), "{err}");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/01_accept_and_end.json");
    let (code, out, err) = callsim(&["replay", scenario, "--trace", "/dev/full"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.starts_with("PASS "), "the verdict is still printed: {out}");
    assert!(err.starts_with("callsim: trace: "), "{err}");
}

#[test]
fn a_record_path_that_cannot_be_written_fails_before_the_run() {
    let missing = std::env::temp_dir().join("callsim-no-such-dir").join("run.json");
    let (code, out, err) =
        callsim(&["run", "--users", "10", "--duration-s", "60", "--record", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "no run was made: {out}");
    assert!(err.starts_with(&format!("callsim: {}: ", missing.display())), "{err}");
}

/// A recording that cannot be written is an error, and what the path named is left alone: the
/// file a symbolic link points to, here a device that refuses every write, is not removed.
#[cfg(target_os = "linux")]
#[test]
fn a_record_write_that_fails_leaves_a_symbolic_link_in_place() {
    let link = std::env::temp_dir().join(format!("callsim-cli-full-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    let (code, _, err) =
        callsim(&["run", "--users", "10", "--duration-s", "60", "--record", link.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("callsim: {}: ", link.display())), "{err}");
    assert!(link.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()), "the link is still there");
    assert!(std::path::Path::new("/dev/full").exists(), "the device is still there");
    std::fs::remove_file(&link).unwrap();
}

#[test]
fn trace_and_record_into_one_file_is_refused_before_the_run() {
    let path = temp("one-file.json", "");
    let p = path.to_str().unwrap();
    let (code, out, err) =
        callsim(&["run", "--users", "10", "--duration-s", "60", "--trace", p, "--record", p]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "no run was made: {out}");
    assert_eq!(err.trim(), format!("callsim: {p}: --trace and --record name the same file"));
}

/// Two scenarios into one trace: each one's lines follow a line that names it; one scenario
/// alone gets no such line. Every line is one JSON object.
#[test]
fn a_trace_of_several_scenarios_names_each_one() {
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let (a, b) = (format!("{suite}/01_accept_and_end.json"), format!("{suite}/07_cancel.json"));
    let both = fresh("two.jsonl");
    let (code, out, err) = callsim(&["replay", &a, &b, "--trace", both.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&both).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("one JSON object")).collect();
    let marks: Vec<usize> = (0..lines.len()).filter(|&i| lines[i]["kind"] == "scenario").collect();
    assert_eq!(marks.len(), 2, "one line per scenario");
    assert_eq!(marks[0], 0, "the first line names the first scenario");
    assert_eq!(lines[marks[0]]["file"], a.as_str());
    assert_eq!(lines[marks[1]]["file"], b.as_str());
    assert!(marks[1] > 1, "the first scenario's records lie between the two");
    let one = fresh("one.jsonl");
    let (code, _, _) = callsim(&["replay", &a, "--trace", one.to_str().unwrap()]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&one).unwrap();
    assert!(!text.contains(r#""kind":"scenario""#), "one scenario: records only");
}

/// `--trace` naming one of the scenarios to replay is refused before anything is written: the
/// scenario is still there, whole.
#[test]
fn a_trace_onto_a_scenario_being_replayed_is_refused() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/01_accept_and_end.json"))
            .unwrap();
    let path = temp("self-trace.json", &text);
    let p = path.to_str().unwrap();
    let (code, out, err) = callsim(&["replay", p, "--trace", p]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim(),
        format!("callsim: {p}: --trace names a scenario to replay; it would be overwritten")
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the scenario is untouched");
}

#[test]
fn replay_of_a_folder_finds_scenarios_at_any_depth_and_an_empty_folder_is_an_error() {
    let root = std::env::temp_dir().join(format!("callsim-cli-tree-{}", std::process::id()));
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    std::fs::create_dir_all(root.join("one/two")).unwrap();
    std::fs::copy(format!("{suite}/01_accept_and_end.json"), root.join("one/two/01.json")).unwrap();
    std::fs::copy(format!("{suite}/07_cancel.json"), root.join("07.json")).unwrap();
    std::fs::write(root.join("notes.txt"), "not a scenario").unwrap();
    let (code, out, err) = callsim(&["replay", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS ")).count(), 2, "{out}");
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, out, err) = callsim(&["replay", empty.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(err.trim(), format!("callsim: {}: no scenario (*.json) under this folder", empty.display()));
}

/// A value given by a flag is named by the flag in its error, not by the profile's field that
/// holds it; the same value from a profile file is named by the file and the field.
#[test]
fn errors_name_the_flag_the_user_typed() {
    let cases = [
        (["--users", "0"], "--users must be at least 1"),
        (["--group-share", "1.5"], "--group-share must be within 0..=1"),
        (["--calls-per-hour", "-1"], "--calls-per-hour must be a finite number >= 0"),
        (["--disconnects-per-hour", "3601"], "--disconnects-per-hour must be at most 3600"),
        (["--partitions-per-hour", "3600001"], "--partitions-per-hour must be at most 3600000"),
        (["--latency-ms", "60001"], "--latency-ms must be at most 60000 ms"),
    ];
    for (flag, message) in cases {
        let (code, out, err) = callsim(&[&["run", "--duration-s", "60"][..], &flag].concat());
        assert_eq!((code, out.as_str()), (2, ""), "{flag:?}: {err}");
        assert_eq!(err.trim(), format!("callsim: {message}"), "{flag:?}");
    }
    let profile = temp("share.json", r#"{"group_share": 1.5}"#);
    let (code, _, err) = callsim(&["run", "--profile", profile.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim(), format!("callsim: {}: group_share must be within 0..=1", profile.display()));
}

/// A short run that writes the file `flag` names, with `extra` flags after it.
fn run_writing(flag: &str, path: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let args = [&["run", "--users", "10", "--duration-s", "60", flag, path.to_str().unwrap()][..], extra];
    callsim(&args.concat())
}

/// `--record` and `--trace` never overwrite a file by accident: an existing file is refused
/// before the run, with a message that names it and the way to overwrite it, and is left as it
/// was. When one output is refused, the other (new) one is not created either.
#[test]
fn an_existing_output_file_is_refused_without_force_and_left_unchanged() {
    for flag in ["--record", "--trace"] {
        let path = temp(&format!("existing{flag}.json"), "keep me\n");
        let (code, out, err) = run_writing(flag, &path, &[]);
        assert_eq!(code, 2, "{flag}: {out}{err}");
        assert!(out.is_empty(), "{flag}: no run was made: {out}");
        let want =
            format!("callsim: {}: the file exists; pass --force to let {flag} overwrite it", path.display());
        assert_eq!(err.trim(), want, "{flag}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n", "{flag}: the file is untouched");
    }
    let existing = temp("existing-record.json", "keep me\n");
    let new_trace = fresh("not-created.jsonl");
    let (code, _, err) = run_writing("--record", &existing, &["--trace", new_trace.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!new_trace.exists(), "the refusal left no empty trace file behind");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/01_accept_and_end.json");
    let trace = temp("existing-replay-trace.jsonl", "keep me\n");
    let (code, out, err) = callsim(&["replay", scenario, "--trace", trace.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("pass --force to let --trace overwrite it"), "{err}");
    assert_eq!(std::fs::read_to_string(&trace).unwrap(), "keep me\n");
}

/// With `--force`, an existing file is overwritten with the recording or the trace.
#[test]
fn with_force_an_existing_output_file_is_overwritten() {
    let record = temp("forced-record.json", "old\n");
    let (code, _, err) = run_writing("--record", &record, &["--force"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = callsim(&["replay", record.to_str().unwrap()]);
    assert_eq!(code, 0, "the recording replaced the old text: {out}");
    let trace = temp("forced-trace.jsonl", "old\n");
    let (code, _, err) = run_writing("--trace", &trace, &["--force"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.lines().count() > 1 && text.lines().all(|l| l.starts_with('{')), "JSON lines only");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/01_accept_and_end.json");
    let trace = temp("forced-replay-trace.jsonl", "old\n");
    let (code, _, err) = callsim(&["replay", scenario, "--trace", trace.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(!std::fs::read_to_string(&trace).unwrap().contains("old"), "the trace replaced the old text");
}

/// A new file needs no `--force`: the recording and the trace are written as before.
#[test]
fn a_new_output_file_is_written_without_force() {
    let (record, trace) = (fresh("new-record.json"), fresh("new-trace.jsonl"));
    let (code, _, err) = run_writing("--record", &record, &["--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = callsim(&["replay", record.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(&trace).unwrap().lines().count() > 1, "the trace was written");
}

/// A folder's walk leaves out cargo's build output (`target/`, at any depth) and hidden folders
/// (`.git/`): the broken JSON files in them are never read. A folder named on the command line
/// is walked whatever its name.
#[test]
fn replay_of_a_folder_skips_target_and_hidden_folders() {
    let root = std::env::temp_dir().join(format!("callsim-cli-skip-{}", std::process::id()));
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    for folder in ["target/release", ".git", "sub/target", "sub/.cache"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        std::fs::write(root.join(folder).join("broken.json"), "{ not a scenario").unwrap();
    }
    std::fs::copy(format!("{suite}/01_accept_and_end.json"), root.join("01.json")).unwrap();
    std::fs::copy(format!("{suite}/07_cancel.json"), root.join("sub/07.json")).unwrap();
    let (code, out, err) = callsim(&["replay", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS ")).count(), 2, "{out}");
    assert!(!err.contains("broken.json"), "{err}");
    let (code, _, err) = callsim(&["replay", root.join("target").to_str().unwrap()]);
    assert_eq!(code, 2, "a target folder named on the command line is read: {err}");
    assert!(err.contains("broken.json"), "{err}");
}
