//! `edit`: replaces exact text in a file, and explains precisely when the text is not there.

mod closest;
mod diff;

use std::fs;
use std::io;
use std::path::Path;

use async_trait::async_trait;
use code_mesh_core::{Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking;
use crate::files::{check_writable, count_lines, create_parents, looks_binary, write_atomically};
use crate::output::{human_size, plural, thousands, truncate_end};
use crate::paths::PathPolicy;

/// Files larger than this are refused: the whole file is held and searched in memory.
const MAX_EDIT_BYTES: u64 = 10 * 1024 * 1024;
/// Line numbers listed when old_string occurs several times.
const MAX_LISTED_MATCHES: usize = 20;

const DESCRIPTION: &str = "\
Replaces exact text in a file. `old_string` must match the file's content exactly, including \
whitespace and indentation, and must occur exactly once unless `replace_all` is true.

Usage:
- Read the file first, then copy old_string from it. Do not include the line-number prefix \
(number and tab) that `read` puts before each line.
- Make old_string unique by including enough surrounding lines (usually 2-4), or set \
`replace_all` to true to change every occurrence, e.g. to rename a variable.
- new_string replaces old_string and must differ from it; an empty new_string deletes the text.
- With an empty old_string and a path that does not exist yet, edit creates the file with \
new_string as its content.
- Files with Windows line endings (CRLF) keep them; write old_string and new_string with \
plain newlines.
- When old_string is not found, the error shows the most similar text in the file with line \
numbers; fix old_string from it (or read the file again) and retry.
- The result is a diff of the change with line numbers.
- Prefer edit over `write` for existing files, and several small edits over rewriting a file.";

/// Replaces exact text in a file: `{path, old_string, new_string, replace_all?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct EditTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    path: String,
    old_string: String,
    new_string: String,
    #[serde(default)]
    replace_all: Option<bool>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "The file to change, relative to the working directory or absolute."
            },
            "old_string": {
                "type": "string",
                "description": "The exact text to replace, copied from the file without \
                    read's line-number prefixes. Empty only to create a new file."
            },
            "new_string": {
                "type": "string",
                "description": "The text to put in its place; must differ from old_string."
            },
            "replace_all": {
                "type": "boolean",
                "description": "Replace every occurrence of old_string instead of requiring \
                    exactly one. Default: false."
            }
        },
        "required": ["path", "old_string", "new_string"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for EditTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "edit".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Write
    }

    fn summarize(&self, arguments: &Value) -> String {
        let Some(path) = args::str_field(arguments, "path") else {
            return "edit a file".into();
        };
        let all = arguments.get("replace_all").and_then(Value::as_bool) == Some(true);
        let old = args::str_field(arguments, "old_string").unwrap_or_default();
        match (old.is_empty(), all) {
            (true, _) => format!("create {path}"),
            (false, true) => format!(
                "edit {path} (replace every {})",
                args::quoted_excerpt(old, 40)
            ),
            (false, false) => format!("edit {path}"),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: EditArgs = args::parse("edit", arguments, &schema)?;
        if arguments.old_string == arguments.new_string {
            return Err(args::invalid(
                "edit",
                "`old_string` and `new_string` are identical, so there is nothing to change; \
                 put the current text in old_string and the text you want instead in \
                 new_string",
                &schema,
            ));
        }
        let owned = context.clone();
        let max_output = context.limits.max_output_bytes;
        blocking::to_completion(context, move || edit_file(&owned, &arguments))
            .await
            .map(|mut text| {
                truncate_end(&mut text, max_output, |dropped| {
                    format!("[diff cut: {} more]", human_size(dropped))
                });
                ToolOutput::from(text)
            })
    }
}

