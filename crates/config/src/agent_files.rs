//! Agent files: `.code-mesh/agents/NAME.md` in the repository, one agent profile each.
//!
//! The file name (without `.md`) is the profile's name. The file may open with front matter
//! between two `---` lines, one `key: value` per line (`#` starts a comment line):
//!
//! ```text
//! ---
//! description: Reviews changes for our house rules.
//! tools: read, grep, glob, git_diff
//! model: anthropic/claude-sonnet-4-5
//! temperature: 0.2
//! max_turns: 20
//! ---
//! You are the Reviewer. Check every change against docs/rules.md ...
//! ```
//!
//! The body after the front matter is the profile's prompt; an empty body keeps the prompt
//! of the layer below. `tools` is a comma-separated list (optionally in `[...]`), `*` for
//! every tool. Values may be quoted with `"` or `'`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use code_mesh_protocol::config::AgentProfileConfig;

use crate::schema::closest;

/// Where agent files live, relative to the workspace root.
pub const AGENTS_DIR: &str = ".code-mesh/agents";

/// The keys front matter may set.
const KEYS: [&str; 6] = [
    "name",
    "description",
    "tools",
    "model",
    "temperature",
    "max_turns",
];

/// One parsed agent file.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFile {
    /// The file.
    pub path: PathBuf,
    /// The profile's name: the file name without `.md`.
    pub name: String,
    /// What it sets.
    pub fields: AgentProfileConfig,
    /// The 1-based line of each key set, by key (`prompt` is the body's first line).
    pub lines: BTreeMap<String, usize>,
}

/// An agent file that cannot be read or parsed. `Display` is one line naming the file, the
/// line and the key.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct AgentFileError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the problem (0 when the file cannot be read).
    pub line: usize,
    /// The key at fault, if any.
    pub key: Option<String>,
    /// What is wrong and what to do instead.
    pub message: String,
}

/// Reads every `*.md` file in `<workspace_root>/.code-mesh/agents`, sorted by name. A missing
/// directory is no agent files.
pub fn load_agent_files(workspace_root: &Path) -> Result<Vec<AgentFile>, AgentFileError> {
    let dir = workspace_root.join(AGENTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(unreadable(&dir, &error)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| unreadable(&dir, &error))?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "md") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|error| unreadable(&path, &error))?;
            parse_agent_file(&path, &text)
        })
        .collect()
}

fn unreadable(path: &Path, error: &std::io::Error) -> AgentFileError {
    AgentFileError {
        path: path.to_owned(),
        line: 0,
        key: None,
        message: format!("cannot read the agent file ({error}); check its permissions"),
    }
}

/// Parses one agent file's text; `path` names the profile and the errors.
pub fn parse_agent_file(path: &Path, text: &str) -> Result<AgentFile, AgentFileError> {
    let fail = |line: usize, key: Option<&str>, message: String| AgentFileError {
        path: path.to_owned(),
        line,
        key: key.map(str::to_owned),
        message,
    };
    let name = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default()
        .to_owned();
    let mut fields = AgentProfileConfig::default();
    let mut lines = BTreeMap::new();
    let all: Vec<&str> = text.lines().collect();
    let body_start = if all.first().map(|line| line.trim_end()) == Some("---") {
        let Some(close) = all.iter().skip(1).position(|line| line.trim_end() == "---") else {
            return Err(fail(
                1,
                None,
                "the front matter opened by `---` is never closed; end it with a line `---`"
                    .to_owned(),
            ));
        };
        let close = close + 1;
        for (index, raw) in all.iter().enumerate().take(close).skip(1) {
            let number = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(fail(
                    number,
                    None,
                    format!("expected `key: value` in the front matter, got `{line}`"),
                ));
            };
            let key = key.trim();
            let value = unquote(value.trim());
            if !KEYS.contains(&key) {
                let suggestion = closest(key, &KEYS)
                    .map(|close| format!(" (did you mean `{close}`?)"))
                    .unwrap_or_default();
                return Err(fail(
                    number,
                    Some(key),
                    format!(
                        "unknown key `{key}`{suggestion}; the keys are {}",
                        KEYS.map(|k| format!("`{k}`")).join(", ")
                    ),
                ));
            }
            if lines.insert(key.to_owned(), number).is_some() {
                return Err(fail(
                    number,
                    Some(key),
                    format!("`{key}` is set twice; keep one"),
                ));
            }
            match key {
                "name" if value != name => {
                    return Err(fail(
                        number,
                        Some(key),
                        format!(
                            "`name: {value}` differs from the file's name `{name}`; rename the \
                             file to `{value}.md` or remove the `name` line"
                        ),
                    ));
                }
                "description" => fields.description = Some(value.to_owned()),
                "model" => fields.model = Some(value.to_owned()),
                "tools" => fields.tools = Some(tool_list(value)),
                "temperature" => {
                    let parsed = value.parse::<f32>().ok().filter(|t| t.is_finite());
                    let Some(temperature) = parsed else {
                        return Err(fail(
                            number,
                            Some(key),
                            format!("`temperature: {value}` is not a number; use e.g. `0.2`"),
                        ));
                    };
                    fields.temperature = Some(temperature);
                }
                "max_turns" => {
                    let Ok(max_turns) = value.parse::<u32>() else {
                        return Err(fail(
                            number,
                            Some(key),
                            format!("`max_turns: {value}` is not a whole number; use e.g. `30`"),
                        ));
                    };
                    fields.max_turns = Some(max_turns);
                }
                _ => {}
            }
        }
        close + 1
    } else {
        0
    };
    let body = all.get(body_start..).unwrap_or_default().join("\n");
    if !body.trim().is_empty() {
        let first = all
            .iter()
            .skip(body_start)
            .position(|line| !line.trim().is_empty())
            .unwrap_or_default();
        lines.insert("prompt".to_owned(), body_start + first + 1);
        fields.prompt = Some(body.trim().to_owned());
    }
    Ok(AgentFile {
        path: path.to_owned(),
        name,
        fields,
        lines,
    })
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

