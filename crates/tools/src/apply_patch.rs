//! `apply_patch`: adds, updates (and renames) and deletes files with the patch format OpenAI
//! models are trained on. The whole patch is parsed and every file checked and patched in
//! memory before anything is written; then each file is written atomically.

mod locate;
mod parse;

use std::collections::HashMap;
use std::fs::{self, Permissions};
use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking;
use crate::edit::kept_notes;
use crate::editable::{self, MAX_EDIT_BYTES};
use crate::files::create_parents;
use crate::output::plural;
use crate::paths::PathPolicy;
use crate::stamps;
use crate::text::{Encoding, LineEndings};

use locate::{Lines, Looseness};
use parse::{Operation, Patch};

const DESCRIPTION: &str = "\
Applies a patch that adds, updates, renames and deletes files. The patch is checked whole \
before anything is written: if any part does not apply, nothing changes.

Format:
*** Begin Patch
*** Add File: path/of/new_file.py
+every line of the new file, each starting with +
*** Update File: path/of/existing.py
*** Move to: path/of/renamed.py        (optional: rename the file too)
@@ def function_containing_the_change():   (optional header: a line before the change)
 context line (starts with a space)
-line to remove
+line to add
 context line
*** Delete File: path/of/obsolete.py
*** End Patch

Usage:
- Paths are relative to the working directory (or absolute, inside the workspace).
- Give about 3 lines of context before and after each change, copied exactly from the file; \
when that is not unique, add an `@@` header with a line (e.g. the function or class) that \
comes before the change. Several `@@` hunks per file go in file order.
- Hunks are found exactly, then ignoring trailing whitespace, then ignoring indentation \
(added lines then follow the file's indentation); a hunk that fits several places is refused.
- `*** End of File` after a hunk pins it to the end of the file.
- Add File refuses a file that exists; use Update File for it. Line endings (CRLF) and \
encodings (UTF-8 with BOM, UTF-16) of updated files are kept.
- A file changed by something else since you last read it is refused: read it again first.";

/// Applies an add/update/delete-file patch: `{patch}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyPatchTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyPatchArgs {
    patch: String,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "patch": {
                "type": "string",
                "description": "The whole patch, from `*** Begin Patch` to `*** End Patch`."
            }
        },
        "required": ["patch"],
        "additionalProperties": false
    })
}

/// Files named by a summary before "and N more".
const SUMMARY_FILES: usize = 4;

#[async_trait]
impl Tool for ApplyPatchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "apply_patch".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Write
    }

    fn summarize(&self, arguments: &Value) -> String {
        let Some(Ok(patch)) = args::str_field(arguments, "patch").map(parse::parse) else {
            return "apply a patch".into();
        };
        let mut parts: Vec<String> = patch
            .operations
            .iter()
            .take(SUMMARY_FILES)
            .map(|operation| match operation {
                Operation::Add { path, .. } => format!("add {path}"),
                Operation::Delete { path, .. } => format!("delete {path}"),
                Operation::Update {
                    path,
                    move_to: Some(to),
                    ..
                } => format!("move {path} to {to}"),
                Operation::Update { path, .. } => format!("update {path}"),
            })
            .collect();
        if patch.operations.len() > SUMMARY_FILES {
            parts.push(format!(
                "and {} more",
                plural(
                    (patch.operations.len() - SUMMARY_FILES) as u64,
                    "file",
                    "files"
                )
            ));
        }
        format!("apply a patch: {}", parts.join(", "))
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        let Some(Ok(patch)) = args::str_field(arguments, "patch").map(parse::parse) else {
            return PermissionTarget::None;
        };
        let mut paths = Vec::new();
        for operation in &patch.operations {
            paths.push(operation.path().to_string());
            if let Operation::Update {
                move_to: Some(to), ..
            } = operation
            {
                paths.push(to.clone());
            }
        }
        PermissionTarget::Paths(paths)
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let arguments: ApplyPatchArgs = args::parse("apply_patch", arguments, &schema())?;
        let patch = parse::parse(&arguments.patch).map_err(|error| {
            ToolError::new(format!(
                "invalid patch, nothing was changed: {error}; fix the patch and send it whole \
                 again"
            ))
        })?;
        let owned = context.clone();
        blocking::to_completion(context, move || apply(&owned, &patch))
            .await
            .map(ToolOutput::from)
    }
}

