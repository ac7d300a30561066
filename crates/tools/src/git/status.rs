//! `git_status`: the branch, how far it is from its upstream, and what is staged, changed,
//! untracked or conflicted, parsed from `git status --porcelain=v2`.

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PARSED_OUTPUT_BYTES, bounded, git_failure, run_git, strings};
use crate::args;

/// Entries listed per section before the rest are counted.
const MAX_ENTRIES_PER_SECTION: usize = 200;

const DESCRIPTION: &str = "\
Shows the state of the git repository the working directory is in: the current branch, how \
many commits it is ahead of and behind its upstream, and the files that are staged, changed \
but not staged, untracked, or in conflict.

Usage:
- Paths are relative to the working directory.
- Use it before `git_commit` to see what would be committed, and after edits to see what you \
changed. Use `git_diff` for the changes themselves.
- Ignored files are not listed; an untracked directory is listed once, not file by file.";

/// `git_status`: `{}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitStatusTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusArgs {}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for GitStatusTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_status".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, _arguments: &Value) -> String {
        "show the git status".into()
    }

    fn permission_target(&self, _arguments: &Value) -> PermissionTarget {
        PermissionTarget::Command("git status".into())
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let _: StatusArgs = args::parse("git_status", arguments, &schema())?;
        let output = run_git(
            context,
            &context.cwd,
            &strings(&["status", "--porcelain=v2", "--branch", "-z"]),
            PARSED_OUTPUT_BYTES,
        )
        .await?;
        if !output.success() {
            return Err(git_failure("git status", &output, &context.cwd));
        }
        let status = Status::parse(&output.stdout);
        Ok(ToolOutput::from(bounded(
            status.render(),
            context,
            "use `git_diff` with a `path` to look at one file",
        )))
    }
}

/// The parsed output of `git status --porcelain=v2 --branch -z`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    /// `None` when HEAD is detached.
    pub(crate) branch: Option<String>,
    /// The commit HEAD is at, `None` before the first commit.
    pub(crate) commit: Option<String>,
    pub(crate) upstream: Option<String>,
    pub(crate) ahead: u64,
    pub(crate) behind: u64,
    pub(crate) staged: Vec<Entry>,
    pub(crate) unstaged: Vec<Entry>,
    pub(crate) untracked: Vec<String>,
    pub(crate) conflicted: Vec<Entry>,
}

/// One changed path and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) change: &'static str,
    pub(crate) path: String,
    /// The path it was renamed or copied from.
    pub(crate) from: Option<String>,
}

impl Status {
    pub(crate) fn parse(text: &str) -> Status {
        let mut status = Status::default();
        let mut records = text.split('\0').filter(|record| !record.is_empty());
        while let Some(record) = records.next() {
            if let Some(header) = record.strip_prefix("# ") {
                status.parse_header(header);
            } else if let Some(rest) = record.strip_prefix("1 ") {
                // XY sub mH mI mW hH hI path
                let fields: Vec<&str> = rest.splitn(8, ' ').collect();
                if let [xy, .., path] = fields.as_slice() {
                    status.add_change(xy, path, None);
                }
            } else if let Some(rest) = record.strip_prefix("2 ") {
                // XY sub mH mI mW hH hI Xscore path, then the original path as its own record.
                let fields: Vec<&str> = rest.splitn(9, ' ').collect();
                let from = records.next().map(str::to_string);
                if let [xy, .., path] = fields.as_slice() {
                    status.add_change(xy, path, from);
                }
            } else if let Some(rest) = record.strip_prefix("u ") {
                // XY sub m1 m2 m3 mW h1 h2 h3 path
                let fields: Vec<&str> = rest.splitn(10, ' ').collect();
                if let [xy, .., path] = fields.as_slice() {
                    status.conflicted.push(Entry {
                        change: conflict_name(xy),
                        path: (*path).to_string(),
                        from: None,
                    });
                }
            } else if let Some(path) = record.strip_prefix("? ") {
                status.untracked.push(path.to_string());
            }
        }
        status
    }

    fn parse_header(&mut self, header: &str) {
        let (key, value) = header.split_once(' ').unwrap_or((header, ""));
        match key {
            "branch.oid" if value != "(initial)" => self.commit = Some(value.to_string()),
            "branch.head" if value != "(detached)" => self.branch = Some(value.to_string()),
            "branch.upstream" => self.upstream = Some(value.to_string()),
            "branch.ab" => {
                for part in value.split(' ') {
                    if let Some(ahead) = part.strip_prefix('+') {
                        self.ahead = ahead.parse().unwrap_or(0);
                    } else if let Some(behind) = part.strip_prefix('-') {
                        self.behind = behind.parse().unwrap_or(0);
                    }
                }
            }
            _ => {}
        }
    }

    fn add_change(&mut self, xy: &str, path: &str, from: Option<String>) {
        let mut codes = xy.chars();
        let index = codes.next().unwrap_or('.');
        let worktree = codes.next().unwrap_or('.');
        if index != '.' {
            self.staged.push(Entry {
                change: change_name(index),
                path: path.to_string(),
                from: from.clone(),
            });
        }
        if worktree != '.' {
            self.unstaged.push(Entry {
                change: change_name(worktree),
                path: path.to_string(),
                from: None,
            });
        }
    }

