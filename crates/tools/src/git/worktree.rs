//! `git_worktree`: adds, lists and removes linked worktrees, so parallel agents can each work
//! on a branch of their own.
//!
//! Where a worktree may go: `<git common dir>/code-mesh-worktrees/<name>` (what a plain name
//! means, and where the swarm strategy puts one worktree per agent: inside `.git`, so it is
//! neither untracked clutter in the main checkout nor seen by its searches), or anywhere in
//! the workspace's parent directory outside the workspace itself (a sibling checkout such as
//! `../project-feature`). Nothing else, so a worktree never lands in an arbitrary place.

use std::fs;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use code_mesh_core::{PermissionTarget, Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PARSED_OUTPUT_BYTES, bounded, command_line, git_failure, run_git, strings};
use crate::args;

/// The directory, inside the git common directory (usually `.git`), that holds the worktrees
/// Code Mesh creates: `.git/code-mesh-worktrees/<name>`.
pub const WORKTREE_DIR: &str = "code-mesh-worktrees";

const DESCRIPTION: &str = "\
Manages git worktrees: extra checkouts of the same repository, each on its own branch, for \
working on several things in parallel.

Usage:
- `action: \"list\"`: list the worktrees with their branch and commit.
- `action: \"add\"`, `path`, `branch?`: create a worktree. A plain name such as `agent-1` \
puts it in `.git/code-mesh-worktrees/agent-1`; otherwise `path` must be in the workspace's \
parent directory, outside the workspace (e.g. `../project-feature`). `branch`: the branch to \
check out there, created from the current commit if it does not exist; default: a new \
branch named after the directory.
- `action: \"remove\"`, `path`: remove a worktree. Refused while it has uncommitted \
changes: commit them there first.";

/// `git_worktree`: `{action, path?, branch?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitWorktreeTool;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Action {
    Add,
    Remove,
    List,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorktreeArgs {
    action: Action,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    branch: Option<String>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "action": {
                "type": "string",
                "enum": ["add", "remove", "list"],
                "description": "What to do: `add` a worktree, `remove` one, or `list` them."
            },
            "path": {
                "type": "string",
                "description": "The worktree: a plain name (kept in `.git/code-mesh-worktrees/`) or a path in the workspace's parent directory. Needed for add and remove."
            },
            "branch": {
                "type": "string",
                "description": "For add: the branch to check out, created at the current commit if missing."
            }
        },
        "required": ["action"],
        "additionalProperties": false
    })
}

fn planned(arguments: &Value) -> String {
    let action = args::str_field(arguments, "action").unwrap_or("list");
    let mut line = format!("git worktree {action}");
    if let Some(path) = args::str_field(arguments, "path") {
        line.push(' ');
        line.push_str(&super::shell_quote(path));
    }
    if let Some(branch) = args::str_field(arguments, "branch") {
        line.push(' ');
        line.push_str(&super::shell_quote(branch));
    }
    line
}

#[async_trait]
impl Tool for GitWorktreeTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "git_worktree".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        // Adding checks files out and runs the `post-checkout` hook.
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
        let arguments: WorktreeArgs = args::parse("git_worktree", arguments, &schema)?;
        if arguments.action == Action::List {
            return list(context).await;
        }
        let Some(raw) = arguments.path.as_deref().filter(|p| !p.trim().is_empty()) else {
            return Err(args::invalid(
                "git_worktree",
                "`path` is needed to add or remove a worktree, e.g. `agent-1`",
                &schema,
            ));
        };
        let places = Places::find(context).await?;
        let path = places.resolve(raw, context)?;
        let path_text = path.to_string_lossy().into_owned();
        let git_args = match arguments.action {
            Action::Add => {
                let mut git_args = strings(&["worktree", "add"]);
                match &arguments.branch {
                    Some(branch) => {
                        if branch.starts_with('-') || branch.trim().is_empty() {
                            return Err(ToolError::new(format!(
                                "`{branch}` is not a valid branch name; pick one such as \
                                 `agent-1`"
                            )));
                        }
                        let exists = run_git(
                            context,
                            &context.cwd,
                            &strings(&[
                                "rev-parse",
                                "--verify",
                                "--quiet",
                                &format!("refs/heads/{branch}"),
                            ]),
                            64 * 1024,
                        )
                        .await?
                        .success();
                        if exists {
                            git_args.extend([path_text.clone(), branch.clone()]);
                        } else {
                            git_args.extend(["-b".to_string(), branch.clone(), path_text.clone()]);
                        }
                    }
                    None => git_args.push(path_text.clone()),
                }
                git_args
            }
            // `list` was answered above.
            Action::Remove | Action::List => strings(&["worktree", "remove", &path_text]),
        };
        let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
        if !output.success() {
            let stderr = output.stderr.as_str();
            if stderr.contains("contains modified or untracked files") {
                return Err(ToolError::new(format!(
                    "the worktree `{raw}` has uncommitted changes or untracked files, so it \
                     was not removed; commit them there (`git_commit` with that working \
                     directory) or ask the user before discarding them"
                )));
            }
            if stderr.contains("is not a working tree") {
                return Err(ToolError::new(format!(
                    "`{}` is not a worktree of this repository; `git_worktree` with `action: \
                     \"list\"` shows the worktrees there are",
                    path.display()
                )));
            }
            if stderr.contains("already exists")
                || stderr.contains("is already checked out")
                || stderr.contains("is already used by worktree")
            {
                return Err(ToolError::new(format!(
                    "cannot add the worktree: {}. Choose another path or branch",
                    stderr.trim().trim_start_matches("fatal: ")
                )));
            }
            return Err(git_failure(&command_line(&git_args), &output, &context.cwd));
        }
        let text = match arguments.action {
            Action::Add => format!(
                "Added the worktree `{}`{}. Work there with paths under it.\n",
                path.display(),
                arguments
                    .branch
                    .map(|b| format!(" on branch `{b}`"))
                    .unwrap_or_default()
            ),
            _ => format!("Removed the worktree `{}`.\n", path.display()),
        };
        Ok(ToolOutput::from(text))
    }
}