/// A file written by a step.
#[derive(Debug)]
struct Write {
    path: PathBuf,
    display: String,
    text: String,
    encoding: Encoding,
    /// An existing file's permissions (`None` for a new file).
    permissions: Option<Permissions>,
}

/// What one section of the patch does, checked and ready.
#[derive(Debug, Default)]
struct Step {
    /// One line for the result.
    report: String,
    writes: Vec<Write>,
    deletes: Vec<(PathBuf, String)>,
}

fn apply(context: &ToolContext, patch: &Patch) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let mut claimed: HashMap<PathBuf, usize> = HashMap::new();
    let mut steps = Vec::new();
    for operation in &patch.operations {
        steps.push(plan(context, &policy, operation, &mut claimed)?);
    }
    let mut done: Vec<&str> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if let Err(error) = execute(context, step) {
            let rest: Vec<&str> = steps[index + 1..]
                .iter()
                .map(|step| step.report.as_str())
                .collect();
            return Err(ToolError::new(format!(
                "the patch was applied only in part: {}; then this failed: {} ({}); not \
                 applied: {}; read the files involved before patching them again",
                if done.is_empty() {
                    "nothing was done".to_string()
                } else {
                    format!("done: {}", done.join("; "))
                },
                step.report,
                error.message,
                if rest.is_empty() {
                    "nothing else".to_string()
                } else {
                    rest.join("; ")
                }
            )));
        }
        done.push(&step.report);
    }
    let mut out = format!(
        "applied the patch ({}):\n",
        plural(steps.len() as u64, "file section", "file sections")
    );
    for step in &steps {
        out.push_str(&format!("- {}\n", step.report));
    }
    Ok(out)
}

/// Prefixes errors about one section with where it is in the patch.
fn at_section(operation: &Operation) -> impl Fn(ToolError) -> ToolError + '_ {
    move |error| {
        let (kind, line) = match operation {
            Operation::Add { line, .. } => ("Add File", line),
            Operation::Delete { line, .. } => ("Delete File", line),
            Operation::Update { line, .. } => ("Update File", line),
        };
        ToolError::new(format!(
            "nothing was changed: `*** {kind}: {}` (patch line {line}): {}",
            operation.path(),
            error.message
        ))
    }
}