fn tool_list(value: &str) -> Vec<String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(value);
    inner
        .split(',')
        .map(|tool| unquote(tool.trim()).trim().to_owned())
        .filter(|tool| !tool.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn parse(text: &str) -> Result<AgentFile, AgentFileError> {
        parse_agent_file(Path::new("/repo/.code-mesh/agents/reviewer.md"), text)
    }

    #[test]
    fn front_matter_and_body_become_the_profile() {
        let file = parse(
            "---\n# house reviewer\ndescription: \"Reviews: strictly.\"\ntools: [read, 'grep', git_diff]\n\
             model: openai/gpt-4o\ntemperature: 0.1\nmax_turns: 12\nname: reviewer\n---\n\n\
             You are strict.\nCheck everything.\n",
        )
        .unwrap();
        assert_eq!(
            file.fields,
            AgentProfileConfig {
                description: Some("Reviews: strictly.".into()),
                prompt: Some("You are strict.\nCheck everything.".into()),
                tools: Some(vec!["read".into(), "grep".into(), "git_diff".into()]),
                model: Some("openai/gpt-4o".into()),
                temperature: Some(0.1),
                max_turns: Some(12),
            }
        );
        assert_eq!(file.name, "reviewer");
        assert_eq!(file.lines["tools"], 4);
        assert_eq!(file.lines["prompt"], 11);
    }

    #[test]
    fn a_file_without_front_matter_is_all_prompt_and_an_empty_body_sets_none() {
        let file = parse("Only a prompt.\n").unwrap();
        assert_eq!(file.fields.prompt.as_deref(), Some("Only a prompt."));
        assert_eq!(file.lines["prompt"], 1);
        let file = parse("---\nmodel: a/b\n---\n\n").unwrap();
        assert_eq!(file.fields.prompt, None);
        assert_eq!(file.fields.model.as_deref(), Some("a/b"));
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        let cases = [
            (
                "---\ndescription: x\ntemprature: 0.3\n---\nbody",
                "/repo/.code-mesh/agents/reviewer.md:3: unknown key `temprature` (did you mean \
                 `temperature`?); the keys are `name`, `description`, `tools`, `model`, \
                 `temperature`, `max_turns`",
            ),
            (
                "---\ntemperature: warm\n---\n",
                "/repo/.code-mesh/agents/reviewer.md:2: `temperature: warm` is not a number; use \
                 e.g. `0.2`",
            ),
            (
                "---\n\nmax_turns: -1\n---\n",
                "/repo/.code-mesh/agents/reviewer.md:3: `max_turns: -1` is not a whole number; \
                 use e.g. `30`",
            ),
            (
                "---\ndescription x\n---\n",
                "/repo/.code-mesh/agents/reviewer.md:2: expected `key: value` in the front \
                 matter, got `description x`",
            ),
            (
                "---\ndescription: x\n",
                "/repo/.code-mesh/agents/reviewer.md:1: the front matter opened by `---` is \
                 never closed; end it with a line `---`",
            ),
            (
                "---\nmodel: a/b\nmodel: c/d\n---\n",
                "/repo/.code-mesh/agents/reviewer.md:3: `model` is set twice; keep one",
            ),
            (
                "---\nname: coder\n---\n",
                "/repo/.code-mesh/agents/reviewer.md:2: `name: coder` differs from the file's \
                 name `reviewer`; rename the file to `coder.md` or remove the `name` line",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn load_reads_md_files_in_name_order_and_a_missing_dir_is_empty() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(load_agent_files(root.path()).unwrap(), Vec::new());
        let dir = root.path().join(AGENTS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tester.md"), "Test.").unwrap();
        std::fs::write(dir.join("analyst.md"), "Analyse.").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let names: Vec<String> = load_agent_files(root.path())
            .unwrap()
            .into_iter()
            .map(|file| file.name)
            .collect();
        assert_eq!(names, ["analyst", "tester"]);
    }
}
