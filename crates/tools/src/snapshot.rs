//! Snapshots of the working tree around each turn, and `undo`, which reverts the agent's last
//! turn and only its own changes.
//!
//! [`GitSnapshots`] is a [`TurnHooks`]: in a git workspace it records the working tree
//! (tracked and untracked files, not ignored ones) before each turn and after it, as git tree
//! objects kept alive by refs:
//!
//! ```text
//! refs/code-mesh/<session>/<turn>/before   the tree when the turn started
//! refs/code-mesh/<session>/<turn>/after    the tree when it ended
//! refs/code-mesh/<session>/<turn>/undone   the tree when `code-mesh undo` reverted it
//! ```
//!
//! The user's index, HEAD, branches and stash are never touched: the tree is written through
//! a temporary index (`GIT_INDEX_FILE`, seeded with a copy of the real index so unchanged
//! files are not hashed again), and refs under `refs/code-mesh/` are invisible to `git
//! status`, `git log` and `git stash list`. They are plain trees, so they cost the blobs of
//! changed files only. Remove them all with
//! `git for-each-ref --format='delete %(refname)' refs/code-mesh/ | git update-ref --stdin`
//! (then `git gc` drops the objects), or one session's with the prefix
//! `refs/code-mesh/<session>/`.
//!
//! [`undo_last_turn`] takes the latest turn of a session that changed files and is not undone
//! yet, and for every file that turn changed whose content is still what the turn left,
//! restores the content from before the turn (a file the turn created is deleted, one it
//! deleted comes back). A file changed again since the turn is left alone and reported, so
//! edits the user made afterwards survive. The turn is then marked `undone`, so the next undo
//! goes one turn further back. Turns that changed nothing are marked undone on the way.
//!
//! Git runs here as Code Mesh's own bookkeeping, not as a command of the agent, so it runs
//! directly rather than through the agent's sandboxed process runner.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use code_mesh_core::{TurnHookContext, TurnHooks};

/// The namespace of the snapshot refs.
pub const REF_PREFIX: &str = "refs/code-mesh";

/// Why a snapshot or an undo could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("`{0}` is not inside a git repository, so there are no snapshots to undo with")]
    NotARepository(PathBuf),
    #[error("git is not installed (the `git` command was not found)")]
    GitMissing,
    #[error("session `{0}` has no snapshots in this repository")]
    NoSnapshots(String),
    #[error("every turn of session `{0}` that changed files is already undone")]
    NothingLeft(String),
    #[error("`git {command}` failed: {message}")]
    Git { command: String, message: String },
    #[error("{0}")]
    Io(String),
}

impl SnapshotError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            SnapshotError::NotARepository(_) => Some(
                "snapshots are only taken in git repositories; run `git init` before the next \
                 session to make its turns undoable",
            ),
            SnapshotError::GitMissing => Some("install git, then start a new session"),
            SnapshotError::NoSnapshots(_) => Some(
                "undo works for sessions run in this repository; `code-mesh sessions list` \
                 shows the sessions, `--session ID` picks one",
            ),
            SnapshotError::NothingLeft(_) => None,
            SnapshotError::Git { .. } | SnapshotError::Io(_) => None,
        }
    }
}

/// Takes a snapshot before and after every turn (a [`TurnHooks`]).
#[derive(Debug, Default)]
pub struct GitSnapshots {
    /// The "not a repository" notice was given.
    noticed: AtomicBool,
}

impl GitSnapshots {
    pub fn new() -> Self {
        GitSnapshots::default()
    }

