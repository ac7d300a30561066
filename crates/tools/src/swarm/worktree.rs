//! One git worktree per swarm candidate, started from what the user sees, removed on every
//! way out.
//!
//! **The start state.** Candidates start from HEAD plus the user's uncommitted changes:
//! staged and unstaged edits, deletions, and untracked files that are not ignored. They are
//! written as a commit (parent HEAD, none in a repository without commits) through a temporary
//! index, so the user's index, HEAD, branches and stash are never touched, and every worktree
//! checks that commit out detached. Ignored files (build output, `node_modules`, virtual
//! environments) are not copied: a test suite that needs them must be able to recreate them.
//! No branch or ref is created, so removing the worktrees leaves nothing behind; the start
//! commit becomes unreachable and `git gc` drops it.
//!
//! **Where.** `<git common dir>/code-mesh-worktrees/swarm-<run>-<n>` (the place
//! `git_worktree` uses too: inside `.git`, so no search of the main checkout sees them), plus
//! `swarm-<run>-baseline` for the baseline test run, which stays unchanged.
//!
//! **Sandbox.** A candidate's session uses [`CandidateWorktree::workspace`] as its workspace,
//! so its commands may write there; git commands in a worktree also write the worktree's
//! administrative directory (`<git common dir>/worktrees/<name>`: its index and HEAD), which
//! [`CandidateWorktree::sandbox_policy`] adds to `writable_roots`. Commits made there also
//! write the shared object store; candidates are not expected to commit (the evaluation diffs
//! the working tree against the start state).
//!
//! **Removal.** [`CandidateWorktrees::remove`] (or dropping the set, on error, cancel or
//! panic) runs `git worktree remove --force --force` for each, deletes what is left of the
//! directory, and prunes, so `git worktree list` shows only the user's worktrees again.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use code_mesh_core::SandboxPolicy;

use super::{SwarmError, blocking, git, git_text};
use crate::git::WORKTREE_DIR;

/// Author and committer of the start-state commit (it never reaches a branch).
const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Code Mesh"),
    ("GIT_AUTHOR_EMAIL", "code-mesh@localhost"),
    ("GIT_COMMITTER_NAME", "Code Mesh"),
    ("GIT_COMMITTER_EMAIL", "code-mesh@localhost"),
];

/// One candidate's checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateWorktree {
    /// The candidate's number, from 0.
    pub number: usize,
    /// The worktree's top level.
    pub path: PathBuf,
    /// The user's workspace inside the worktree (the same subdirectory of the repository).
    workspace: PathBuf,
    /// `<git common dir>/worktrees/<name>`: the worktree's index and HEAD.
    admin_dir: PathBuf,
}

impl CandidateWorktree {
    /// The workspace a candidate's session should use: the user's workspace's counterpart.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The directories the candidate's commands must be able to write: the worktree and its
    /// administrative directory.
    pub fn writable_roots(&self) -> Vec<PathBuf> {
        vec![self.path.clone(), self.admin_dir.clone()]
    }

    /// `base` with [`Self::writable_roots`] added, for the candidate's session and test runs.
    pub fn sandbox_policy(&self, base: &SandboxPolicy) -> SandboxPolicy {
        let mut policy = base.clone();
        for root in self.writable_roots() {
            if !policy.writable_roots.contains(&root) {
                policy.writable_roots.push(root);
            }
        }
        policy
    }
}

/// The worktrees of one swarm run; removed by [`Self::remove`] or when dropped.
#[derive(Debug)]
pub struct CandidateWorktrees {
    /// The user's repository top level.
    repo: PathBuf,
    /// The start-state commit every worktree checks out.
    start: String,
    candidates: Vec<CandidateWorktree>,
    baseline: CandidateWorktree,
    removed: bool,
}

impl CandidateWorktrees {
    /// Creates `count` candidate worktrees and the baseline worktree for the run `run` (a
    /// short id; characters other than letters, digits, `-` and `_` become `-`) from the
    /// current state of the repository around `workspace`.
    pub async fn create(
        workspace: &Path,
        run: &str,
        count: usize,
    ) -> Result<CandidateWorktrees, SwarmError> {
        let workspace = workspace.to_path_buf();
        let run = sanitize(run);
        blocking(move || create_blocking(&workspace, &run, count)).await
    }

