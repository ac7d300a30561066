//! `git_commit`: stages what it is told to, then commits, with the model's message or one
//! generated from the staged changes. Hooks run (never `--no-verify`) and nothing is amended.

use std::io::Write;

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PARSED_OUTPUT_BYTES, bounded, command_line, git_failure, pathspec, run_git, strings};
use crate::args;
use crate::paths::PathPolicy;

/// Longest generated subject, in characters.
const MAX_SUBJECT_CHARS: usize = 72;
/// Files listed in a generated body before the rest are counted.
const MAX_BODY_FILES: usize = 50;

const DESCRIPTION: &str = "\
Creates a git commit of the staged changes.

Usage:
- `paths`: stage these files or directories first (relative to the working directory); \
deleted files are staged as deletions.
- `all: true`: stage every change first: modified, deleted and new files that are not \
ignored (`git add -A`).
- Without `paths` or `all`, only what is already staged is committed. Check with \
`git_status` first; never commit files the user did not ask for, secrets or build output.
- `message`: the commit message (first line a short summary). When absent, a message is \
generated from the staged changes.
- Commit hooks run. If one fails, the commit is not made: fix what it reports and commit \
again. Previous commits are never amended.";

/// `git_commit`: `{message?, paths?, all?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitCommitTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitArgs {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    all: bool,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "description": "The commit message. Default: one generated from the staged changes."
            },
            "paths": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Files or directories to stage before committing, relative to the working directory."
            },
            "all": {
                "type": "boolean",
                "description": "Stage every change (including new, non-ignored files) before committing."
            }
        },
        "required": [],
        "additionalProperties": false
    })
}

/// What happened to a file in a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Renamed from this path.
    Renamed(String),
}

/// One staged file, as the message generator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    pub kind: ChangeKind,
    /// Lines added and removed; `None` for a binary file.
    pub lines: Option<(u64, u64)>,
}

/// A commit message summarising `files`: a subject such as
/// `Update src/lib.rs and 2 other files (+12 -3)`, prefixed `docs:` or `test:` when every file
/// is documentation or tests, and a body listing each file. Deterministic: the same changes
/// always give the same message.
pub fn commit_message(files: &[ChangedFile]) -> String {
    if files.is_empty() {
        return "Empty commit".to_string();
    }
    let verb = if files.iter().all(|f| f.kind == ChangeKind::Added) {
        "Add"
    } else if files.iter().all(|f| f.kind == ChangeKind::Deleted) {
        "Remove"
    } else if files
        .iter()
        .all(|f| matches!(f.kind, ChangeKind::Renamed(_)))
    {
        "Rename"
    } else {
        "Update"
    };
    let weight = |file: &ChangedFile| file.lines.map_or(0, |(added, removed)| added + removed);
    // The file with the most changed lines names the commit; ties go to the first path.
    let mut main = &files[0];
    for file in files {
        if weight(file) > weight(main) {
            main = file;
        }
    }
    let object = match files.len() {
        1 => main.path.clone(),
        2 => {
            let other = files.iter().find(|f| f.path != main.path).unwrap_or(main);
            format!("{} and {}", main.path, other.path)
        }
        count => format!("{} and {} other files", main.path, count - 1),
    };
    let (added, removed) = files.iter().fold((0, 0), |(a, r), file| {
        let (fa, fr) = file.lines.unwrap_or((0, 0));
        (a + fa, r + fr)
    });
    let prefix = category(files)
        .map(|c| format!("{c}: "))
        .unwrap_or_default();
    let stats = format!(" (+{added} -{removed})");
    let mut subject = format!("{prefix}{verb} {object}{stats}");
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        // Name the file by its last component when the full path does not fit.
        let short = main
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&main.path)
            .to_string();
        let object = match files.len() {
            1 => short,
            count => format!(
                "{short} and {} other file{}",
                count - 1,
                if count == 2 { "" } else { "s" }
            ),
        };
        subject = format!("{prefix}{verb} {object}{stats}");
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            subject = subject
                .chars()
                .take(MAX_SUBJECT_CHARS - 1)
                .collect::<String>()
                + "…";
        }
    }
    let mut message = format!("{subject}\n\n");
    for file in files.iter().take(MAX_BODY_FILES) {
        let what = match &file.kind {
            ChangeKind::Added => "added".to_string(),
            ChangeKind::Modified => "modified".to_string(),
            ChangeKind::Deleted => "deleted".to_string(),
            ChangeKind::Renamed(from) => format!("renamed from {from}"),
        };
        let lines = match file.lines {
            Some((added, removed)) => format!("+{added} -{removed}"),
            None => "binary".to_string(),
        };
        message.push_str(&format!("- {}: {what} ({lines})\n", file.path));
    }
    if files.len() > MAX_BODY_FILES {
        message.push_str(&format!(
            "- … and {} more files\n",
            files.len() - MAX_BODY_FILES
        ));
    }
    message
}

