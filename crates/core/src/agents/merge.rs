//! Layering profile overrides (config tables, agent files) over the built-in profiles.
//!
//! Pure: the callers read the files; this module checks the values and merges them.

use std::collections::BTreeMap;

use code_mesh_protocol::AgentProfile;
use code_mesh_protocol::config::AgentProfileConfig;

/// The tool list entry that means "every tool".
pub const ALL_TOOLS: &str = "*";

/// Highest sampling temperature a profile may set.
pub const MAX_TEMPERATURE: f32 = 2.0;

/// One layer's settings for one profile: a `[agents.profiles.NAME]` table or an agent file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileOverride {
    /// The profile it changes or adds.
    pub name: String,
    /// The fields it sets; unset fields keep the lower layer's value.
    pub fields: AgentProfileConfig,
    /// Where it comes from (a file path), added to the profile's origin (`built-in + PATH`).
    pub origin: String,
    /// Where each field was written (`path:line`), by field name, for error messages; a field
    /// missing here is reported at `origin`.
    pub locations: BTreeMap<String, String>,
}

impl ProfileOverride {
    fn location(&self, key: &str) -> &str {
        self.locations
            .get(key)
            .map_or(self.origin.as_str(), String::as_str)
    }
}

/// A profile override that cannot be applied. `Display` is one sentence naming the place, the
/// profile and the key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{location}: agent profile `{profile}`: {message}")]
pub struct ProfileError {
    /// `path:line` (or the path) of the offending value.
    pub location: String,
    /// The profile's name.
    pub profile: String,
    /// The field at fault, e.g. `temperature`.
    pub key: String,
    /// What is wrong and what to do instead.
    pub message: String,
}

/// Applies `overrides` in order over `base` (lowest layer first, so later ones win field by
/// field). A new name adds a profile after the existing ones and must set a `prompt`. Tool
/// names are checked against `known_tools`; `["*"]` means every tool.
pub fn merge_profiles(
    base: Vec<AgentProfile>,
    overrides: &[ProfileOverride],
    known_tools: &[String],
) -> Result<Vec<AgentProfile>, ProfileError> {
    let mut profiles = base;
    for layer in overrides {
        check_name(layer)?;
        let index = match profiles.iter().position(|p| p.name == layer.name) {
            Some(index) => index,
            None => {
                if layer.fields.prompt.is_none() {
                    return Err(error(
                        layer,
                        "prompt",
                        format!(
                            "is not a built-in agent and sets no `prompt`; give it a prompt, or \
                             use one of the existing names{}",
                            did_you_mean(
                                &layer.name,
                                profiles.iter().map(|profile| profile.name.as_str())
                            )
                        ),
                    ));
                }
                profiles.push(AgentProfile {
                    name: layer.name.clone(),
                    description: String::new(),
                    prompt: String::new(),
                    tools: None,
                    model: None,
                    temperature: None,
                    max_turns: None,
                    origin: String::new(),
                });
                profiles.len() - 1
            }
        };
        apply(&mut profiles[index], layer, known_tools)?;
    }
    Ok(profiles)
}

fn apply(
    profile: &mut AgentProfile,
    layer: &ProfileOverride,
    known_tools: &[String],
) -> Result<(), ProfileError> {
    let fields = &layer.fields;
    if let Some(description) = &fields.description {
        profile.description = description.trim().to_owned();
    }
    if let Some(prompt) = &fields.prompt {
        if prompt.trim().is_empty() {
            return Err(error(
                layer,
                "prompt",
                "has an empty `prompt`; write the agent's instructions, or leave the key out to \
                 keep the current ones"
                    .to_owned(),
            ));
        }
        profile.prompt = prompt.trim().to_owned();
    }
    if let Some(tools) = &fields.tools {
        profile.tools = check_tools(layer, tools, known_tools)?;
    }
    if let Some(model) = &fields.model {
        if model.trim().is_empty() {
            return Err(error(
                layer,
                "model",
                "has an empty `model`; give `provider/model`, or leave the key out to use the \
                 run's model"
                    .to_owned(),
            ));
        }
        profile.model = Some(model.trim().to_owned());
    }
    if let Some(temperature) = fields.temperature {
        if !(0.0..=MAX_TEMPERATURE).contains(&temperature) {
            return Err(error(
                layer,
                "temperature",
                format!("`temperature` {temperature} is out of range; use a number from 0 to 2"),
            ));
        }
        profile.temperature = Some(temperature);
    }
    if let Some(max_turns) = fields.max_turns {
        if max_turns == 0 {
            return Err(error(
                layer,
                "max_turns",
                "`max_turns` is 0; allow at least 1 model request".to_owned(),
            ));
        }
        profile.max_turns = Some(max_turns);
    }
    profile.origin = if profile.origin.is_empty() {
        layer.origin.clone()
    } else {
        format!("{} + {}", profile.origin, layer.origin)
    };
    Ok(())
}

