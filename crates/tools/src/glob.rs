//! `glob`: files whose path matches a pattern, newest first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use code_mesh_core::{CancellationToken, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use globset::{GlobBuilder, GlobMatcher};
use ignore::WalkState;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking::{self, CANCELLED};
use crate::output::{plural, thousands, truncate_end};
use crate::paths::PathPolicy;
use crate::walk;

/// Files returned at most.
const MAX_RESULTS: usize = 200;

const DESCRIPTION: &str = "\
Finds files by path pattern and returns them newest-modified first (at most 200).

Usage:
- `pattern` is matched against each file's path relative to the search directory: `*` matches \
within one path segment, `**` any number of directories, `?` one character, `[abc]` one of a \
set, `{a,b}` either alternative. Examples: `**/*.rs`, `src/**/*.{ts,tsx}`, `**/test_*.py`, \
`*.toml` (only directly in the search directory).
- `path` is the directory to search; default: the working directory.
- Files ignored by .gitignore or .ignore and hidden files are skipped, unless the pattern names \
a hidden file or directory (e.g. `.github/**/*.yml`).
- Only files are returned, not directories; use `ls` to see a directory's layout.
- To search inside files, use `grep`. When a search may take several rounds of globbing and \
grepping, run the independent ones in parallel.";

/// Finds files by glob pattern: `{pattern, path?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlobArgs {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pattern": {
                "type": "string",
                "description": "The glob pattern, relative to the search directory, e.g. \
                    `**/*.rs` or `src/**/*.{ts,tsx}`."
            },
            "path": {
                "type": "string",
                "description": "The directory to search in. Default: the working directory."
            }
        },
        "required": ["pattern"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for GlobTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "glob".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let pattern = args::str_field(arguments, "pattern").unwrap_or("*");
        match args::str_field(arguments, "path") {
            Some(path) => format!("find files matching `{pattern}` in {path}"),
            None => format!("find files matching `{pattern}`"),
        }
    }

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        // The directory searched; the working directory when none is given.
        args::path_target(arguments, Some("."))
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: GlobArgs = args::parse("glob", arguments, &schema)?;
        if arguments.pattern.trim().is_empty() {
            return Err(args::invalid(
                "glob",
                "`pattern` is empty; give a glob such as `**/*.rs`",
                &schema,
            ));
        }
        let owned = context.clone();
        let max_output = context.limits.max_output_bytes;
        blocking::cancellable(context, move |cancel| glob(&owned, &arguments, cancel))
            .await
            .map(|mut text| {
                truncate_end(&mut text, max_output, |dropped| {
                    format!(
                        "[output limit reached: {} of paths not shown; use a narrower pattern]",
                        crate::output::human_size(dropped)
                    )
                });
                ToolOutput::from(text)
            })
    }
}

/// One thread's matches: the newest `MAX_RESULTS`, and how many there were in all.
#[derive(Default)]
struct Found {
    newest: BinaryHeap<Reverse<(SystemTime, Reverse<PathBuf>)>>,
    total: usize,
    /// Files matching `**/<pattern>` when the pattern has no `/`, for a hint.
    deeper: usize,
}

impl Found {
    fn add(&mut self, modified: SystemTime, path: PathBuf) {
        self.total += 1;
        self.newest.push(Reverse((modified, Reverse(path))));
        if self.newest.len() > MAX_RESULTS {
            self.newest.pop();
        }
    }
}

