//! `code-mesh agents`: the agent profiles, and the loading that every agent run shares.
//!
//! Profiles come in four layers, lowest first: the built-in ten, `[agents.profiles.NAME]` in
//! the global config, the same in the project's `code-mesh.toml` (the config loader merges
//! those two key by key), and `.code-mesh/agents/NAME.md` files in the repository. Each layer
//! changes only the fields it sets; a new name adds a profile.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use code_mesh_config::{AgentFileError, Origin, load_agent_files};
use code_mesh_core::agents::{
    DELEGATE_TOOL, ProfileError, ProfileOverride, builtin_profiles, closest_name, merge_profiles,
};
use code_mesh_protocol::AgentProfile;
use serde::Serialize;

use crate::args::{AgentsCommand, GlobalArgs};
use crate::exit::{CliError, Exit};
use crate::setup::{self, Context};

/// The field keys of `[agents.profiles.NAME]`, for finding where each was set.
const FIELDS: [&str; 6] = [
    "description",
    "prompt",
    "tools",
    "model",
    "temperature",
    "max_turns",
];

pub fn agents(global: &GlobalArgs, command: AgentsCommand) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    let profiles = load_profiles(&context)?;
    match command {
        AgentsCommand::List { json } => {
            if json {
                let rows: Vec<ListRow<'_>> = profiles.iter().map(ListRow::from).collect();
                print_json(&rows)?;
            } else {
                print_table(&profiles);
            }
        }
        AgentsCommand::Show { name, json } => {
            let profile = find_profile(&profiles, &name)?;
            if json {
                print_json(profile)?;
            } else {
                print_profile(profile);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every profile of this setup: built-ins, config tables, then agent files.
pub fn load_profiles(context: &Context) -> Result<Vec<AgentProfile>, CliError> {
    let mut overrides = config_overrides(context);
    let files = load_agent_files(&context.workspace).map_err(agent_file_error)?;
    for file in files {
        let origin = file.path.display().to_string();
        let locations = file
            .lines
            .iter()
            .map(|(key, line)| (key.clone(), format!("{origin}:{line}")))
            .collect();
        overrides.push(ProfileOverride {
            name: file.name,
            fields: file.fields,
            origin,
            locations,
        });
    }
    merge_profiles(builtin_profiles(), &overrides, &known_tools()).map_err(profile_error)
}

/// The profile called `name`, or an error suggesting the closest name.
pub fn find_profile<'a>(
    profiles: &'a [AgentProfile],
    name: &str,
) -> Result<&'a AgentProfile, CliError> {
    profiles
        .iter()
        .find(|profile| profile.name == name)
        .ok_or_else(|| {
            let names = profiles.iter().map(|profile| profile.name.as_str());
            let suggestion = closest_name(name, names.clone())
                .map(|close| format!(" (did you mean `{close}`?)"))
                .unwrap_or_default();
            CliError::usage(
                format!("no agent profile `{name}`{suggestion}"),
                format!(
                    "the profiles are {}; `code-mesh agents list` describes them",
                    names
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// The tool names a profile may list: the built-in tools, the memory tools and `delegate`.
pub fn known_tools() -> Vec<String> {
    let mut names = code_mesh_tools::builtin_tools().names();
    for extra in ["remember", "recall", DELEGATE_TOOL] {
        if !names.iter().any(|name| name == extra) {
            names.push(extra.to_owned());
        }
    }
    names
}

/// One override per `[agents.profiles.NAME]` table of the merged config, located by the
/// config's origins (global and project tables are already merged key by key).
fn config_overrides(context: &Context) -> Vec<ProfileOverride> {
    let loaded = &context.loaded;
    loaded
        .config
        .agents
        .profiles
        .iter()
        .map(|(name, fields)| {
            let mut locations = BTreeMap::new();
            let mut sources: Vec<String> = Vec::new();
            for field in FIELDS {
                let Some(origin) = loaded.origin(&format!("agents.profiles.{name}.{field}")) else {
                    continue;
                };
                let source = match origin {
                    Origin::File { path, .. } => path.display().to_string(),
                    other => other.to_string(),
                };
                if !sources.contains(&source) {
                    sources.push(source);
                }
                locations.insert(field.to_owned(), origin.to_string());
            }
            ProfileOverride {
                name: name.clone(),
                fields: fields.clone(),
                origin: sources.join(" + "),
                locations,
            }
        })
        .collect()
}

fn profile_error(error: ProfileError) -> CliError {
    CliError::usage(
        error,
        "fix the profile, or remove the key to keep the built-in value; `code-mesh agents show \
         NAME` shows a profile",
    )
}

fn agent_file_error(error: AgentFileError) -> CliError {
    CliError::usage(
        error,
        "an agent file is optional front matter between `---` lines (`key: value`, keys \
         description, tools, model, temperature, max_turns) followed by the prompt",
    )
}

/// A profile as `agents list --json` shows it: everything but the prompt.
#[derive(Serialize)]
struct ListRow<'a> {
    name: &'a str,
    description: &'a str,
    /// `None`: the run's model.
    model: Option<&'a str>,
    /// `None`: every tool.
    tools: Option<&'a [String]>,
    temperature: Option<f32>,
    max_turns: Option<u32>,
    origin: &'a str,
}

impl<'a> From<&'a AgentProfile> for ListRow<'a> {
    fn from(profile: &'a AgentProfile) -> Self {
        ListRow {
            name: &profile.name,
            description: &profile.description,
            model: profile.model.as_deref(),
            tools: profile.tools.as_deref(),
            temperature: profile.temperature,
            max_turns: profile.max_turns,
            origin: &profile.origin,
        }
    }
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot encode JSON: {err}")))?;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
}

fn model_text(profile: &AgentProfile) -> &str {
    profile.model.as_deref().unwrap_or("run's model")
}

fn tools_text(profile: &AgentProfile) -> String {
    match &profile.tools {
        None => "all".to_owned(),
        Some(tools) => tools.len().to_string(),
    }
}

fn print_table(profiles: &[AgentProfile]) {
    let header = ["NAME", "MODEL", "TOOLS", "ORIGIN", "DESCRIPTION"];
    let cells: Vec<[String; 5]> = profiles
        .iter()
        .map(|profile| {
            [
                profile.name.clone(),
                model_text(profile).to_owned(),
                tools_text(profile),
                profile.origin.clone(),
                profile.description.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(header));
    for row in &cells {
        let _ = writeln!(out, "{}", line(row.each_ref().map(String::as_str)));
    }
}

fn print_profile(profile: &AgentProfile) {
    let mut out = std::io::stdout().lock();
    let optional = |value: Option<String>| value.unwrap_or_else(|| "run's setting".to_owned());
    let tools = match &profile.tools {
        None => "all".to_owned(),
        Some(tools) if tools.is_empty() => "none".to_owned(),
        Some(tools) => tools.join(", "),
    };
    let _ = writeln!(out, "name:        {}", profile.name);
    let _ = writeln!(out, "description: {}", profile.description);
    let _ = writeln!(out, "origin:      {}", profile.origin);
    let _ = writeln!(out, "model:       {}", model_text(profile));
    let _ = writeln!(
        out,
        "temperature: {}",
        optional(profile.temperature.map(|t| t.to_string()))
    );
    let _ = writeln!(
        out,
        "max_turns:   {}",
        optional(profile.max_turns.map(|t| t.to_string()))
    );
    let _ = writeln!(out, "tools:       {tools}");
    let _ = writeln!(out, "\n{}", profile.prompt);
}
