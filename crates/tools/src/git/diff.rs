//! `git_diff` (changes in the working tree, the index or between commits) and `git_show` (a
//! commit, or a file as it was at a revision).

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    PARSED_OUTPUT_BYTES, bounded, check_revision, command_line, git_failure, pathspec, run_git,
};
use crate::args;
use crate::paths::PathPolicy;

const DIFF_DESCRIPTION: &str = "\
Shows changes in the git repository as a unified diff, preceded by a per-file summary \
(`--stat`).

Usage:
- With no arguments: changes in the working tree that are not staged yet.
- `staged: true`: what is staged, i.e. what `git_commit` would commit.
- `range`: changes between commits instead, e.g. `HEAD~3`, `main..HEAD` or `v1.0...feature` \
(cannot be combined with `staged`).
- `path`: only this file or directory (relative to the working directory).
- Long diffs are cut; narrow them with `path` when that happens.";

const SHOW_DESCRIPTION: &str = "\
Shows a git commit (its message, author, date, a per-file summary and its diff), or with \
`path` the whole content of that file as it was at the revision.

Usage:
- `rev`: a commit, branch or tag, e.g. `HEAD`, `HEAD~2`, `abc1234`, `main`.
- `path`: a file relative to the working directory; the result is the file's content at \
`rev`, not a diff.
- Long output is cut; use `git_diff` with a `range` and a `path` to narrow a large commit.";

/// `git_diff`: `{staged?, path?, range?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitDiffTool;

/// `git_show`: `{rev, path?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitShowTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffArgs {
    #[serde(default)]
    staged: bool,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    range: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowArgs {
    rev: String,
    #[serde(default)]
    path: Option<String>,
}

fn diff_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "staged": {
                "type": "boolean",
                "description": "Show the staged changes (what would be committed) instead of the unstaged ones."
            },
            "path": {
                "type": "string",
                "description": "Only changes to this file or directory, relative to the working directory."
            },
            "range": {
                "type": "string",
                "description": "Compare commits instead of the working tree, e.g. `HEAD~3`, `main..HEAD`."
            }
        },
        "required": [],
        "additionalProperties": false
    })
}

fn show_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "rev": {
                "type": "string",
                "description": "The commit, branch or tag to show, e.g. `HEAD`, `HEAD~2`, `abc1234`."
            },
            "path": {
                "type": "string",
                "description": "Show this file's content at `rev` instead of the commit (relative to the working directory)."
            }
        },
        "required": ["rev"],
        "additionalProperties": false
    })
}

fn diff_args(arguments: &DiffArgs) -> Vec<String> {
    let mut args = vec!["diff".to_string(), "--patch-with-stat".to_string()];
    if arguments.staged {
        args.push("--staged".into());
    }
    if let Some(range) = &arguments.range {
        args.push(range.clone());
    }
    args
}

#[async_trait]
impl Tool for GitDiffTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_diff".into(),
            description: DIFF_DESCRIPTION.into(),
            parameters: diff_schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let what = match (
            args::str_field(arguments, "range"),
            arguments
                .get("staged")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ) {
            (Some(range), _) => format!("git diff {range}"),
            (None, true) => "git diff --staged".to_string(),
            (None, false) => "git diff".to_string(),
        };
        match args::str_field(arguments, "path") {
            Some(path) => format!("show `{what}` of {path}"),
            None => format!("show `{what}`"),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match args::str_field(arguments, "path") {
            Some(path) => PermissionTarget::Paths(vec![path.to_string()]),
            None => PermissionTarget::Command("git diff".into()),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = diff_schema();
        let arguments: DiffArgs = args::parse("git_diff", arguments, &schema)?;
        if let Some(range) = &arguments.range {
            check_revision("range", range)?;
            if arguments.staged {
                return Err(args::invalid(
                    "git_diff",
                    "`staged` and `range` cannot be combined; use `staged` for what would be \
                     committed, or `range` to compare commits",
                    &schema,
                ));
            }
        }
        let mut git_args = diff_args(&arguments);
        git_args.push("--".into());
        if let Some(path) = &arguments.path {
            git_args.push(pathspec(&PathPolicy::new(context), context, path)?);
        }
        let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            return Err(git_failure(
                &command_line(&git_args[..1]),
                &output,
                &context.cwd,
            ));
        }
        if output.stdout.trim().is_empty() {
            let text = match (&arguments.range, arguments.staged) {
                (Some(range), _) => format!("No differences in `{range}`."),
                (None, true) => "Nothing is staged.".to_string(),
                (None, false) => {
                    "No unstaged changes (pass `staged: true` to see staged changes; untracked \
                     files are listed by `git_status`)."
                        .to_string()
                }
            };
            return Ok(ToolOutput::from(text));
        }
        Ok(ToolOutput::from(bounded(
            output.stdout,
            context,
            "pass `path` to see one file's changes",
        )))
    }
}

#[async_trait]
impl Tool for GitShowTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_show".into(),
            description: SHOW_DESCRIPTION.into(),
            parameters: show_schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &Value) -> String {
        let rev = args::str_field(arguments, "rev").unwrap_or("HEAD");
        match args::str_field(arguments, "path") {
            Some(path) => format!("show {path} at {rev}"),
            None => format!("show commit {rev}"),
        }
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        match args::str_field(arguments, "path") {
            Some(path) => PermissionTarget::Paths(vec![path.to_string()]),
            None => PermissionTarget::Command("git show".into()),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let arguments: ShowArgs = args::parse("git_show", arguments, &show_schema())?;
        check_revision("rev", &arguments.rev)?;
        let git_args = match &arguments.path {
            Some(path) => {
                let relative = pathspec(&PathPolicy::new(context), context, path)?;
                vec![
                    "show".to_string(),
                    format!("{}:./{relative}", arguments.rev),
                ]
            }
            None => vec![
                "show".to_string(),
                "--patch-with-stat".to_string(),
                "--format=fuller".to_string(),
                arguments.rev.clone(),
                "--".to_string(),
            ],
        };
        let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            if arguments.path.is_some() && output.stderr.contains("exists on disk, but not in") {
                return Err(ToolError::new(format!(
                    "`{}` did not exist at `{}`; check the path with `git_log` and a `path`",
                    arguments.path.unwrap_or_default(),
                    arguments.rev
                )));
            }
            return Err(git_failure("git show", &output, &context.cwd));
        }
        Ok(ToolOutput::from(bounded(
            output.stdout,
            context,
            "pass `path` to see one file",
        )))
    }
}