fn glob(
    context: &ToolContext,
    arguments: &GlobArgs,
    cancel: &CancellationToken,
) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let (root, metadata) = policy.resolve_existing(arguments.path.as_deref().unwrap_or("."))?;
    let root_display = policy.display(&root);
    if !metadata.is_dir() {
        return Err(ToolError::new(format!(
            "`{root_display}` is a file, not a directory; give a directory as `path` (or use \
             `read` to read the file)"
        )));
    }
    let pattern = relative_pattern(&arguments.pattern, &root, &policy)?;
    let matcher = compile(&pattern)?;
    let deeper = (!pattern.contains('/'))
        .then(|| compile(&format!("**/{pattern}")))
        .transpose()?;
    let walker = walk::builder(&root, walk::names_hidden(&pattern)).build_parallel();
    let found = walk::parallel(walker, Found::default, |found, entry| {
        if cancel.is_cancelled() {
            return WalkState::Quit;
        }
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        if !entry.file_type().is_some_and(|kind| kind.is_file()) {
            return WalkState::Continue;
        }
        let Ok(relative) = entry.path().strip_prefix(&root) else {
            return WalkState::Continue;
        };
        if matcher.is_match(relative) {
            let modified = entry
                .metadata()
                .ok()
                .and_then(|metadata| metadata.modified().ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            found.add(modified, entry.into_path());
        } else if deeper
            .as_ref()
            .is_some_and(|deeper| deeper.is_match(relative))
        {
            found.deeper += 1;
        }
        WalkState::Continue
    });
    if cancel.is_cancelled() {
        return Err(ToolError::new(CANCELLED));
    }
    let total: usize = found.iter().map(|found| found.total).sum();
    let deeper: usize = found.iter().map(|found| found.deeper).sum();
    let mut newest: Vec<(SystemTime, PathBuf)> = found
        .into_iter()
        .flat_map(|found| found.newest.into_iter())
        .map(|Reverse((modified, Reverse(path)))| (modified, path))
        .collect();
    newest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    newest.truncate(MAX_RESULTS);
    if newest.is_empty() {
        let mut message = format!("no files match `{pattern}` in `{root_display}`");
        if deeper > 0 {
            message.push_str(&format!(
                "; {} in subdirectories match `**/{pattern}` (a pattern without `/` only \
                 matches files directly in the search directory)",
                plural(deeper as u64, "file", "files")
            ));
        }
        message.push_str(
            ". Files ignored by .gitignore/.ignore and hidden files are skipped unless the \
             pattern names them.",
        );
        return Ok(message);
    }
    let mut out = String::new();
    for (_, path) in &newest {
        out.push_str(&policy.display(path));
        out.push('\n');
    }
    if total > newest.len() {
        out.push_str(&format!(
            "\n[showing the {} most recently modified of {} matching files; use a more \
             specific pattern or path to see the others]\n",
            newest.len(),
            thousands(total as u64)
        ));
    }
    Ok(out)
}

/// The pattern relative to the search root: `./` dropped, an absolute pattern under the root
/// made relative.
fn relative_pattern(pattern: &str, root: &Path, policy: &PathPolicy) -> Result<String, ToolError> {
    let mut pattern = pattern.trim();
    while let Some(rest) = pattern.strip_prefix("./") {
        pattern = rest;
    }
    if pattern.starts_with('/') {
        let root_text = root.to_string_lossy();
        return match pattern.strip_prefix(root_text.as_ref()) {
            Some(rest) if rest.starts_with('/') => Ok(rest.trim_start_matches('/').to_string()),
            _ => Err(ToolError::new(format!(
                "the pattern `{pattern}` is absolute but not under the search directory `{}`; \
                 put the directory in `path` and a relative pattern in `pattern`",
                policy.display(root)
            ))),
        };
    }
    Ok(pattern.to_string())
}

fn compile(pattern: &str) -> Result<GlobMatcher, ToolError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| {
            ToolError::new(format!(
                "invalid glob pattern `{pattern}`: {}. Use `*` for any characters within a \
                 path segment, `**` for any directories, `{{a,b}}` for alternatives, and \
                 escape a literal `*`, `?`, `[` or `{{` with a backslash",
                error.kind()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stays_within_a_segment() {
        let matcher = compile("*.rs").unwrap();
        assert!(matcher.is_match("main.rs"));
        assert!(!matcher.is_match("src/main.rs"));
        assert!(compile("**/*.rs").unwrap().is_match("src/deep/main.rs"));
        assert!(
            compile("src/**/*.{ts,tsx}")
                .unwrap()
                .is_match("src/a/b.tsx")
        );
    }

    #[test]
    fn bad_patterns_say_how_to_write_one() {
        let error = compile("src/[").unwrap_err();
        assert!(
            error.message.contains("invalid glob pattern `src/[`"),
            "{error}"
        );
    }
}
