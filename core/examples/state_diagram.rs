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
}
