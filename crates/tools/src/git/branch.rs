//! `git_branch`: lists branches, creates one, switches to one. Switching with uncommitted
//! changes is refused unless the call says to carry them over.

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::status::Status;
use super::{PARSED_OUTPUT_BYTES, bounded, command_line, git_failure, run_git, strings};
use crate::args;

const DESCRIPTION: &str = "\
Lists, creates and switches git branches.

Usage:
- No arguments: list the local branches; the current one is marked `*`.
- `name` with `create: true`: create the branch at the current commit (add `checkout: true` \
to switch to it too; uncommitted changes come along).
- `name` with `checkout: true`: switch to an existing branch. Refused when tracked files \
have uncommitted changes, unless `allow_dirty: true` (git then carries the changes over, \
and still refuses if the switch would overwrite them). Prefer committing first.";

/// `git_branch`: `{name?, create?, checkout?, allow_dirty?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitBranchTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    create: bool,
    #[serde(default)]
    checkout: bool,
    #[serde(default)]
    allow_dirty: bool,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {
                "type": "string",
                "description": "The branch to create or switch to. Leave out to list branches."
            },
            "create": {
                "type": "boolean",
                "description": "Create `name` at the current commit."
            },
            "checkout": {
                "type": "boolean",
                "description": "Switch to `name` (after creating it, with `create`)."
            },
            "allow_dirty": {
                "type": "boolean",
                "description": "Switch even though tracked files have uncommitted changes (they are carried over)."
            }
        },
        "required": [],
        "additionalProperties": false
    })
}

/// The git commands a call runs, for permission rules.
fn planned(arguments: &Value) -> String {
    let name = args::str_field(arguments, "name");
    let flag = |key: &str| arguments.get(key).and_then(Value::as_bool).unwrap_or(false);
    match (name, flag("create"), flag("checkout")) {
        (Some(name), true, true) => command_line(&strings(&["switch", "-c", name])),
        (Some(name), true, false) => command_line(&strings(&["branch", name])),
        (Some(name), false, true) => command_line(&strings(&["switch", name])),
        _ => "git branch --list".to_string(),
    }
}

#[async_trait]
impl Tool for GitBranchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_branch".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        // Switching rewrites the working tree and runs the `post-checkout` hook.
        ToolKind::Execute
    }

    fn summarize(&self, arguments: &Value) -> String {
        format!("run `{}`", planned(arguments))
    }

    fn permission_target(&self, arguments: &Value) -> PermissionTarget {
        PermissionTarget::Command(planned(arguments))
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: BranchArgs = args::parse("git_branch", arguments, &schema)?;
        let cwd = context.cwd.clone();
        let Some(name) = arguments.name else {
            if arguments.create || arguments.checkout {
                return Err(args::invalid(
                    "git_branch",
                    "`create` and `checkout` need a branch `name`",
                    &schema,
                ));
            }
            return list(context).await;
        };
        if !arguments.create && !arguments.checkout {
            return Err(args::invalid(
                "git_branch",
                format!(
                    "say what to do with `{name}`: `create: true` to create it, `checkout: \
                     true` to switch to it, or both"
                ),
                &schema,
            ));
        }
        let check = run_git(
            context,
            &cwd,
            &strings(&["check-ref-format", "--branch", &name]),
            64 * 1024,
        )
        .await?;
        if name.starts_with('-') || !check.success() {
            return Err(ToolError::new(format!(
                "`{name}` is not a valid branch name (no spaces, `..`, `~`, `^`, `:`, `?`, \
                 `*`, `[` or leading `-`); pick another, e.g. `fix-parser`"
            )));
        }
        if arguments.checkout && !arguments.create && !arguments.allow_dirty {
            let status = run_git(
                context,
                &cwd,
                &strings(&["status", "--porcelain=v2", "-z", "--untracked-files=no"]),
                PARSED_OUTPUT_BYTES,
            )
            .await?;
            if !status.success() {
                return Err(git_failure("git status", &status, &cwd));
            }
            let status = Status::parse(&status.stdout);
            if status.has_tracked_changes() {
                let mut paths: Vec<&str> = status
                    .conflicted
                    .iter()
                    .chain(&status.staged)
                    .chain(&status.unstaged)
                    .map(|entry| entry.path.as_str())
                    .collect();
                paths.dedup();
                let count = paths.len();
                let shown: Vec<String> = paths
                    .iter()
                    .take(10)
                    .map(|path| format!("`{path}`"))
                    .collect();
                let more = if count > 10 {
                    format!(" and {} more", count - 10)
                } else {
                    String::new()
                };
                return Err(ToolError::new(format!(
                    "refusing to switch to `{name}`: the working tree has uncommitted changes \
                     ({}{more}); commit them with `git_commit` first, or pass `allow_dirty: \
                     true` to carry them over to `{name}`",
                    shown.join(", ")
                )));
            }
        }
        let git_args = match (arguments.create, arguments.checkout) {
            (true, true) => strings(&["switch", "-c", &name]),
            (true, false) => strings(&["branch", &name]),
            _ => strings(&["switch", &name]),
        };
        let output = run_git(context, &cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            if output.stderr.contains("already exists") {
                return Err(ToolError::new(format!(
                    "a branch named `{name}` already exists; pass `checkout: true` without \
                     `create` to switch to it, or choose another name"
                )));
            }
            if output.stderr.contains("invalid reference") {
                return Err(ToolError::new(format!(
                    "there is no branch `{name}`; pass `create: true` to create it, or list \
                     the branches by calling `git_branch` without arguments"
                )));
            }
            if output.stderr.contains("would be overwritten") {
                return Err(ToolError::new(format!(
                    "git refused to switch to `{name}` because it would overwrite uncommitted \
                     changes: {}. Commit them first",
                    output.stderr.trim()
                )));
            }
            return Err(git_failure(&command_line(&git_args), &output, &cwd));
        }
        let text = match (arguments.create, arguments.checkout) {
            (true, true) => format!("Created branch `{name}` and switched to it.\n"),
            (true, false) => format!("Created branch `{name}` at the current commit.\n"),
            _ => format!("Switched to branch `{name}`.\n"),
        };
        Ok(ToolOutput::from(text))
    }
}

async fn list(context: &ToolContext) -> Result<ToolOutput, ToolError> {
    let git_args = strings(&[
        "for-each-ref",
        "--sort=-committerdate",
        "--format=%(HEAD)%1f%(refname:short)%1f%(objectname:short)%1f%(upstream:short)%1f%(upstream:track)%1f%(contents:subject)",
        "refs/heads/",
    ]);
    let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
    if !output.success() {
        return Err(git_failure("git branch", &output, &context.cwd));
    }
    let mut text = String::new();
    for line in output.stdout.lines() {
        let fields: Vec<&str> = line.split('\u{1f}').collect();
        let [head, name, hash, upstream, track, subject] = fields.as_slice() else {
            continue;
        };
        let marker = if *head == "*" { "*" } else { " " };
        let upstream = match (upstream.is_empty(), track.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!(" [{upstream}]"),
            (false, false) => format!(" [{upstream}: {}]", track.trim_matches(['[', ']'])),
        };
        text.push_str(&format!("{marker} {name} {hash}{upstream} {subject}\n"));
    }
    if text.is_empty() {
        text.push_str("No branches yet (the repository has no commits).\n");
    }
    Ok(ToolOutput::from(bounded(
        text,
        context,
        "too many branches",
    )))
}
