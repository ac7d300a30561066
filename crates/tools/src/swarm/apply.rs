//! Applying the winning candidate's diff to the user's working tree.
//!
//! The diff is taken against the start state (HEAD plus the user's uncommitted changes), so
//! it applies to the working tree, not to the index or HEAD: plain `git apply` (working tree
//! only, atomic: every file or none), after a `git apply --check` dry run. Not `--index` or
//! `--3way`: both require the index to match the working tree for the patched files, which
//! is false exactly when the user had unstaged changes the candidates started from. The
//! user's index is left alone, so the change shows up as ordinary uncommitted changes (new
//! files untracked). When the files changed since the swarm started and the diff no longer
//! applies, nothing is written and the error says so.

use std::path::Path;

use super::{SwarmError, blocking, git_output};

/// What [`apply_winner`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedDiff {
    /// The files the diff touched, relative to the repository's top level.
    pub files: Vec<String>,
}

/// Applies `diff` (a `git diff --binary` against the start state) to the working tree of the
/// repository at `repo` (its top level: the diff's paths are relative to it).
pub async fn apply_winner(repo: &Path, diff: &[u8]) -> Result<AppliedDiff, SwarmError> {
    if diff.is_empty() {
        return Err(SwarmError::Invalid(
            "the winning candidate changed nothing, so there is no diff to apply".into(),
        ));
    }
    let repo = repo.to_path_buf();
    let diff = diff.to_vec();
    blocking(move || {
        let apply = |args: &[&str]| -> Result<std::process::Output, SwarmError> {
            git_output(&repo, args, &[], Some(&diff))
        };
        let check = apply(&["apply", "--check", "--binary", "-"])?;
        if !check.status.success() {
            let message = String::from_utf8_lossy(&check.stderr).trim().to_string();
            if message.contains("not a git repository") {
                return Err(SwarmError::NotARepository(repo));
            }
            return Err(SwarmError::DoesNotApply { message });
        }
        let numstat = apply(&["apply", "--numstat", "-z", "--binary", "-"])?;
        let files = String::from_utf8_lossy(&numstat.stdout)
            .split('\0')
            .filter_map(|record| record.rsplit('\t').next())
            .filter(|path| !path.is_empty())
            .map(str::to_string)
            .collect();
        let applied = apply(&["apply", "--binary", "-"])?;
        if !applied.status.success() {
            return Err(SwarmError::DoesNotApply {
                message: String::from_utf8_lossy(&applied.stderr).trim().to_string(),
            });
        }
        Ok(AppliedDiff { files })
    })
    .await
}
