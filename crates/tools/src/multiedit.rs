//! `multiedit`: several edits to one file, applied in order to the text in memory and
//! written once, or not at all.

use std::fs;
use std::io;

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking;
use crate::edit::{self, Change};
use crate::editable;
use crate::files::create_parents;
use crate::output::{human_size, plural, truncate_end};
use crate::paths::PathPolicy;
use crate::text::Encoding;

const DESCRIPTION: &str = "\
Makes several edits to one file in one call: each edit replaces old_string with new_string \
like `edit` does, in the order given, each on the text the earlier edits left. Either every \
edit applies and the file is written once, or none does and the file is unchanged.

Usage:
- Read the file first. Each old_string must match the file's text (as changed by the \
earlier edits) exactly and occur once, unless that edit sets `replace_all`; the same \
whitespace-insensitive and first/last-line fallbacks as `edit` apply, only when they find \
exactly one place.
- Plan the edits so an earlier one does not change text a later one looks for.
- When an edit fails, the error names it (edits[i]) and why, with the most similar text, and \
nothing is written: fix that edit and send them all again.
- To create a file, give a path that does not exist and an empty old_string in the first \
edit; its new_string becomes the content the later edits apply to.
- Line endings (CRLF) and encodings (UTF-8 with BOM, UTF-16) are kept. A file changed by \
something else since you last read it is refused: read it again first.
- Prefer multiedit over several `edit` calls on the same file.";

/// Several edits to one file, all or nothing: `{path, edits: [{old_string, new_string,
/// replace_all?}]}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MultiEditTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MultiEditArgs {
    path: String,
    edits: Vec<OneEdit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OneEdit {
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
            "edits": {
                "type": "array",
                "minItems": 1,
                "description": "The edits, applied in this order, each to the result of the \
                    ones before it.",
                "items": {
                    "type": "object",
                    "properties": {
                        "old_string": {
                            "type": "string",
                            "description": "The exact text to replace (empty only in the \
                                first edit of a new file)."
                        },
                        "new_string": {
                            "type": "string",
                            "description": "The text to put in its place; must differ from \
                                old_string."
                        },
                        "replace_all": {
                            "type": "boolean",
                            "description": "Replace every occurrence of old_string. Default: \
                                false."
                        }
                    },
                    "required": ["old_string", "new_string"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["path", "edits"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for MultiEditTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "multiedit".into(),
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
        match arguments.get("edits").and_then(Value::as_array) {
            Some(edits) => format!(
                "edit {path} ({})",
                plural(edits.len() as u64, "edit", "edits")
            ),
            None => format!("edit {path}"),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match args::str_field(arguments, "path") {
            Some(path) => PermissionTarget::Paths(vec![path.to_string()]),
            None => PermissionTarget::None,
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: MultiEditArgs = args::parse("multiedit", arguments, &schema)?;
        if arguments.edits.is_empty() {
            return Err(args::invalid(
                "multiedit",
                "`edits` is empty, so there is nothing to change; give at least one \
                 {old_string, new_string}",
                &schema,
            ));
        }
        for (index, one) in arguments.edits.iter().enumerate() {
            if one.old_string == one.new_string {
                return Err(args::invalid(
                    "multiedit",
                    format!(
                        "edits[{index}] has identical old_string and new_string, so it changes \
                         nothing; fix or drop it"
                    ),
                    &schema,
                ));
            }
            if index > 0 && one.old_string.is_empty() {
                return Err(args::invalid(
                    "multiedit",
                    format!(
                        "edits[{index}] has an empty old_string; only the first edit of a new \
                         file may, every later edit must say which text it replaces"
                    ),
                    &schema,
                ));
            }
        }
        let owned = context.clone();
        let max_output = context.limits.max_output_bytes;
        blocking::to_completion(context, move || multiedit_file(&owned, &arguments))
            .await
            .map(|mut text| {
                truncate_end(&mut text, max_output, |dropped| {
                    format!("[diff cut: {} more]", human_size(dropped))
                });
                ToolOutput::from(text)
            })
    }
}

fn multiedit_file(context: &ToolContext, arguments: &MultiEditArgs) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let path = policy.resolve(&arguments.path)?;
    let display = policy.display(&path);
    let mut edits = arguments.edits.iter().enumerate().peekable();
    let (existing, mut text) = match fs::metadata(&path) {
        Ok(metadata) => {
            let file = editable::load(context, &path, &display, &metadata)?;
            if edits
                .peek()
                .is_some_and(|(_, first)| first.old_string.is_empty())
            {
                if !file.text.is_empty() {
                    return Err(ToolError::new(format!(
                        "edits[0] has an empty old_string but `{display}` already exists and is \
                         not empty, so nothing was written; an empty old_string only creates a \
                         file; put the text to replace in old_string"
                    )));
                }
                let content = edits
                    .next()
                    .map(|(_, first)| first.new_string.clone())
                    .unwrap_or_default();
                (Some(file), content)
            } else {
                let text = file.text.clone();
                (Some(file), text)
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => match edits.next() {
            Some((_, first)) if first.old_string.is_empty() => (None, first.new_string.clone()),
            _ => {
                let mut error = policy.not_found(&arguments.path, &path);
                error.message.push_str(
                    " To create it, make the first edit's old_string empty; its new_string \
                         becomes the content.",
                );
                return Err(error);
            }
        },
        Err(error) => {
            return Err(ToolError::new(format!(
                "cannot access `{display}`: {error}"
            )));
        }
    };
    let total = arguments.edits.len();
    let mut changes: Vec<(usize, Change)> = Vec::new();
    for (index, one) in edits {
        let change = edit::replace(
            &text,
            &one.old_string,
            &one.new_string,
            one.replace_all.unwrap_or(false),
        )
        .map_err(|problem| {
            let later = if index > 0 {
                " (line numbers are in the text as the earlier edits left it)"
            } else {
                ""
            };
            ToolError::new(format!(
                "edits[{index}] (edit {} of {total}) failed, so nothing was written to \
                 `{display}`{later}: {}",
                index + 1,
                problem.message(&display, &one.old_string)
            ))
        })?;
        text.clone_from(&change.written);
        changes.push((index, change));
    }
    let crlf = changes.iter().any(|(_, change)| change.crlf);
    let mut out = match &existing {
        Some(file) => {
            file.save(context, &text)?;
            let replaced: usize = changes.iter().map(|(_, change)| change.matches.len()).sum();
            format!(
                "edited `{display}`: applied {} ({}){}\n",
                plural(total as u64, "edit", "edits"),
                plural(replaced as u64, "replacement", "replacements"),
                edit::kept_notes(crlf, file.encoding)
            )
        }
        None => {
            create_parents(&display, &path)?;
            editable::save_new(context, &display, &path, &text, Encoding::Utf8, None)?;
            format!(
                "created `{display}` ({}, then {} applied)\n",
                plural(text.len() as u64, "byte", "bytes"),
                plural(changes.len() as u64, "edit", "edits"),
            )
        }
    };
    for (index, change) in &changes {
        out.push_str(&format!("edits[{index}]:\n"));
        if let Some(fallback) = &change.fallback {
            out.push_str(&format!("[{}]\n", fallback.describe()));
        }
        out.push_str(&change.diff());
    }
    Ok(out)
}
