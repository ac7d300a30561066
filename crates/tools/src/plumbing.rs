//! Running git for Code Mesh's own bookkeeping (turn snapshots, swarm worktrees), as opposed
//! to the agent's commands: directly, synchronously (callers run it on a blocking thread), with
//! a stable environment — literal pathspecs, C locale, no prompts, unquoted paths.

use std::ffi::OsStr;
use std::io::{self, Write as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Why git could not be run (its own failures are in the returned output's status).
#[derive(Debug)]
pub(crate) enum PlumbingError {
    /// There is no `git` on the PATH.
    GitMissing,
    /// Starting it, feeding it or waiting for it failed; the text says which.
    Io(String),
}

/// Runs `git args` in `cwd` with `env` added and `input` on its standard input, collecting
/// its output. `optional_locks: false` keeps read commands from refreshing the index (the
/// snapshots must leave the user's index untouched).
pub(crate) fn run_git(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
    input: Option<&[u8]>,
    optional_locks: bool,
) -> Result<Output, PlumbingError> {
    let mut command = Command::new("git");
    command
        .args(["-c", "core.quotepath=off"])
        .args(args)
        .current_dir(cwd)
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !optional_locks {
        command.env("GIT_OPTIONAL_LOCKS", "0");
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().map_err(|error| {
        if error.kind() == io::ErrorKind::NotFound {
            PlumbingError::GitMissing
        } else {
            PlumbingError::Io(format!("cannot run git: {error}"))
        }
    })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input)
            .map_err(|error| PlumbingError::Io(format!("cannot write to git: {error}")))?;
    }
    child
        .wait_with_output()
        .map_err(|error| PlumbingError::Io(format!("git did not finish: {error}")))
}