fn edit_file(context: &ToolContext, arguments: &EditArgs) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let path = policy.resolve(&arguments.path)?;
    let display = policy.display(&path);
    let metadata = match fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if arguments.old_string.is_empty() {
                return create(&display, &path, &arguments.new_string);
            }
            let mut error = policy.not_found(&arguments.path, &path);
            error.message.push_str(
                " To create a new file, use `write`, or `edit` with an empty old_string.",
            );
            return Err(error);
        }
        Err(error) => {
            return Err(ToolError::new(format!(
                "cannot access `{display}`: {error}"
            )));
        }
    };
    check_writable(&display, &metadata)?;
    if metadata.len() > MAX_EDIT_BYTES {
        return Err(ToolError::new(format!(
            "`{display}` is {}; edit changes files up to {}; use bash (e.g. `sed -i`) for \
             larger files",
            human_size(metadata.len()),
            human_size(MAX_EDIT_BYTES)
        )));
    }
    let bytes = fs::read(&path)
        .map_err(|error| ToolError::new(format!("cannot read `{display}`: {error}")))?;
    if looks_binary(&bytes) {
        return Err(ToolError::new(format!(
            "`{display}` is a binary file ({}); edit changes text files only",
            human_size(bytes.len() as u64)
        )));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        let line = count_lines(&String::from_utf8_lossy(&error.as_bytes()[..at])).max(1);
        ToolError::new(format!(
            "`{display}` is not valid UTF-8 (invalid bytes on line {}); edit only changes \
             UTF-8 text; use bash (e.g. `sed -i`) to change it",
            thousands(line)
        ))
    })?;
    if arguments.old_string.is_empty() {
        if text.is_empty() {
            write_atomically(
                &display,
                &path,
                arguments.new_string.as_bytes(),
                Some(metadata.permissions()),
            )?;
            return Ok(format!(
                "wrote `{display}`, which was empty ({})",
                describe_size(&arguments.new_string)
            ));
        }
        return Err(ToolError::new(format!(
            "`old_string` is empty but `{display}` already exists and is not empty; to insert \
             text, put the lines around the insertion point in old_string and repeat them with \
             the new text in new_string; to replace the whole file, use `write`"
        )));
    }
    let change = replace(&text, arguments)
        .map_err(|problem| ToolError::new(problem.message(&display, arguments)))?;
    write_atomically(
        &display,
        &path,
        change.written.as_bytes(),
        Some(metadata.permissions()),
    )?;
    let count = change.matches.len();
    let mut out = format!(
        "edited `{display}`: replaced {}{}\n",
        plural(count as u64, "occurrence", "occurrences"),
        if change.crlf {
            " (CRLF line endings kept)"
        } else {
            ""
        }
    );
    out.push_str(&diff::snippet(
        &change.before,
        &change.after,
        &change.matches,
        change.old_len,
        change.new_len,
    ));
    Ok(out)
}

fn create(display: &str, path: &Path, content: &str) -> Result<String, ToolError> {
    create_parents(display, path)?;
    write_atomically(display, path, content.as_bytes(), None)?;
    Ok(format!("created `{display}` ({})", describe_size(content)))
}

fn describe_size(content: &str) -> String {
    format!(
        "{}, {}",
        plural(content.len() as u64, "byte", "bytes"),
        plural(count_lines(content), "line", "lines")
    )
}

/// A replacement ready to write, and what the diff needs.
#[derive(Debug)]
struct Change {
    /// The text searched and its result, in the line endings matching was done with.
    before: String,
    after: String,
    /// Byte offsets of the replaced occurrences in `before`.
    matches: Vec<usize>,
    old_len: usize,
    new_len: usize,
    /// What goes to disk: `after` with the file's line endings.
    written: String,
    crlf: bool,
}

/// Why nothing was replaced.
#[derive(Debug)]
enum Problem {
    NotFound { text: String },
    Several { text: String, matches: Vec<usize> },
}

