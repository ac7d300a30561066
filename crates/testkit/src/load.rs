//! Reading scripts from TOML, with errors that name the file and line.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ScriptError;
use crate::script::{Pairing, RawSse, Script, Turn};

/// The file layout: `Script` with spans kept, so a turn the planner rejects can be
/// reported at its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default)]
    turn: Vec<Spanned<Turn>>,
    #[serde(default)]
    pairing: Pairing,
}

impl Script {
    /// Parses and checks a TOML script; `raw_sse` paths are relative to `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: impl AsRef<Path>) -> Result<Script, ScriptError> {
        load(text, base_dir.as_ref(), "script")
    }

    /// Reads, parses and checks a TOML script file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Script, ScriptError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new(""));
        load(&text, base_dir, &path.display().to_string())
    }
}

fn load(text: &str, base_dir: &Path, origin: &str) -> Result<Script, ScriptError> {
    let file: ScriptFile = toml::from_str(text).map_err(|error| ScriptError::Parse {
        origin: origin.to_owned(),
        message: error.to_string().trim_end().to_owned(),
    })?;
    let lines: Vec<usize> = file
        .turn
        .iter()
        .map(|turn| line_of(text, turn.span().start))
        .collect();
    let mut script = Script {
        turns: file.turn.into_iter().map(Spanned::into_inner).collect(),
        pairing: file.pairing,
    };
    for turn in &mut script.turns {
        if let Some(RawSse::File(path)) = &mut turn.raw_sse
            && path.is_relative()
        {
            *path = base_dir.join(&*path);
        }
    }
    // Planning reads the raw streams and checks every turn: errors surface at load time.
    crate::plan::plan(&script).map_err(|error| ScriptError::Invalid {
        origin: origin.to_owned(),
        line: lines.get(error.index).copied(),
        turn: error.index + 1,
        message: error.message,
    })?;
    Ok(script)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{ToolCall, Usage};
    use serde_json::json;

    const EXAMPLE: &str = r#"
pairing = "global"

[[turn]]
text = "Let me look at the file."
[[turn.tool_calls]]
id = "call_1"
name = "read"
arguments = { path = "src/lib.rs" }

[[turn]]
model = "gpt-x"
delay_ms = 5
chunk_delay_ms = 1
cut_after = 3
usage = { prompt_tokens = 10, completion_tokens = 5 }
[turn.expect]
system_contains = ["AGENTS"]
tool_result_contains = ["exit code 0"]

[[turn]]
status = 500
body = "<html>oops</html>"
content_type = "text/html"
"#;

    #[test]
    fn a_full_script_parses_into_the_public_structs() {
        let script = Script::from_toml_str(EXAMPLE, ".").unwrap();
        assert_eq!(script.pairing, Pairing::Global);
        assert_eq!(script.turns.len(), 3);
        assert_eq!(
            script.turns[0],
            Turn::reply("Let me look at the file.").with_tool_call(
                ToolCall::new("read", json!({"path": "src/lib.rs"})).with_id("call_1")
            )
        );
        let second = &script.turns[1];
        assert_eq!(second.model.as_deref(), Some("gpt-x"));
        assert_eq!((second.delay_ms, second.chunk_delay_ms), (5, 1));
        assert_eq!(second.cut_after, Some(3));
        assert_eq!(
            second.usage,
            Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 5
            })
        );
        assert_eq!(second.expect.system_contains, vec!["AGENTS".to_owned()]);
        assert_eq!(script.turns[2].status, Some(500));
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let text = "[[turn]]\ntext = \"hi\"\n\n[[turn]]\ntxet = \"typo\"\n";
        let error = Script::from_toml_str(text, ".").unwrap_err().to_string();
        assert!(error.starts_with("script: "), "{error}");
        assert!(error.contains("line 5"), "{error}");
        assert!(error.contains("txet"), "{error}");
    }

    #[test]
    fn unknown_keys_in_nested_tables_are_errors() {
        let text = "[[turn]]\n[turn.expect]\nsystem_contain = [\"x\"]\n";
        let error = Script::from_toml_str(text, ".").unwrap_err().to_string();
        assert!(error.contains("line 3"), "{error}");
        let text = "[[turn]]\n[[turn.tool_calls]]\nname = \"a\"\nargs = {}\n";
        let error = Script::from_toml_str(text, ".").unwrap_err().to_string();
        assert!(error.contains("line 4"), "{error}");
    }

    #[test]
    fn invalid_turns_are_reported_at_their_line() {
        let text = "[[turn]]\ntext = \"ok\"\n\n[[turn]]\nstatus = 500\ntext = \"both\"\n";
        let error = Script::from_toml_str(text, ".").unwrap_err().to_string();
        assert!(error.starts_with("script:4: turn 2: "), "{error}");
    }

    #[test]
    fn files_are_named_and_raw_sse_is_relative_to_the_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.sse"), "data: [DONE]\n\n").unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "[[turn]]\nraw_sse = \"x.sse\"\n").unwrap();
        let script = Script::from_file(&path).unwrap();
        assert_eq!(
            script.turns[0].raw_sse,
            Some(RawSse::File(dir.path().join("x.sse")))
        );
        std::fs::write(&path, "[[turn]]\nraw_sse = \"missing.sse\"\n").unwrap();
        let error = Script::from_file(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}:1: turn 1: cannot read", path.display())),
            "{error}"
        );
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let error = Script::from_file("/nonexistent/script.toml").unwrap_err();
        assert!(matches!(error, ScriptError::Read { .. }), "{error:?}");
    }
}