fn check_name(layer: &ProfileOverride) -> Result<(), ProfileError> {
    let valid = !layer.name.is_empty()
        && layer
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(error(
            layer,
            "name",
            "is not a valid agent name; use lowercase letters, digits, `-` and `_`".to_owned(),
        ))
    }
}

fn check_tools(
    layer: &ProfileOverride,
    tools: &[String],
    known_tools: &[String],
) -> Result<Option<Vec<String>>, ProfileError> {
    if tools.iter().any(|tool| tool == ALL_TOOLS) {
        if tools.len() > 1 {
            return Err(error(
                layer,
                "tools",
                "`tools` mixes `*` with tool names; use `[\"*\"]` alone for every tool, or list \
                 the tools"
                    .to_owned(),
            ));
        }
        return Ok(None);
    }
    let mut checked: Vec<String> = Vec::with_capacity(tools.len());
    for tool in tools {
        if !known_tools.iter().any(|known| known == tool) {
            return Err(error(
                layer,
                "tools",
                format!(
                    "unknown tool `{tool}` in `tools`{}; the tools are {}",
                    did_you_mean(tool, known_tools.iter().map(String::as_str)),
                    known_tools
                        .iter()
                        .map(|known| format!("`{known}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !checked.contains(tool) {
            checked.push(tool.clone());
        }
    }
    Ok(Some(checked))
}

fn error(layer: &ProfileOverride, key: &str, message: String) -> ProfileError {
    ProfileError {
        location: layer.location(key).to_owned(),
        profile: layer.name.clone(),
        key: key.to_owned(),
        message,
    }
}

fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest_name(name, candidates) {
        Some(close) => format!(" (did you mean `{close}`?)"),
        None => String::new(),
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance counting an adjacent swap as one edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::agents::builtin_profiles;

    fn known() -> Vec<String> {
        ["read", "grep", "bash", "edit", "write", "recall"]
            .map(str::to_owned)
            .to_vec()
    }

    fn layer(name: &str, origin: &str, fields: AgentProfileConfig) -> ProfileOverride {
        ProfileOverride {
            name: name.to_owned(),
            fields,
            origin: origin.to_owned(),
            locations: BTreeMap::new(),
        }
    }

    fn find<'a>(profiles: &'a [AgentProfile], name: &str) -> &'a AgentProfile {
        profiles.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn an_override_changes_only_the_fields_it_sets() {
        let builtin = builtin_profiles();
        let merged = merge_profiles(
            builtin.clone(),
            &[layer(
                "reviewer",
                "/repo/code-mesh.toml",
                AgentProfileConfig {
                    model: Some("openai/gpt-4o".into()),
                    ..AgentProfileConfig::default()
                },
            )],
            &known(),
        )
        .unwrap();
        let before = find(&builtin, "reviewer");
        let after = find(&merged, "reviewer");
        assert_eq!(
            after,
            &AgentProfile {
                model: Some("openai/gpt-4o".into()),
                origin: "built-in + /repo/code-mesh.toml".into(),
                ..before.clone()
            }
        );
        assert_eq!(merged.len(), builtin.len());
    }

    #[test]
    fn later_layers_win_field_by_field() {
        let merged = merge_profiles(
            builtin_profiles(),
            &[
                layer(
                    "tester",
                    "global.toml",
                    AgentProfileConfig {
                        temperature: Some(0.5),
                        max_turns: Some(7),
                        ..AgentProfileConfig::default()
                    },
                ),
                layer(
                    "tester",
                    "project.toml",
                    AgentProfileConfig {
                        temperature: Some(0.9),
                        ..AgentProfileConfig::default()
                    },
                ),
                layer(
                    "tester",
                    ".code-mesh/agents/tester.md",
                    AgentProfileConfig {
                        prompt: Some("Test everything.\n".into()),
                        tools: Some(vec!["read".into(), "bash".into(), "read".into()]),
                        ..AgentProfileConfig::default()
                    },
                ),
            ],
            &known(),
        )
        .unwrap();
        let tester = find(&merged, "tester");
        assert_eq!(tester.temperature, Some(0.9));
        assert_eq!(tester.max_turns, Some(7));
        assert_eq!(tester.prompt, "Test everything.");
        assert_eq!(tester.tools, Some(vec!["read".into(), "bash".into()]));
        assert_eq!(
            tester.origin,
            "built-in + global.toml + project.toml + .code-mesh/agents/tester.md"
        );
    }

    #[test]
    fn a_new_name_adds_a_profile_at_the_end() {
        let merged = merge_profiles(
            builtin_profiles(),
            &[layer(
                "translator",
                "agents/translator.md",
                AgentProfileConfig {
                    description: Some("Translates docs.".into()),
                    prompt: Some("Translate.".into()),
                    tools: Some(vec!["*".into()]),
                    ..AgentProfileConfig::default()
                },
            )],
            &known(),
        )
        .unwrap();
        assert_eq!(
            merged.last().unwrap(),
            &AgentProfile {
                name: "translator".into(),
                description: "Translates docs.".into(),
                prompt: "Translate.".into(),
                tools: None,
                model: None,
                temperature: None,
                max_turns: None,
                origin: "agents/translator.md".into(),
            }
        );
    }

    #[test]
    fn a_new_name_without_a_prompt_is_refused_with_a_suggestion() {
        let mut bad = layer(
            "reviwer",
            "code-mesh.toml",
            AgentProfileConfig {
                model: Some("a/b".into()),
                ..AgentProfileConfig::default()
            },
        );
        bad.locations
            .insert("model".into(), "code-mesh.toml:4".into());
        let error = merge_profiles(builtin_profiles(), &[bad], &known()).unwrap_err();
        assert_eq!(error.location, "code-mesh.toml");
        assert_eq!(error.key, "prompt");
        assert!(
            error.to_string().contains("did you mean `reviewer`?"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_tool_is_reported_at_its_line_with_a_suggestion() {
        let mut bad = layer(
            "analyst",
            ".code-mesh/agents/analyst.md",
            AgentProfileConfig {
                tools: Some(vec!["read".into(), "grpe".into()]),
                ..AgentProfileConfig::default()
            },
        );
        bad.locations
            .insert("tools".into(), ".code-mesh/agents/analyst.md:3".into());
        let error = merge_profiles(builtin_profiles(), &[bad], &known()).unwrap_err();
        assert_eq!(
            error.to_string(),
            ".code-mesh/agents/analyst.md:3: agent profile `analyst`: unknown tool `grpe` in \
             `tools` (did you mean `grep`?); the tools are `read`, `grep`, `bash`, `edit`, \
             `write`, `recall`"
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let cases = [
            (
                AgentProfileConfig {
                    temperature: Some(2.5),
                    ..AgentProfileConfig::default()
                },
                "temperature",
            ),
            (
                AgentProfileConfig {
                    temperature: Some(f32::NAN),
                    ..AgentProfileConfig::default()
                },
                "temperature",
            ),
            (
                AgentProfileConfig {
                    max_turns: Some(0),
                    ..AgentProfileConfig::default()
                },
                "max_turns",
            ),
            (
                AgentProfileConfig {
                    prompt: Some("  \n".into()),
                    ..AgentProfileConfig::default()
                },
                "prompt",
            ),
            (
                AgentProfileConfig {
                    tools: Some(vec!["*".into(), "read".into()]),
                    ..AgentProfileConfig::default()
                },
                "tools",
            ),
        ];
        for (fields, key) in cases {
            let error =
                merge_profiles(builtin_profiles(), &[layer("coder", "f", fields)], &known())
                    .unwrap_err();
            assert_eq!(error.key, key);
        }
        let error = merge_profiles(
            builtin_profiles(),
            &[layer("Bad Name", "f", AgentProfileConfig::default())],
            &known(),
        )
        .unwrap_err();
        assert_eq!(error.key, "name");
    }

    #[test]
    fn closest_name_finds_typos_only() {
        let names = ["coder", "reviewer", "tester"];
        assert_eq!(closest_name("reveiwer", names), Some("reviewer"));
        assert_eq!(closest_name("codr", names), Some("coder"));
        assert_eq!(closest_name("planner", names), None);
    }
}
