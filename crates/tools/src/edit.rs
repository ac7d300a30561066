//! `edit`: replaces exact text in a file, and explains precisely when the text is not there.

mod closest;
mod diff;
mod matching;

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
use crate::editable;
use crate::files::{count_lines, create_parents};
use crate::output::{human_size, plural, thousands, truncate_end};
use crate::paths::PathPolicy;
use crate::text::{Encoding, LineEndings};

use matching::Fuzzy;
pub(crate) use matching::{Fallback, Reindent};
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
plain newlines. UTF-8 files with a byte-order mark and UTF-16 files keep their encoding.
- When old_string is not in the file exactly, edit tries whole lines ignoring indentation and \
trailing whitespace (re-indenting new_string to match the file), then a block anchored on \
old_string's first and last lines; each is used only when it fits exactly one place, and the \
result says so. Otherwise the error shows the most similar text in the file with line \
numbers; fix old_string from it (or read the file again) and retry.
- A file changed by something else (a command, the user) since you last read or wrote it is \
refused: read it again first.
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

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        args::path_target(arguments, None)
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
                return create(context, &display, &path, &arguments.new_string);
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
    let file = editable::load(context, &path, &display, &metadata)?;
    if arguments.old_string.is_empty() {
        if file.text.is_empty() {
            file.save(context, &arguments.new_string)?;
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
    let change = replace(
        &file.text,
        &arguments.old_string,
        &arguments.new_string,
        arguments.replace_all.unwrap_or(false),
    )
    .map_err(|problem| ToolError::new(problem.message(&display, &arguments.old_string)))?;
    file.save(context, &change.written)?;
    let count = change.matches.len();
    let mut out = format!(
        "edited `{display}`: replaced {}{}\n",
        plural(count as u64, "occurrence", "occurrences"),
        kept_notes(change.crlf, file.encoding)
    );
    if let Some(fallback) = &change.fallback {
        out.push_str(&format!("[{}]\n", fallback.describe()));
    }
    out.push_str(&change.diff());
    Ok(out)
}

/// " (CRLF line endings kept, UTF-16 LE encoding kept)", or nothing for plain UTF-8 with LF.
pub(crate) fn kept_notes(crlf: bool, encoding: Encoding) -> String {
    let mut notes = Vec::new();
    if crlf {
        notes.push("CRLF line endings kept");
    }
    if encoding != Encoding::Utf8 {
        notes.push(encoding.kept_note());
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    }
}

fn create(
    context: &ToolContext,
    display: &str,
    path: &Path,
    content: &str,
) -> Result<String, ToolError> {
    create_parents(display, path)?;
    editable::save_new(context, display, path, content, Encoding::Utf8, None)?;
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
pub(crate) struct Change {
    /// The text searched and its result, in the line endings matching was done with.
    before: String,
    after: String,
    /// Byte offsets of the replaced occurrences in `before`.
    pub(crate) matches: Vec<usize>,
    old_len: usize,
    new_len: usize,
    /// What goes to disk: `after` with the file's line endings.
    pub(crate) written: String,
    pub(crate) crlf: bool,
    /// The fallback that found old_string, when it was not in the file exactly.
    pub(crate) fallback: Option<Fallback>,
}

impl Change {
    /// The numbered diff of the change.
    pub(crate) fn diff(&self) -> String {
        diff::snippet(
            &self.before,
            &self.after,
            &self.matches,
            self.old_len,
            self.new_len,
        )
    }
}

/// Why nothing was replaced.
#[derive(Debug)]
pub(crate) enum Problem {
    NotFound {
        text: String,
    },
    Several {
        text: String,
        matches: Vec<usize>,
    },
    /// Not found exactly; ignoring whitespace it fits these (0-based) lines.
    SeveralIgnoringWhitespace {
        lines: Vec<usize>,
    },
}

fn listed_lines(lines: impl Iterator<Item = usize>, total: usize) -> String {
    let mut listed: Vec<String> = lines
        .take(MAX_LISTED_MATCHES)
        .map(|line| thousands(line as u64 + 1))
        .collect();
    if total > MAX_LISTED_MATCHES {
        listed.push("…".into());
    }
    listed.join(", ")
}

impl Problem {
    /// The error for the model; `old` is the old_string it gave.
    pub(crate) fn message(&self, display: &str, old: &str) -> String {
        match self {
            Problem::NotFound { text } => {
                let old = old.replace("\r\n", "\n");
                closest::not_found_message(display, text, &old)
            }
            Problem::Several { text, matches } => {
                let index = closest::LineIndex::new(text);
                format!(
                    "`old_string` occurs {} times in `{display}` (starting on lines {}); include \
                     more surrounding lines in old_string so it matches exactly one place, or \
                     set replace_all=true to replace every occurrence",
                    matches.len(),
                    listed_lines(
                        matches.iter().map(|&offset| index.line_of(offset)),
                        matches.len()
                    )
                )
            }
            Problem::SeveralIgnoringWhitespace { lines } => format!(
                "`old_string` was not found exactly in `{display}`, and ignoring indentation and \
                 trailing whitespace it matches {} places (starting on lines {}); copy the exact \
                 whitespace from the file and include more surrounding lines so it matches \
                 exactly one place",
                lines.len(),
                listed_lines(lines.iter().copied(), lines.len())
            ),
        }
    }
}

/// Finds and replaces `old` in `text`, matching line endings: a CRLF file is searched with
/// `\n` line ends and written back with CRLF; a file mixing both is searched as it is. When
/// `old` is not there exactly, the fallbacks of [`matching::locate`] may find one place.
pub(crate) fn replace(
    text: &str,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<Change, Problem> {
    let old = old.replace("\r\n", "\n");
    let new = new.replace("\r\n", "\n");
    let endings = LineEndings::of(text);
    let all_crlf = endings == LineEndings::Crlf;

    let (before, old, new) = if all_crlf {
        (text.replace("\r\n", "\n"), old, new)
    } else if endings == LineEndings::Mixed && !text.contains(&old) && old.contains('\n') {
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
    let with_endings = |after: &str| {
        if all_crlf {
            after.replace('\n', "\r\n")
        } else {
            after.to_string()
        }
    };
    match matches.len() {
        0 => {
            // Mixed files are searched loosely with plain `\n` lines (trimming drops the `\r`).
            let plain_old = old.replace("\r\n", "\n");
            let plain_new = new.replace("\r\n", "\n");
            return match matching::locate(&before, &plain_old, &plain_new) {
                Fuzzy::One(located) => {
                    let after = format!(
                        "{}{}{}",
                        &before[..located.start],
                        located.new,
                        &before[located.end..]
                    );
                    Ok(Change {
                        old_len: located.end - located.start,
                        new_len: located.new.len(),
                        written: with_endings(&after),
                        before,
                        after,
                        matches: vec![located.start],
                        crlf: all_crlf,
                        fallback: Some(located.fallback),
                    })
                }
                Fuzzy::Several(lines) => Err(Problem::SeveralIgnoringWhitespace { lines }),
                Fuzzy::None => Err(Problem::NotFound { text: before }),
            };
        }
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
    Ok(Change {
        old_len: old.len(),
        new_len: new.len(),
        written: with_endings(&after),
        before,
        after,
        matches,
        crlf: all_crlf,
        fallback: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_files_are_matched_with_lf_and_written_with_crlf() {
        let text = "fn a() {\r\n    1\r\n}\r\n";
        let change = replace(text, "    1\n}", "    2\n    3\n}", false).unwrap();
        assert_eq!(change.written, "fn a() {\r\n    2\r\n    3\r\n}\r\n");
        assert!(change.crlf);
    }

    #[test]
    fn mixed_endings_are_matched_as_written() {
        let text = "a\r\nb\r\nc\nd\n";
        let change = replace(text, "a\nb", "x\ny", false).unwrap();
        assert_eq!(change.written, "x\r\ny\r\nc\nd\n");
        let change = replace(text, "c\nd", "z", false).unwrap();
        assert_eq!(change.written, "a\r\nb\r\nz\n");
    }

    #[test]
    fn several_matches_need_replace_all() {
        let text = "x = 1\ny = 2\nx = 1\n";
        let problem = replace(text, "x = 1", "x = 3", false).unwrap_err();
        let message = problem.message("f", "x = 1");
        assert!(
            message.contains("occurs 2 times in `f` (starting on lines 1, 3)"),
            "{message}"
        );
        let change = replace(text, "x = 1", "x = 3", true).unwrap();
        assert_eq!(change.written, "x = 3\ny = 2\nx = 3\n");
        assert_eq!(change.matches, [0, 12]);
    }
}