    /// The candidates' worktrees, by number.
    pub fn candidates(&self) -> &[CandidateWorktree] {
        &self.candidates
    }

    /// The worktree kept unchanged for the baseline test run.
    pub fn baseline(&self) -> &CandidateWorktree {
        &self.baseline
    }

    /// The start-state commit (HEAD plus the user's uncommitted changes).
    pub fn start(&self) -> &str {
        &self.start
    }

    /// The user's repository top level, where the winner is applied.
    pub fn repository(&self) -> &Path {
        &self.repo
    }

    /// Removes every worktree and its directory. Dropping the set does the same (blocking).
    pub async fn remove(mut self) -> Result<(), SwarmError> {
        self.removed = true;
        let repo = self.repo.clone();
        let all = self.all();
        blocking(move || remove_all(&repo, &all)).await
    }

    fn all(&self) -> Vec<CandidateWorktree> {
        let mut all = self.candidates.clone();
        all.push(self.baseline.clone());
        all
    }
}

impl Drop for CandidateWorktrees {
    fn drop(&mut self) {
        if !self.removed
            && let Err(error) = remove_all(&self.repo, &self.all())
        {
            tracing::warn!(%error, "could not remove the swarm's worktrees");
        }
    }
}

fn sanitize(run: &str) -> String {
    let cleaned: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    if cleaned.is_empty() {
        "run".to_string()
    } else {
        cleaned
    }
}

fn io_error(what: &str, path: &Path, error: &io::Error) -> SwarmError {
    SwarmError::Io(format!("cannot {what} `{}`: {error}", path.display()))
}

fn create_blocking(
    workspace: &Path,
    run: &str,
    count: usize,
) -> Result<CandidateWorktrees, SwarmError> {
    if count == 0 {
        return Err(SwarmError::Invalid(
            "a swarm needs at least one candidate; pass `--agents 1` or more".into(),
        ));
    }
    let workspace = fs::canonicalize(workspace).map_err(|e| io_error("open", workspace, &e))?;
    let output = super::git_output(
        &workspace,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--show-toplevel",
            "--git-dir",
            "--git-common-dir",
        ],
        &[],
        None,
    )?;
    if !output.status.success() {
        return Err(SwarmError::NotARepository(workspace));
    }
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = stdout.lines().map(|line| PathBuf::from(line.trim()));
    let (Some(toplevel), Some(git_dir), Some(common)) = (lines.next(), lines.next(), lines.next())
    else {
        return Err(SwarmError::NotARepository(workspace));
    };
    let repo = fs::canonicalize(&toplevel).unwrap_or(toplevel);
    let common = fs::canonicalize(&common).unwrap_or(common);
    let prefix = workspace
        .strip_prefix(&repo)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let start = start_state(&repo, &git_dir)?;
    let root = common.join(WORKTREE_DIR);
    fs::create_dir_all(&root).map_err(|e| io_error("create", &root, &e))?;
    // Forget worktrees whose directories are gone (a crashed run), so names can be reused.
    git(&repo, &["worktree", "prune"], &[])?;

    let mut set = CandidateWorktrees {
        baseline: CandidateWorktree {
            number: count,
            path: PathBuf::new(),
            workspace: PathBuf::new(),
            admin_dir: PathBuf::new(),
        },
        repo,
        start,
        candidates: Vec::with_capacity(count),
        // Nothing to remove until the first worktree exists.
        removed: true,
    };
    let names: Vec<(Option<usize>, String)> = (0..count)
        .map(|n| (Some(n), format!("swarm-{run}-{n}")))
        .chain([(None, format!("swarm-{run}-baseline"))])
        .collect();
    for (number, name) in names {
        // From here on, an error drops `set`, which removes what was created.
        let worktree = add_worktree(&set.repo, &root, &name, &set.start, &prefix, number)?;
        set.removed = false;
        match number {
            Some(_) => set.candidates.push(worktree),
            None => set.baseline = worktree,
        }
    }
    Ok(set)
}