    async fn record(&self, context: &TurnHookContext, stage: &'static str) -> Option<String> {
        let workspace = context.workspace.clone();
        let name = snapshot_ref(context.session_id.as_str(), context.turn.0, stage);
        let taken = tokio::task::spawn_blocking(move || -> Result<(), SnapshotError> {
            let repo = Repo::open(&workspace)?;
            let tree = repo.snapshot()?;
            repo.git(&["update-ref", &name, &tree], &[])?;
            Ok(())
        })
        .await
        .unwrap_or_else(|error| Err(SnapshotError::Io(error.to_string())));
        match taken {
            Ok(()) => None,
            Err(SnapshotError::NotARepository(_) | SnapshotError::GitMissing)
                if self.noticed.swap(true, Ordering::Relaxed) =>
            {
                None
            }
            Err(SnapshotError::NotARepository(path)) => Some(format!(
                "`{}` is not a git repository, so Code Mesh takes no snapshots of this \
                 session's turns and `code-mesh undo` cannot revert them",
                path.display()
            )),
            Err(SnapshotError::GitMissing) => Some(
                "git is not installed, so Code Mesh takes no snapshots of this session's turns \
                 and `code-mesh undo` cannot revert them"
                    .to_string(),
            ),
            Err(error) => Some(format!(
                "the {stage}-turn snapshot failed ({error}); `code-mesh undo` may not be able \
                 to revert turn {}",
                context.turn
            )),
        }
    }
}

#[async_trait]
impl TurnHooks for GitSnapshots {
    async fn before_turn(&self, context: &TurnHookContext) -> Vec<String> {
        self.record(context, "before").await.into_iter().collect()
    }

    async fn after_turn(&self, context: &TurnHookContext) {
        if let Some(problem) = self.record(context, "after").await {
            tracing::warn!(session_id = %context.session_id, turn = %context.turn, "{problem}");
        }
    }
}

/// `refs/code-mesh/<session>/<turn>/<stage>`, with anything a ref name cannot hold replaced.
fn snapshot_ref(session: &str, turn: u32, stage: &str) -> String {
    format!("{}/{turn}/{stage}", session_prefix(session))
}

fn session_prefix(session: &str) -> String {
    let clean: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{REF_PREFIX}/{clean}")
}

/// What happened to one file of an undone turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reverted {
    /// Its content from before the turn is back.
    Restored(String),
    /// The turn created it; it is gone again.
    Deleted(String),
    /// The turn deleted it; it is back.
    Recreated(String),
}

/// The outcome of [`undo_last_turn`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// The turn that was reverted.
    pub turn: u32,
    pub reverted: Vec<Reverted>,
    /// Files the turn changed that changed again since; left as they are.
    pub kept: Vec<String>,
    /// Later turns that changed no file (marked undone on the way).
    pub empty_turns: Vec<u32>,
    /// The turn had no end snapshot (the run was killed), so its end state was taken as the
    /// working tree now.
    pub interrupted: bool,
}

/// Reverts the latest not-yet-undone turn of `session` that changed files, in the git
/// repository holding `workspace`. Paths in the report are relative to the workspace.
pub fn undo_last_turn(workspace: &Path, session: &str) -> Result<UndoReport, SnapshotError> {
    let repo = Repo::open(workspace)?;
    let prefix = session_prefix(session);
    let listing = repo.git(
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            &format!("{prefix}/"),
        ],
        &[],
    )?;
    let mut turns: BTreeMap<u32, TurnRefs> = BTreeMap::new();
    for line in listing.lines() {
        let Some((name, object)) = line.split_once(' ') else {
            continue;
        };
        let Some(rest) = name.strip_prefix(&format!("{prefix}/")) else {
            continue;
        };
        let Some((turn, stage)) = rest.split_once('/') else {
            continue;
        };
        let Ok(turn) = turn.parse::<u32>() else {
            continue;
        };
        let refs = turns.entry(turn).or_default();
        match stage {
            "before" => refs.before = Some(object.to_string()),
            "after" => refs.after = Some(object.to_string()),
            "undone" => refs.undone = true,
            _ => {}
        }
    }
    if turns.is_empty() {
        return Err(SnapshotError::NoSnapshots(session.to_string()));
    }
    let mut report = UndoReport::default();
    let mut current: Option<String> = None;
    for (&turn, refs) in turns.iter().rev() {
        if refs.undone {
            continue;
        }
        let Some(before) = &refs.before else { continue };
        let now = match &current {
            Some(tree) => tree.clone(),
            None => {
                let tree = repo.snapshot()?;
                current = Some(tree.clone());
                tree
            }
        };
        let (after, interrupted) = match &refs.after {
            Some(after) => (after.clone(), false),
            None => (now.clone(), true),
        };
        let changes = repo.changes(before, &after)?;
        if changes.is_empty() {
            repo.git(
                &["update-ref", &snapshot_ref(session, turn, "undone"), &now],
                &[],
            )?;
            report.empty_turns.push(turn);
            continue;
        }
        let changed_since: HashSet<String> = repo
            .changes(&after, &now)?
            .into_iter()
            .map(|change| change.path)
            .collect();
        report.turn = turn;
        report.interrupted = interrupted;
        repo.revert(before, &changes, &changed_since, &mut report)?;
        repo.git(
            &["update-ref", &snapshot_ref(session, turn, "undone"), &now],
            &[],
        )?;
        return Ok(report);
    }
    Err(SnapshotError::NothingLeft(session.to_string()))
}

