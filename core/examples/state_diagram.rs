//! Prints docs/state-machine.md: the call lifecycle's Mermaid diagram generated from the
//! transition table (`cargo run -p callcore --example state_diagram > docs/state-machine.md`).

fn main() {
    println!("# The call lifecycle\n");
    println!(
        "Generated from `callcore::table::ONE_TO_ONE` and `GROUP` by `cargo run -p callcore --example state_diagram`;"
    );
    println!("a test fails when this file and the code disagree. `alerting` and `terminal` are the statig");
    println!(
        "superstates: while alerting, the receiver may accept or decline, the initiator may withdraw and the"
    );
    println!("ring timeout may fire; a terminal state absorbs every event.\n");
    println!("```mermaid\n{}```\n", callcore::table::mermaid());
    println!("| from | input | by | to | the initiator's devices get | the receiver's devices get |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for row in callcore::table::ONE_TO_ONE.iter().chain(callcore::table::GROUP) {
        let from: Vec<&str> = row.from.iter().map(|s| s.name()).collect();
        let from = if from.is_empty() { "(none)".to_owned() } else { from.join("/") };
        let by = serde_json::to_value(row.by).expect("serializable");
        println!(
            "| {from} | {} | {} | {} | {} | {} |",
            row.input,
            by.as_str().unwrap_or_default(),
            row.to,
            row.initiator_gets,
            row.receiver_gets
        );
    }
    println!("\n## Pushes to a rung user's devices\n");
    println!(
        "Generated from `callcore::push::ROWS`. Each (call, device) pair of a rung user is a small machine;"
    );
    println!(
        "a pair absent from the rows changes nothing and emits nothing. A push `cancel` carries the reason"
    );
    println!("`incoming_call_cancelled` would have carried on the device.\n");
    println!("| from | event | to | the switchboard emits |");
    println!("| --- | --- | --- | --- |");
    let word = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    for row in callcore::push::ROWS {
        println!(
            "| {} | {} | {} | {} |",
            word(serde_json::to_value(row.from).expect("serializable")),
            word(serde_json::to_value(row.event).expect("serializable")),
            word(serde_json::to_value(row.to).expect("serializable")),
            word(serde_json::to_value(row.emit).expect("serializable")),
        );
    }
}