/// `docs`, `test` or `ci` when every file is of that kind.
fn category(files: &[ChangedFile]) -> Option<&'static str> {
    let is_doc = |path: &str| {
        let lower = path.to_ascii_lowercase();
        lower.ends_with(".md")
            || lower.ends_with(".rst")
            || lower.ends_with(".adoc")
            || lower.starts_with("docs/")
            || lower.contains("/docs/")
    };
    let is_test = |path: &str| {
        let lower = path.to_ascii_lowercase();
        let name = lower.rsplit('/').next().unwrap_or(&lower);
        lower.starts_with("tests/")
            || lower.contains("/tests/")
            || lower.starts_with("test/")
            || lower.contains("/test/")
            || name.starts_with("test_")
            || name.contains("_test.")
            || name.contains(".test.")
            || name.contains(".spec.")
    };
    let is_ci = |path: &str| path.starts_with(".github/workflows/") || path.starts_with(".ci/");
    if files.iter().all(|f| is_doc(&f.path)) {
        Some("docs")
    } else if files.iter().all(|f| is_test(&f.path)) {
        Some("test")
    } else if files.iter().all(|f| is_ci(&f.path)) {
        Some("ci")
    } else {
        None
    }
}

/// The staged files, from `git diff --cached --name-status -z` and `--numstat -z`.
pub(crate) fn parse_staged(name_status: &str, numstat: &str) -> Vec<ChangedFile> {
    let mut files = Vec::new();
    let mut fields = name_status.split('\0').filter(|f| !f.is_empty());
    while let Some(code) = fields.next() {
        let kind = match code.chars().next() {
            Some('A') | Some('C') => ChangeKind::Added,
            Some('D') => ChangeKind::Deleted,
            Some('R') => {
                let from = fields.next().unwrap_or_default().to_string();
                ChangeKind::Renamed(from)
            }
            _ => ChangeKind::Modified,
        };
        let Some(path) = fields.next() else { break };
        files.push(ChangedFile {
            path: path.to_string(),
            kind,
            lines: None,
        });
    }
    // numstat -z: "added\tremoved\tpath\0", or for a rename "added\tremoved\t\0from\0to\0".
    let mut records = numstat.split('\0');
    while let Some(record) = records.next() {
        let mut parts = record.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = if path.is_empty() {
            let _from = records.next();
            records.next().unwrap_or_default()
        } else {
            path
        };
        let lines = match (added.parse(), removed.parse()) {
            (Ok(a), Ok(r)) => Some((a, r)),
            _ => None,
        };
        if let Some(file) = files.iter_mut().find(|f| f.path == path) {
            file.lines = lines;
        }
    }
    files
}