#[derive(Debug, Default)]
struct TurnRefs {
    before: Option<String>,
    after: Option<String>,
    undone: bool,
}

/// One path that differs between two trees.
#[derive(Debug)]
struct Change {
    /// Relative to the repository root.
    path: String,
    /// `A`, `D`, `M` or `T`.
    status: char,
}

/// The repository around a workspace.
#[derive(Debug)]
struct Repo {
    toplevel: PathBuf,
    git_dir: PathBuf,
    /// The workspace relative to the top level (`""` when they are the same).
    prefix: String,
}

impl Repo {
    fn open(workspace: &Path) -> Result<Repo, SnapshotError> {
        let output = run(
            workspace,
            &["rev-parse", "--show-toplevel", "--absolute-git-dir"],
            &[],
            None,
        )?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("not a git repository")
                || stderr.contains("must be run in a work tree")
            {
                return Err(SnapshotError::NotARepository(workspace.to_path_buf()));
            }
            return Err(SnapshotError::Git {
                command: "rev-parse".into(),
                message: stderr.trim().to_string(),
            });
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut lines = stdout.lines();
        let (Some(toplevel), Some(git_dir)) = (lines.next(), lines.next()) else {
            return Err(SnapshotError::NotARepository(workspace.to_path_buf()));
        };
        let toplevel = fs::canonicalize(toplevel).unwrap_or_else(|_| PathBuf::from(toplevel));
        let workspace = fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
        let prefix = workspace
            .strip_prefix(&toplevel)
            .map(|relative| relative.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Repo {
            toplevel,
            git_dir: PathBuf::from(git_dir),
            prefix,
        })
    }

    /// `git <args>` at the top level; its stdout, or the error.
    fn git(&self, args: &[&str], env: &[(&str, &OsStr)]) -> Result<String, SnapshotError> {
        self.git_with_input(args, env, None)
    }