fn plan(
    context: &ToolContext,
    policy: &PathPolicy,
    operation: &Operation,
    claimed: &mut HashMap<PathBuf, usize>,
) -> Result<Step, ToolError> {
    let wrap = at_section(operation);
    let (line, raw) = match operation {
        Operation::Add { line, path, .. }
        | Operation::Delete { line, path }
        | Operation::Update { line, path, .. } => (*line, path),
    };
    let path = policy.resolve(raw).map_err(&wrap)?;
    let display = policy.display(&path);
    claim(claimed, &path, &display, line).map_err(&wrap)?;
    let metadata = match fs::metadata(&path) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(wrap(ToolError::new(format!(
                "cannot access `{display}`: {error}"
            ))));
        }
    };
    match operation {
        Operation::Add { lines, .. } => {
            if metadata.is_some() {
                return Err(wrap(ToolError::new(format!(
                    "`{display}` already exists; use `*** Update File: {raw}` to change it, or \
                     delete it first in an earlier patch"
                ))));
            }
            let mut text = lines.join("\n");
            if !lines.is_empty() {
                text.push('\n');
            }
            Ok(Step {
                report: format!(
                    "added `{display}` ({})",
                    plural(lines.len() as u64, "line", "lines")
                ),
                writes: vec![Write {
                    path,
                    display,
                    text,
                    encoding: Encoding::Utf8,
                    permissions: None,
                }],
                deletes: Vec::new(),
            })
        }
        Operation::Delete { .. } => {
            let Some(metadata) = metadata else {
                return Err(wrap(policy.not_found(raw, &path)));
            };
            if !metadata.is_file() {
                return Err(wrap(ToolError::new(format!(
                    "`{display}` is not a regular file; apply_patch deletes files only (use bash \
                     for directories)"
                ))));
            }
            if metadata.len() <= MAX_EDIT_BYTES {
                let bytes = fs::read(&path).map_err(|error| {
                    wrap(ToolError::new(format!("cannot read `{display}`: {error}")))
                })?;
                stamps::check_unchanged(context, &path, &display, &bytes).map_err(&wrap)?;
            }
            Ok(Step {
                report: format!("deleted `{display}`"),
                writes: Vec::new(),
                deletes: vec![(path, display)],
            })
        }
        Operation::Update { move_to, hunks, .. } => {
            let Some(metadata) = metadata else {
                let mut error = policy.not_found(raw, &path);
                error
                    .message
                    .push_str(" To create a file, use `*** Add File:`.");
                return Err(wrap(error));
            };
            let file = editable::load(context, &path, &display, &metadata).map_err(&wrap)?;
            let crlf = LineEndings::of(&file.text) == LineEndings::Crlf;
            let mut lines = Lines::split(&file.text);
            let applied = locate::apply(&mut lines, hunks, &display)
                .map_err(|message| wrap(ToolError::new(message)))?;
            let text = lines.join();
            let mut report = if hunks.is_empty() {
                String::new()
            } else {
                format!(
                    " ({}: +{} -{})",
                    plural(hunks.len() as u64, "hunk", "hunks"),
                    applied.added,
                    applied.removed
                )
            };
            for (hunk, looseness) in &applied.loose {
                report.push_str(&format!(
                    "; hunk {hunk} matched {}",
                    match looseness {
                        Looseness::TrailingWhitespace => "ignoring trailing whitespace",
                        _ => "ignoring indentation (added lines re-indented to the file's)",
                    }
                ));
            }
            report.push_str(&kept_notes(crlf, file.encoding));
            let mut step = Step::default();
            let mut target = (path.clone(), display.clone());
            match move_to {
                Some(to) => {
                    let destination = policy.resolve(to).map_err(&wrap)?;
                    let destination_display = policy.display(&destination);
                    if destination != path {
                        claim(claimed, &destination, &destination_display, line).map_err(&wrap)?;
                        if fs::symlink_metadata(&destination).is_ok() {
                            return Err(wrap(ToolError::new(format!(
                                "cannot move `{display}` to `{destination_display}`: that file \
                                 already exists; delete it first or choose another name"
                            ))));
                        }
                        step.deletes.push((path.clone(), display.clone()));
                    }
                    step.report = format!("moved `{display}` to `{destination_display}`{report}");
                    target = (destination, destination_display);
                }
                None => step.report = format!("updated `{display}`{report}"),
            }
            step.writes.push(Write {
                path: target.0,
                display: target.1,
                text,
                encoding: file.encoding,
                permissions: Some(file.permissions.clone()),
            });
            Ok(step)
        }
    }
}

/// Refuses a path that an earlier section of the patch already changes.
fn claim(
    claimed: &mut HashMap<PathBuf, usize>,
    path: &std::path::Path,
    display: &str,
    line: usize,
) -> Result<(), ToolError> {
    if let Some(earlier) = claimed.get(path) {
        return Err(ToolError::new(format!(
            "`{display}` is already changed by the section on patch line {earlier}; put all \
             changes to one file in one section"
        )));
    }
    claimed.insert(path.to_path_buf(), line);
    Ok(())
}

fn execute(context: &ToolContext, step: &Step) -> Result<(), ToolError> {
    for write in &step.writes {
        if write.permissions.is_none() {
            create_parents(&write.display, &write.path)?;
        }
        editable::save_new(
            context,
            &write.display,
            &write.path,
            &write.text,
            write.encoding,
            write.permissions.clone(),
        )?;
    }
    for (path, display) in &step.deletes {
        fs::remove_file(path)
            .map_err(|error| ToolError::new(format!("cannot delete `{display}`: {error}")))?;
        context.files.forget(path);
    }
    Ok(())
}