#[async_trait]
impl Tool for GitCommitTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_commit".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        // Commit hooks are programs: committing runs code.
        ToolKind::Execute
    }

    fn summarize(&self, arguments: &Value) -> String {
        let what = match args::str_field(arguments, "message") {
            Some(message) => format!("commit {}", args::quoted_excerpt(message, 80)),
            None => "commit with a generated message".to_string(),
        };
        if arguments
            .get("all")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            format!("stage every change and {what}")
        } else {
            match arguments.get("paths").and_then(Value::as_array) {
                Some(paths) if !paths.is_empty() => {
                    format!("stage {} path(s) and {what}", paths.len())
                }
                _ => what,
            }
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        let mut line = "git commit".to_string();
        if arguments
            .get("all")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            line.push_str(" --all");
        }
        PermissionTarget::Command(line)
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: CommitArgs = args::parse("git_commit", arguments, &schema)?;
        if let Some(message) = &arguments.message
            && message.trim().is_empty()
        {
            return Err(args::invalid(
                "git_commit",
                "`message` is empty; give a message or leave it out to have one generated",
                &schema,
            ));
        }
        let cwd = context.cwd.clone();
        let mut add = strings(&["add"]);
        if arguments.all {
            add.push("-A".into());
        }
        if let Some(paths) = &arguments.paths {
            let policy = PathPolicy::new(context);
            add.push("--".into());
            for path in paths {
                add.push(pathspec(&policy, context, path)?);
            }
        }
        if add.len() > 1 {
            let output = run_git(context, &cwd, &add, PARSED_OUTPUT_BYTES).await?;
            if !output.success() {
                return Err(git_failure(&command_line(&add), &output, &cwd));
            }
        }
        let name_status = run_git(
            context,
            &cwd,
            &strings(&["diff", "--cached", "--no-renames", "--name-status", "-z"]),
            PARSED_OUTPUT_BYTES,
        )
        .await?;
        if !name_status.success() {
            return Err(git_failure("git diff --cached", &name_status, &cwd));
        }
        if name_status.stdout.trim_matches('\0').trim().is_empty() {
            return Err(ToolError::new(
                "nothing is staged, so there is nothing to commit; pass `paths` to stage \
                 files, or `all: true` to stage every change (see `git_status`)",
            ));
        }
        let message = match &arguments.message {
            Some(message) => message.clone(),
            None => {
                let numstat = run_git(
                    context,
                    &cwd,
                    &strings(&["diff", "--cached", "--no-renames", "--numstat", "-z"]),
                    PARSED_OUTPUT_BYTES,
                )
                .await?;
                commit_message(&parse_staged(&name_status.stdout, &numstat.stdout))
            }
        };
        let mut message_file = tempfile::NamedTempFile::new().map_err(|error| {
            ToolError::new(format!(
                "cannot write the commit message to a temporary file: {error}"
            ))
        })?;
        message_file
            .write_all(message.as_bytes())
            .map_err(|error| ToolError::new(format!("cannot write the commit message: {error}")))?;
        let commit = vec![
            "commit".to_string(),
            "--quiet".to_string(),
            "--cleanup=strip".to_string(),
            format!("--file={}", message_file.path().display()),
        ];
        let output = run_git(context, &cwd, &commit, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            let hook = output.stderr.contains("hook") || output.stdout.contains("hook");
            if hook {
                return Err(ToolError::new(format!(
                    "a commit hook refused the commit, which was not made:\n{}\n{}\nFix what \
                     it reports, then commit again",
                    output.stdout.trim(),
                    output.stderr.trim()
                )));
            }
            return Err(git_failure("git commit", &output, &cwd));
        }
        let summary = run_git(
            context,
            &cwd,
            &strings(&["log", "-1", "--stat", "--format=Committed %h on %D%n%n%B"]),
            PARSED_OUTPUT_BYTES,
        )
        .await?;
        let mut text = if summary.success() {
            summary.stdout
        } else {
            "Committed.\n".to_string()
        };
        if arguments.message.is_none() {
            text.push_str("\n(the message was generated from the staged changes)\n");
        }
        Ok(ToolOutput::from(bounded(
            text,
            context,
            "see `git_show HEAD`",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn file(path: &str, kind: ChangeKind, added: u64, removed: u64) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            kind,
            lines: Some((added, removed)),
        }
    }

    #[test]
    fn messages_name_the_biggest_change_and_the_totals() {
        let files = [
            file("Cargo.toml", ChangeKind::Modified, 1, 0),
            file("src/lib.rs", ChangeKind::Modified, 10, 3),
            file("src/new.rs", ChangeKind::Added, 1, 0),
        ];
        assert_eq!(
            commit_message(&files),
            "Update src/lib.rs and 2 other files (+12 -3)\n\n\
             - Cargo.toml: modified (+1 -0)\n\
             - src/lib.rs: modified (+10 -3)\n\
             - src/new.rs: added (+1 -0)\n"
        );
    }

    #[test]
    fn kinds_and_categories_shape_the_subject() {
        let added = [file("README.md", ChangeKind::Added, 4, 0)];
        assert!(commit_message(&added).starts_with("docs: Add README.md (+4 -0)\n"));
        let removed = [
            file("tests/a.rs", ChangeKind::Deleted, 0, 5),
            file("tests/b.rs", ChangeKind::Deleted, 0, 7),
        ];
        assert!(
            commit_message(&removed)
                .starts_with("test: Remove tests/b.rs and tests/a.rs (+0 -12)\n"),
            "{}",
            commit_message(&removed)
        );
    }

    #[test]
    fn long_paths_are_shortened_in_the_subject() {
        let long = format!("{}/file.rs", "deeply/nested".repeat(8));
        let message = commit_message(&[file(&long, ChangeKind::Modified, 1, 1)]);
        let subject = message.lines().next().unwrap();
        assert_eq!(subject, "Update file.rs (+1 -1)");
    }

    #[test]
    fn staged_listings_are_parsed() {
        let files = parse_staged(
            "M\0src/lib.rs\0A\0new.txt\0D\0gone.rs\0",
            "3\t1\tsrc/lib.rs\0-\t-\tnew.txt\u{0}0\t9\tgone.rs\0",
        );
        assert_eq!(
            files,
            [
                file("src/lib.rs", ChangeKind::Modified, 3, 1),
                ChangedFile {
                    path: "new.txt".into(),
                    kind: ChangeKind::Added,
                    lines: None
                },
                file("gone.rs", ChangeKind::Deleted, 0, 9),
            ]
        );
    }
}