    fn git_with_input(
        &self,
        args: &[&str],
        env: &[(&str, &OsStr)],
        input: Option<&[u8]>,
    ) -> Result<String, SnapshotError> {
        let output = run(&self.toplevel, args, env, input)?;
        if !output.status.success() {
            return Err(SnapshotError::Git {
                command: args.first().copied().unwrap_or_default().to_string(),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The pathspec of the workspace (literal pathspecs are on).
    fn pathspec(&self) -> &str {
        if self.prefix.is_empty() {
            "."
        } else {
            &self.prefix
        }
    }

    /// Writes the working tree (tracked and untracked, not ignored files) as a tree object
    /// through a temporary index, and returns its id.
    fn snapshot(&self) -> Result<String, SnapshotError> {
        let scratch = tempfile::tempdir().map_err(|error| SnapshotError::Io(error.to_string()))?;
        let index = scratch.path().join("index");
        // Seeding with the real index lets git skip hashing files whose stat data is unchanged.
        match fs::copy(self.git_dir.join("index"), &index) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(SnapshotError::Io(format!("cannot copy the index: {error}"))),
        }
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        self.git(&["add", "--all", "--", self.pathspec()], &env)?;
        Ok(self.git(&["write-tree"], &env)?.trim().to_string())
    }

    /// Files of the workspace that differ from tree `from` to tree `to`.
    fn changes(&self, from: &str, to: &str) -> Result<Vec<Change>, SnapshotError> {
        let raw = self.git(
            &[
                "diff-tree",
                "-r",
                "-z",
                "--no-renames",
                "--raw",
                from,
                to,
                "--",
                self.pathspec(),
            ],
            &[],
        )?;
        let mut changes = Vec::new();
        let mut fields = raw.split('\0');
        while let Some(meta) = fields.next() {
            let Some(path) = fields.next() else { break };
            let Some(status) = meta.trim().chars().last() else {
                continue;
            };
            changes.push(Change {
                path: path.to_string(),
                status,
            });
        }
        Ok(changes)
    }

    /// Puts back the `before` version of every change not in `changed_since`.
    fn revert(
        &self,
        before: &str,
        changes: &[Change],
        changed_since: &HashSet<String>,
        report: &mut UndoReport,
    ) -> Result<(), SnapshotError> {
        let mut restore = Vec::new();
        let mut created = Vec::new();
        for change in changes {
            if changed_since.contains(&change.path) {
                report.kept.push(self.display(&change.path));
                continue;
            }
            if change.status == 'A' {
                created.push(change.path.clone());
            } else {
                restore.push(change);
            }
        }
        if !restore.is_empty() {
            let scratch =
                tempfile::tempdir().map_err(|error| SnapshotError::Io(error.to_string()))?;
            let index = scratch.path().join("index");
            let env = [("GIT_INDEX_FILE", index.as_os_str())];
            self.git(&["read-tree", before], &env)?;
            let mut paths = Vec::new();
            for change in &restore {
                paths.extend_from_slice(change.path.as_bytes());
                paths.push(0);
            }
            self.git_with_input(
                &["checkout-index", "--force", "-z", "--stdin"],
                &env,
                Some(&paths),
            )?;
            for change in restore {
                let shown = self.display(&change.path);
                report.reverted.push(if change.status == 'D' {
                    Reverted::Recreated(shown)
                } else {
                    Reverted::Restored(shown)
                });
            }
        }
        let mut emptied = BTreeSet::new();
        for path in created {
            let full = self.toplevel.join(&path);
            match fs::remove_file(&full) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(SnapshotError::Io(format!(
                        "cannot delete `{}`: {error}",
                        full.display()
                    )));
                }
            }
            if let Some(parent) = full.parent() {
                emptied.insert(parent.to_path_buf());
            }
            report.reverted.push(Reverted::Deleted(self.display(&path)));
        }
        // Directories the turn created for its files go too, if nothing else is in them.
        let workspace = self.toplevel.join(&self.prefix);
        for directory in emptied.iter().rev() {
            let mut current = directory.as_path();
            while current.starts_with(&workspace) && current != workspace {
                if fs::remove_dir(current).is_err() {
                    break;
                }
                match current.parent() {
                    Some(parent) => current = parent,
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// A repository path as seen from the workspace.
    fn display(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            return path.to_string();
        }
        Path::new(path)
            .strip_prefix(&self.prefix)
            .map(|relative| relative.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string())
    }
}

/// Runs git directly (Code Mesh's own bookkeeping, not the agent's command), leaving the
/// user's index alone.
fn run(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
    input: Option<&[u8]>,
) -> Result<std::process::Output, SnapshotError> {
    crate::plumbing::run_git(cwd, args, env, input, false).map_err(|error| match error {
        crate::plumbing::PlumbingError::GitMissing => SnapshotError::GitMissing,
        crate::plumbing::PlumbingError::Io(message) => SnapshotError::Io(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_are_sanitised() {
        assert_eq!(
            snapshot_ref("ses_01ab", 3, "before"),
            "refs/code-mesh/ses_01ab/3/before"
        );
        assert_eq!(
            snapshot_ref("a b/..c", 1, "after"),
            "refs/code-mesh/a_b___c/1/after"
        );
    }
}