/// Commits HEAD plus the working tree's changes (untracked files included, ignored ones not)
/// through a temporary index; returns the commit id.
fn start_state(repo: &Path, git_dir: &Path) -> Result<String, SwarmError> {
    let scratch = tempfile::tempdir()
        .map_err(|e| SwarmError::Io(format!("cannot create a temporary directory: {e}")))?;
    let index = scratch.path().join("index");
    match fs::copy(git_dir.join("index"), &index) {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error("copy the index", git_dir, &error)),
    }
    let mut env: Vec<(&str, &OsStr)> = vec![("GIT_INDEX_FILE", index.as_os_str())];
    env.extend(IDENTITY.iter().map(|(k, v)| (*k, OsStr::new(v))));
    git(repo, &["add", "--all", "--", "."], &env)?;
    let tree = git_text(repo, &["write-tree"], &env)?;
    let head = super::git_output(
        repo,
        &["rev-parse", "--verify", "--quiet", "HEAD"],
        &[],
        None,
    )?;
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let mut args = vec![
        "commit-tree",
        tree.as_str(),
        "-m",
        "code-mesh swarm start state",
    ];
    if !head.is_empty() {
        args.extend(["-p", head.as_str()]);
    }
    git_text(repo, &args, &env)
}

fn add_worktree(
    repo: &Path,
    root: &Path,
    name: &str,
    start: &str,
    prefix: &Path,
    number: Option<usize>,
) -> Result<CandidateWorktree, SwarmError> {
    let path = root.join(name);
    if path.exists() {
        return Err(SwarmError::Invalid(format!(
            "`{}` already exists (left by an earlier run?); remove it with `git worktree \
             remove --force {}` or pick another run id",
            path.display(),
            path.display()
        )));
    }
    let path_text = path.to_string_lossy().into_owned();
    git(
        repo,
        &[
            "worktree",
            "add",
            "--detach",
            "--quiet",
            path_text.as_str(),
            start,
        ],
        &[],
    )?;
    let admin = git_text(
        &path,
        &["rev-parse", "--path-format=absolute", "--git-dir"],
        &[],
    )?;
    let admin_dir = fs::canonicalize(&admin).unwrap_or_else(|_| PathBuf::from(admin));
    let path = fs::canonicalize(&path).unwrap_or(path);
    Ok(CandidateWorktree {
        number: number.unwrap_or(usize::MAX),
        workspace: path.join(prefix),
        path,
        admin_dir,
    })
}

/// Removes every worktree of `all`; keeps going after a failure and reports the first one.
fn remove_all(repo: &Path, all: &[CandidateWorktree]) -> Result<(), SwarmError> {
    let mut first_error = None;
    for worktree in all.iter().filter(|w| !w.path.as_os_str().is_empty()) {
        let path_text = worktree.path.to_string_lossy().into_owned();
        let removed = git(
            repo,
            &[
                "worktree",
                "remove",
                "--force",
                "--force",
                path_text.as_str(),
            ],
            &[],
        );
        if worktree.path.exists()
            && let Err(error) = fs::remove_dir_all(&worktree.path)
        {
            first_error.get_or_insert(io_error("remove", &worktree.path, &error));
        } else if let Err(error) = removed
            && worktree.path.exists()
        {
            first_error.get_or_insert(error);
        }
    }
    if let Err(error) = git(repo, &["worktree", "prune"], &[]) {
        first_error.get_or_insert(error);
    }
    if let Some(parent) = all.first().and_then(|w| w.path.parent()) {
        // Only succeeds when no other run's worktree is left there.
        let _ = fs::remove_dir(parent);
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_become_safe_directory_names() {
        assert_eq!(sanitize("01J9/../x y"), "01J9----x-y");
        assert_eq!(sanitize(""), "run");
        assert_eq!(sanitize("ok_run-1"), "ok_run-1");
    }
}