impl Problem {
    fn message(&self, display: &str, arguments: &EditArgs) -> String {
        match self {
            Problem::NotFound { text } => {
                let old = arguments.old_string.replace("\r\n", "\n");
                closest::not_found_message(display, text, &old)
            }
            Problem::Several { text, matches } => {
                let index = closest::LineIndex::new(text);
                let mut lines: Vec<String> = matches
                    .iter()
                    .take(MAX_LISTED_MATCHES)
                    .map(|&offset| thousands(index.line_of(offset) as u64 + 1))
                    .collect();
                if matches.len() > MAX_LISTED_MATCHES {
                    lines.push("…".into());
                }
                format!(
                    "`old_string` occurs {} times in `{display}` (starting on lines {}); include \
                     more surrounding lines in old_string so it matches exactly one place, or \
                     set replace_all=true to replace every occurrence",
                    matches.len(),
                    lines.join(", ")
                )
            }
        }
    }
}

/// Finds and replaces old_string in `text`, matching line endings: a CRLF file is searched
/// with `\n` line ends and written back with CRLF; a file mixing both is searched as it is.
fn replace(text: &str, arguments: &EditArgs) -> Result<Change, Problem> {
    let old = arguments.old_string.replace("\r\n", "\n");
    let new = arguments.new_string.replace("\r\n", "\n");
    let replace_all = arguments.replace_all.unwrap_or(false);
    let crlf_count = memchr::memmem::find_iter(text.as_bytes(), b"\r\n").count();
    let lf_count = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    let all_crlf = crlf_count > 0 && crlf_count == lf_count;

    let (before, old, new) = if all_crlf {
        (text.replace("\r\n", "\n"), old, new)
    } else if crlf_count > 0 && !text.contains(&old) && old.contains('\n') {
        // Mixed endings: try the lines as CRLF.
        (
            text.to_string(),
            old.replace('\n', "\r\n"),
            new.replace('\n', "\r\n"),
        )
    } else {
        (text.to_string(), old, new)
    };
    let matches: Vec<usize> = before.match_indices(&old).map(|(at, _)| at).collect();
    match matches.len() {
        0 => return Err(Problem::NotFound { text: before }),
        1 => {}
        _ if replace_all => {}
        _ => {
            return Err(Problem::Several {
                text: before,
                matches,
            });
        }
    }
    let after = if replace_all {
        before.replace(&old, &new)
    } else {
        before.replacen(&old, &new, 1)
    };
    let written = if all_crlf {
        after.replace('\n', "\r\n")
    } else {
        after.clone()
    };
    Ok(Change {
        old_len: old.len(),
        new_len: new.len(),
        before,
        after,
        matches,
        written,
        crlf: all_crlf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(old: &str, new: &str, all: bool) -> EditArgs {
        EditArgs {
            path: "f".into(),
            old_string: old.into(),
            new_string: new.into(),
            replace_all: Some(all),
        }
    }

    #[test]
    fn crlf_files_are_matched_with_lf_and_written_with_crlf() {
        let text = "fn a() {\r\n    1\r\n}\r\n";
        let change = replace(text, &arguments("    1\n}", "    2\n    3\n}", false)).unwrap();
        assert_eq!(change.written, "fn a() {\r\n    2\r\n    3\r\n}\r\n");
        assert!(change.crlf);
    }

    #[test]
    fn mixed_endings_are_matched_as_written() {
        let text = "a\r\nb\r\nc\nd\n";
        let change = replace(text, &arguments("a\nb", "x\ny", false)).unwrap();
        assert_eq!(change.written, "x\r\ny\r\nc\nd\n");
        let change = replace(text, &arguments("c\nd", "z", false)).unwrap();
        assert_eq!(change.written, "a\r\nb\r\nz\n");
    }

    #[test]
    fn several_matches_need_replace_all() {
        let text = "x = 1\ny = 2\nx = 1\n";
        let problem = replace(text, &arguments("x = 1", "x = 3", false)).unwrap_err();
        let message = problem.message("f", &arguments("x = 1", "x = 3", false));
        assert!(
            message.contains("occurs 2 times in `f` (starting on lines 1, 3)"),
            "{message}"
        );
        let change = replace(text, &arguments("x = 1", "x = 3", true)).unwrap();
        assert_eq!(change.written, "x = 3\ny = 2\nx = 3\n");
        assert_eq!(change.matches, [0, 12]);
    }
}
