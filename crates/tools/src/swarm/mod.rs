//! The building blocks of the swarm strategy: one git worktree per candidate
//! ([`CandidateWorktrees`]), the evaluation of a candidate's change by the project's tests
//! against a baseline run ([`run_baseline`], [`evaluate_candidate`]), and applying the
//! winner's diff to the user's working tree ([`apply_winner`]). Choosing the winner is pure
//! logic in `code_mesh_core::consensus`.
//!
//! Git runs here as Code Mesh's own bookkeeping (like [`crate::snapshot`]), directly and not
//! through the agent's sandboxed runner; the test commands do run through the process runner,
//! confined by the caller's sandbox policy with the worktree as the workspace.

mod apply;
mod backend;
mod evaluate;
mod worktree;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

pub use apply::{AppliedDiff, apply_winner};
pub use backend::GitSwarm;
pub use evaluate::{
    Baseline, Evaluation, EvaluationSettings, ReproductionTests, TestRun, evaluate_candidate,
    run_baseline,
};
pub use worktree::{CandidateWorktree, CandidateWorktrees};

/// Why a swarm step failed.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error(
        "`{0}` is not inside a git repository, so the swarm cannot give each candidate a \
         worktree; run `git init` and commit there first, or use another strategy"
    )]
    NotARepository(PathBuf),
    #[error("git is not installed (the `git` command was not found); install git to use the swarm")]
    GitMissing,
    #[error("`git {command}` failed: {message}")]
    Git { command: String, message: String },
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the winning diff does not apply to the working tree, which was left untouched: \
         {message}. The files it changes were probably edited since the swarm started; apply \
         the diff by hand or run the swarm again"
    )]
    DoesNotApply { message: String },
    #[error("the swarm was cancelled")]
    Cancelled,
}

/// Runs git in `cwd` (Code Mesh's bookkeeping, not the agent's command).
fn git_output(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
    input: Option<&[u8]>,
) -> Result<Output, SwarmError> {
    crate::plumbing::run_git(cwd, args, env, input, true).map_err(|error| match error {
        crate::plumbing::PlumbingError::GitMissing => SwarmError::GitMissing,
        crate::plumbing::PlumbingError::Io(message) => SwarmError::Io(message),
    })
}

/// `git <args>` in `cwd`; its stdout, or the error with git's message.
fn git(cwd: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Result<Vec<u8>, SwarmError> {
    let output = git_output(cwd, args, env, None)?;
    if !output.status.success() {
        return Err(SwarmError::Git {
            command: args.first().copied().unwrap_or_default().to_string(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// [`git`] with stdout as trimmed text.
fn git_text(cwd: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Result<String, SwarmError> {
    Ok(String::from_utf8_lossy(&git(cwd, args, env)?)
        .trim()
        .to_string())
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SwarmError> + Send + 'static,
) -> Result<T, SwarmError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| SwarmError::Io(format!("internal error in a swarm step: {error}")))?
}