    /// Whether tracked files have staged or unstaged changes or conflicts.
    pub(crate) fn has_tracked_changes(&self) -> bool {
        !(self.staged.is_empty() && self.unstaged.is_empty() && self.conflicted.is_empty())
    }

    pub(crate) fn render(&self) -> String {
        let mut text = match (&self.branch, &self.commit) {
            (Some(branch), Some(_)) => format!("On branch {branch}"),
            (Some(branch), None) => format!("On branch {branch} (no commits yet)"),
            (None, Some(commit)) => {
                format!("HEAD detached at {}", commit.get(..7).unwrap_or(commit))
            }
            (None, None) => "HEAD detached".to_string(),
        };
        match &self.upstream {
            Some(upstream) => {
                let relation = match (self.ahead, self.behind) {
                    (0, 0) => "up to date".to_string(),
                    (ahead, 0) => format!("{ahead} ahead"),
                    (0, behind) => format!("{behind} behind"),
                    (ahead, behind) => format!("{ahead} ahead, {behind} behind"),
                };
                text.push_str(&format!(", tracking {upstream}: {relation}"));
            }
            None if self.branch.is_some() => text.push_str(", no upstream"),
            None => {}
        }
        text.push('\n');
        if !self.has_tracked_changes() && self.untracked.is_empty() {
            text.push_str("Working tree clean.\n");
            return text;
        }
        section(
            &mut text,
            "Conflicts (resolve, then stage)",
            &self.conflicted,
        );
        section(&mut text, "Staged (will be committed)", &self.staged);
        section(&mut text, "Not staged", &self.unstaged);
        if !self.untracked.is_empty() {
            text.push_str(&format!("Untracked ({}):\n", self.untracked.len()));
            for path in self.untracked.iter().take(MAX_ENTRIES_PER_SECTION) {
                text.push_str(&format!("  {path}\n"));
            }
            more(&mut text, self.untracked.len());
        }
        text
    }
}

fn section(text: &mut String, title: &str, entries: &[Entry]) {
    if entries.is_empty() {
        return;
    }
    text.push_str(&format!("{title} ({}):\n", entries.len()));
    for entry in entries.iter().take(MAX_ENTRIES_PER_SECTION) {
        match &entry.from {
            Some(from) => text.push_str(&format!("  {}: {from} -> {}\n", entry.change, entry.path)),
            None => text.push_str(&format!("  {}: {}\n", entry.change, entry.path)),
        }
    }
    more(text, entries.len());
}

fn more(text: &mut String, count: usize) {
    if count > MAX_ENTRIES_PER_SECTION {
        text.push_str(&format!(
            "  … and {} more\n",
            count - MAX_ENTRIES_PER_SECTION
        ));
    }
}

fn change_name(code: char) -> &'static str {
    match code {
        'M' => "modified",
        'T' => "type changed",
        'A' => "added",
        'D' => "deleted",
        'R' => "renamed",
        'C' => "copied",
        'U' => "unmerged",
        _ => "changed",
    }
}

fn conflict_name(xy: &str) -> &'static str {
    match xy {
        "DD" => "both deleted",
        "AU" => "added by us",
        "UD" => "deleted by them",
        "UA" => "added by them",
        "DU" => "deleted by us",
        "AA" => "both added",
        _ => "both modified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn porcelain_v2_is_parsed_into_sections() {
        let text = "# branch.oid 1234567890abcdef\0# branch.head main\0\
            # branch.upstream origin/main\0# branch.ab +2 -1\0\
            1 M. N... 100644 100644 100644 aaa bbb src/lib.rs\0\
            1 .M N... 100644 100644 100644 aaa bbb README.md\0\
            1 MM N... 100644 100644 100644 aaa bbb both.rs\0\
            2 R. N... 100644 100644 100644 aaa bbb R100 new name.rs\0old.rs\0\
            u UU N... 100644 100644 100644 100644 a b c conflict.rs\0\
            ? notes.txt\0";
        let status = Status::parse(text);
        assert_eq!(status.branch.as_deref(), Some("main"));
        assert_eq!((status.ahead, status.behind), (2, 1));
        assert_eq!(
            status.render(),
            "On branch main, tracking origin/main: 2 ahead, 1 behind\n\
             Conflicts (resolve, then stage) (1):\n  both modified: conflict.rs\n\
             Staged (will be committed) (3):\n  modified: src/lib.rs\n  modified: both.rs\n  \
             renamed: old.rs -> new name.rs\n\
             Not staged (2):\n  modified: README.md\n  modified: both.rs\n\
             Untracked (1):\n  notes.txt\n"
        );
    }

    #[test]
    fn a_clean_detached_head_says_so() {
        let status = Status::parse("# branch.oid abcdef0123456\0# branch.head (detached)\0");
        assert_eq!(
            status.render(),
            "HEAD detached at abcdef0\nWorking tree clean.\n"
        );
    }
}
