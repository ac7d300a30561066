//! `ls`: a directory as a small tree, two levels deep.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use code_mesh_core::{CancellationToken, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking::{self, CANCELLED};
use crate::output::{human_size, thousands, truncate_end};
use crate::paths::PathPolicy;
use crate::walk;

/// Entries shown in all.
const MAX_ENTRIES: usize = 400;
/// Entries shown inside one subdirectory.
const MAX_CHILDREN: usize = 50;

const DESCRIPTION: &str = "\
Lists a directory as a tree two levels deep: its entries and the entries of its \
subdirectories, directories first (with a trailing `/`), then files, alphabetically.

Usage:
- `path` is the directory to list; default: the working directory.
- `ignore` is a list of glob patterns for names or paths to leave out, e.g. \
[\"node_modules\", \"*.log\", \"dist/\"].
- Entries ignored by .gitignore or .ignore and the `.git` directory are not shown; other \
hidden files are. Large listings are cut with a note of how many entries were left out.
- To find files by pattern anywhere in the tree, prefer `glob`; to search contents, `grep`.";

/// Lists a directory: `{path?, ignore?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LsTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LsArgs {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    ignore: Option<Vec<String>>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "The directory to list. Default: the working directory."
            },
            "ignore": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Glob patterns of names or paths to leave out, e.g. `node_modules` or `*.log`."
            }
        },
        "required": [],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for LsTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "ls".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        format!("list {}", args::str_field(arguments, "path").unwrap_or("."))
    }

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        // The directory searched; the working directory when none is given.
        args::path_target(arguments, Some("."))
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let arguments: LsArgs = args::parse("ls", arguments, &schema())?;
        let ignore = ignore_set(arguments.ignore.as_deref().unwrap_or_default())?;
        let owned = context.clone();
        let max_output = context.limits.max_output_bytes;
        blocking::cancellable(context, move |cancel| {
            list(
                &owned,
                arguments.path.as_deref().unwrap_or("."),
                &ignore,
                cancel,
            )
        })
        .await
        .map(|mut text| {
            truncate_end(&mut text, max_output, |dropped| {
                format!("[output limit reached: {} not shown]", human_size(dropped))
            });
            ToolOutput::from(text)
        })
    }
}

fn ignore_set(patterns: &[String]) -> Result<GlobSet, ToolError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let trimmed = pattern.trim().trim_end_matches('/');
        let glob = Glob::new(trimmed).map_err(|error| {
            ToolError::new(format!(
                "invalid arguments for `ls`: the `ignore` pattern `{pattern}` is not a valid glob \
                 ({}); use patterns like `node_modules` or `*.log`",
                error.kind()
            ))
        })?;
        set.add(glob);
    }
    set.build()
        .map_err(|error| ToolError::new(format!("invalid `ignore` patterns: {error}")))
}

#[derive(Debug, Default)]
struct Directory {
    /// Name → (is a directory, children when listed).
    entries: BTreeMap<OsString, Entry>,
    /// Entries left out of `entries` for size.
    more: usize,
}

#[derive(Debug, Default)]
struct Entry {
    is_dir: bool,
    symlink_target: Option<PathBuf>,
    children: Directory,
}

fn list(
    context: &ToolContext,
    raw: &str,
    ignore: &GlobSet,
    cancel: &CancellationToken,
) -> Result<String, ToolError> {
    let policy = PathPolicy::new(context);
    let (root, metadata) = policy.resolve_existing(raw)?;
    let display = policy.display(&root);
    if !metadata.is_dir() {
        return Err(ToolError::new(format!(
            "`{display}` is a file, not a directory; use `read` to read it"
        )));
    }
    let mut tree = Directory::default();
    let mut shown = 0usize;
    let walker = walk::builder(&root, true)
        .max_depth(Some(2))
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry({
            let ignore = ignore.clone();
            let root = root.clone();
            move |entry| {
                entry.file_name() != ".git"
                    && !ignore.is_match(entry.file_name())
                    && !entry.path().strip_prefix(&root).is_ok_and(|relative| {
                        !relative.as_os_str().is_empty() && ignore.is_match(relative)
                    })
            }
        })
        .build();
    for entry in walker {
        if cancel.is_cancelled() {
            return Err(ToolError::new(CANCELLED));
        }
        let Ok(entry) = entry else { continue };
        let Ok(relative) = entry.path().strip_prefix(&root) else {
            continue;
        };
        let mut components = relative.iter();
        let (Some(first), second) = (components.next(), components.next()) else {
            continue;
        };
        let file_type = entry.file_type();
        let is_dir = file_type.is_some_and(|kind| kind.is_dir());
        let symlink_target = file_type
            .is_some_and(|kind| kind.is_symlink())
            .then(|| std::fs::read_link(entry.path()).ok())
            .flatten();
        let parent = match second {
            None => &mut tree,
            Some(_) => match tree.entries.get_mut(first) {
                Some(parent) => &mut parent.children,
                None => continue,
            },
        };
        let name = second.unwrap_or(first);
        let room = if second.is_none() {
            MAX_ENTRIES
        } else {
            MAX_CHILDREN
        };
        if shown >= MAX_ENTRIES || parent.entries.len() >= room {
            parent.more += 1;
            continue;
        }
        shown += 1;
        parent.entries.insert(
            name.to_owned(),
            Entry {
                is_dir,
                symlink_target,
                children: Directory::default(),
            },
        );
    }
    if tree.entries.is_empty() && tree.more == 0 {
        return Ok(format!(
            "`{display}` is empty (or holds only entries ignored by .gitignore, .ignore or \
             `ignore`)"
        ));
    }
    let mut out = format!("{}/\n", display.trim_end_matches('/'));
    render(&mut out, &tree, 1);
    let left_out = count_more(&tree);
    if left_out > 0 {
        out.push_str(&format!(
            "\n[{} entries not shown; list a subdirectory, or use `glob` to find specific \
             files]\n",
            thousands(left_out as u64)
        ));
    }
    Ok(out)
}

fn render(out: &mut String, directory: &Directory, depth: usize) {
    let indent = "  ".repeat(depth);
    let (directories, files): (Vec<_>, Vec<_>) = directory
        .entries
        .iter()
        .partition(|(_, entry)| entry.is_dir);
    for (name, entry) in directories {
        out.push_str(&format!("{indent}{}/\n", Path::new(name).display()));
        render(out, &entry.children, depth + 1);
    }
    for (name, entry) in files {
        match &entry.symlink_target {
            Some(target) => out.push_str(&format!(
                "{indent}{} -> {}\n",
                Path::new(name).display(),
                target.display()
            )),
            None => out.push_str(&format!("{indent}{}\n", Path::new(name).display())),
        }
    }
    if directory.more > 0 {
        out.push_str(&format!(
            "{indent}… {} more\n",
            thousands(directory.more as u64)
        ));
    }
}

fn count_more(directory: &Directory) -> usize {
    directory.more
        + directory
            .entries
            .values()
            .map(|entry| count_more(&entry.children))
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_patterns_match_names_and_trailing_slashes() {
        let set = ignore_set(&["node_modules/".into(), "*.log".into()]).unwrap();
        assert!(set.is_match("node_modules"));
        assert!(set.is_match("debug.log"));
        assert!(!set.is_match("src"));
        assert!(ignore_set(&["[".into()]).is_err());
    }
}
