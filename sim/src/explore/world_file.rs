//! A world written as a file (`callsim explore --world-file PATH`): JSON, so that a world other
//! than the named ones can be explored without changing the code. The format is in
//! docs/verification.md, "World files"; every field but `users` may be left out.
//!
//! The settings a file leaves out are the explorer's small ones ([`World::small_config`]), not the
//! contract's defaults: a 45-second ring timeout at 1 ms a step is no world to explore (the
//! world's limits refuse it). A file is checked as a named world is ([`World::validate`]).

use super::world::{BadWorld, Cmd, UserPlan, World};
use callcore::Config;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;

/// A world file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    /// A short name for reports (default: the file's name without its extension).
    #[serde(default)]
    name: Option<String>,
    /// The users, ids 0, 1, ... in this order.
    users: Vec<UserFile>,
    /// The groups: each a list of member user ids (group ids 0, 1, ... in this order).
    #[serde(default)]
    groups: Vec<Vec<u32>>,
    /// The call semantics' settings the file changes (the rest are the explorer's small ones).
    #[serde(default)]
    config: Map<String, Value>,
    /// The shortest one-way latency, ms.
    #[serde(default = "one_ms")]
    latency_ms_min: u64,
    /// The longest one-way latency, ms.
    #[serde(default = "one_ms")]
    latency_ms_max: u64,
    /// Disconnects of any device, in total.
    #[serde(default)]
    disconnects_max: u8,
}

/// A user as a world file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    /// Its devices (default 1).
    #[serde(default = "one_device")]
    devices: u16,
    /// The commands it may issue.
    alphabet: Vec<Cmd>,
    /// How many commands it issues at most.
    commands_max: u8,
    /// Whether its devices are registered for push from the start.
    #[serde(default)]
    push: bool,
}

fn one_ms() -> u64 {
    1
}

fn one_device() -> u16 {
    1
}

impl World {
    /// Reads and checks a world file; `path` names it in errors and gives the default name.
    pub fn load(path: &Path) -> Result<World, BadWorld> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BadWorld(format!("cannot read {}: {e}", path.display())))?;
        let stem = path.file_stem().map_or_else(|| "world".to_owned(), |s| s.to_string_lossy().into_owned());
        World::parse(&text, &stem).map_err(|BadWorld(why)| BadWorld(format!("{}: {why}", path.display())))
    }

    /// Parses and checks world-file text; `default_name` names the world if the text does not.
    pub fn parse(text: &str, default_name: &str) -> Result<World, BadWorld> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let at =
            |e: &serde_json::Error| format!("line {} column {}: {}", e.line(), e.column(), strip_position(e));
        let file: WorldFile = serde_json::from_str(text).map_err(|e| BadWorld(at(&e)))?;
        let mut config = match serde_json::to_value(World::small_config(false)) {
            Ok(Value::Object(map)) => map,
            _ => unreachable!("a config is written as an object"),
        };
        config.extend(file.config);
        let config: Config = serde_json::from_value(Value::Object(config))
            .map_err(|e| BadWorld(format!("config: {}", strip_position(&e))))?;
        let users = file
            .users
            .into_iter()
            .map(|u| UserPlan {
                devices: u.devices,
                alphabet: u.alphabet,
                commands_max: u.commands_max,
                push: u.push,
            })
            .collect();
        let world = World {
            name: file.name.unwrap_or_else(|| default_name.to_owned()),
            users,
            groups: file.groups,
            config,
            latency_ms_min: file.latency_ms_min,
            latency_ms_max: file.latency_ms_max,
            disconnects_max: file.disconnects_max,
        };
        world.validate()?;
        Ok(world)
    }
}

/// A serde message without the " at line L column C" it ends with (the caller says where), in
/// the format's words where serde's are about Rust types.
fn strip_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.contains("expected newtype variant") {
        // `"initiate"` written alone: the only command with a value.
        return r#"an initiate names its receiver: {"initiate": {"user": N}} or {"initiate": {"group": N}}"#
            .to_owned();
    }
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}