/// Where worktrees may be created.
#[derive(Debug)]
struct Places {
    /// `<git common dir>/code-mesh-worktrees`.
    default_root: PathBuf,
    workspace: PathBuf,
    /// The workspace's parent directory.
    parent: Option<PathBuf>,
}

impl Places {
    async fn find(context: &ToolContext) -> Result<Places, ToolError> {
        let output = run_git(
            context,
            &context.cwd,
            &strings(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
            64 * 1024,
        )
        .await?;
        if !output.success() {
            return Err(git_failure("git worktree", &output, &context.cwd));
        }
        let common = PathBuf::from(output.stdout.trim());
        let common = fs::canonicalize(&common).unwrap_or(common);
        let workspace =
            fs::canonicalize(&context.workspace).unwrap_or_else(|_| context.workspace.clone());
        Ok(Places {
            default_root: common.join(WORKTREE_DIR),
            parent: workspace.parent().map(Path::to_path_buf),
            workspace,
        })
    }

    fn resolve(&self, raw: &str, context: &ToolContext) -> Result<PathBuf, ToolError> {
        let plain_name = !raw.contains('/');
        if plain_name && matches!(raw, "." | "..") {
            return Err(ToolError::new(format!(
                "`{raw}` is not a worktree name; use a name such as `agent-1`"
            )));
        }
        let joined = if plain_name {
            self.default_root.join(raw)
        } else if Path::new(raw).is_absolute() {
            PathBuf::from(raw)
        } else {
            context.cwd.join(raw)
        };
        let path = canonical_lenient(&joined);
        let in_default = path.starts_with(&self.default_root) && path != self.default_root;
        let beside = self
            .parent
            .as_ref()
            .is_some_and(|parent| path.starts_with(parent) && path != *parent)
            && !path.starts_with(&self.workspace);
        if in_default || beside {
            return Ok(path);
        }
        Err(ToolError::new(format!(
            "`{raw}` (resolved to `{}`) is not a place for a worktree: use a plain name such as \
             `agent-1` (kept in `{}`), or a path in `{}` outside the workspace",
            path.display(),
            self.default_root.display(),
            self.parent.as_deref().unwrap_or(Path::new("/")).display()
        )))
    }
}

/// `path` with `.`/`..` applied and its deepest existing ancestor canonicalised (symlinks
/// resolved), the missing rest appended.
fn canonical_lenient(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let mut missing = Vec::new();
    let mut existing = normal.as_path();
    loop {
        if let Ok(canonical) = fs::canonicalize(existing) {
            let mut result = canonical;
            result.extend(missing.iter().rev());
            return result;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return normal,
        }
    }
}

/// One entry of `git worktree list --porcelain`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorktreeEntry {
    pub(crate) path: String,
    pub(crate) head: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) notes: Vec<&'static str>,
}

pub(crate) fn parse_worktrees(text: &str) -> Vec<WorktreeEntry> {
    let mut entries = Vec::new();
    for block in text.split("\n\n") {
        let mut entry = WorktreeEntry::default();
        for line in block.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "worktree" => entry.path = value.to_string(),
                "HEAD" => entry.head = Some(value.chars().take(8).collect()),
                "branch" => {
                    entry.branch = Some(value.trim_start_matches("refs/heads/").to_string());
                }
                "detached" => entry.notes.push("detached"),
                "bare" => entry.notes.push("bare"),
                "locked" => entry.notes.push("locked"),
                "prunable" => entry.notes.push("prunable: its directory is gone"),
                _ => {}
            }
        }
        if !entry.path.is_empty() {
            entries.push(entry);
        }
    }
    entries
}

async fn list(context: &ToolContext) -> Result<ToolOutput, ToolError> {
    let git_args = strings(&["worktree", "list", "--porcelain"]);
    let output = run_git(context, &context.cwd, &git_args, PARSED_OUTPUT_BYTES).await?;
    if !output.success() {
        return Err(git_failure("git worktree list", &output, &context.cwd));
    }
    let mut text = String::new();
    for entry in parse_worktrees(&output.stdout) {
        text.push_str(&entry.path);
        if let Some(branch) = &entry.branch {
            text.push_str(&format!(" [{branch}]"));
        }
        if let Some(head) = &entry.head {
            text.push_str(&format!(" {head}"));
        }
        if !entry.notes.is_empty() {
            text.push_str(&format!(" ({})", entry.notes.join(", ")));
        }
        text.push('\n');
    }
    Ok(ToolOutput::from(bounded(
        text,
        context,
        "too many worktrees",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_listing_is_parsed() {
        let entries = parse_worktrees(
            "worktree /repo\nHEAD 0123456789abcdef\nbranch refs/heads/main\n\n\
             worktree /repo/.git/code-mesh-worktrees/a\nHEAD fedcba9876543210\ndetached\n\n",
        );
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].branch.as_deref(), Some("main"));
        assert_eq!(entries[0].head.as_deref(), Some("01234567"));
        assert_eq!(entries[1].notes, ["detached"]);
    }

    #[test]
    fn lenient_canonicalisation_keeps_missing_components() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(canonical_lenient(&root.join("a/../b/c")), root.join("b/c"));
    }
}
