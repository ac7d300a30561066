//! The version-control tools: `git_status`, `git_diff`, `git_log`, `git_show`, `git_blame`
//! (reads) and `git_commit`, `git_branch`, `git_worktree` (commands).
//!
//! Every call runs the `git` command line through the shared process runner
//! ([`crate::process`]), so it gets the same process group, timeout, cancellation and sandbox
//! as `bash`. Arguments are shell-quoted one by one, options the model could smuggle in (a
//! revision starting with `-`) are refused, and pathspecs are literal
//! (`GIT_LITERAL_PATHSPECS=1`) and resolved through the file tools' path policy first, so a
//! git tool reaches no more of the disk than `read` does. Standard error goes to a temporary
//! file of its own, so machine-readable output (`--porcelain`, `-z`) is never mixed with
//! warnings.

mod blame;
mod branch;
mod commit;
mod diff;
mod log;
mod status;
mod worktree;

use std::path::Path;
use std::time::Duration;

use code_mesh_core::{ToolContext, ToolError};

use crate::blocking::CANCELLED;
use crate::output::truncate_end;
use crate::paths::PathPolicy;
use crate::process::{self, Ending, Run};

pub use blame::GitBlameTool;
pub use branch::GitBranchTool;
pub use commit::{ChangeKind, ChangedFile, GitCommitTool, commit_message};
pub use diff::{GitDiffTool, GitShowTool};
pub use log::GitLogTool;
pub use status::GitStatusTool;
pub use worktree::{GitWorktreeTool, WORKTREE_DIR};

/// Output kept from a git command whose output is parsed (the model sees a bounded rendering).
const PARSED_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// Environment for every git command: literal pathspecs, no optional index refresh (a read
/// must not rewrite the user's index), messages in English so failures can be recognised.
const GIT_ENVIRONMENT: &str = "GIT_LITERAL_PATHSPECS=1 GIT_OPTIONAL_LOCKS=0 LC_ALL=C";
/// Configuration for every git command: readable paths, no colour, no pager.
const GIT_CONFIG: [&str; 4] = ["-c", "core.quotepath=off", "-c", "color.ui=never"];

/// What a git command printed and how it exited.
#[derive(Debug)]
pub(crate) struct GitOutput {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: i32,
}

impl GitOutput {
    pub(crate) fn success(&self) -> bool {
        self.code == 0
    }
}

/// Runs `git <args>` in `cwd` through the process runner; `max_output` bounds stdout.
pub(crate) async fn run_git(
    context: &ToolContext,
    cwd: &Path,
    args: &[String],
    max_output: usize,
) -> Result<GitOutput, ToolError> {
    if context.cancel.is_cancelled() {
        return Err(ToolError::new(CANCELLED));
    }
    let stderr_file = tempfile::NamedTempFile::new().map_err(|error| {
        ToolError::new(format!(
            "cannot create a temporary file for git's messages: {error}; check that the \
             temporary directory is writable"
        ))
    })?;
    let mut command = format!("{GIT_ENVIRONMENT} git");
    for arg in GIT_CONFIG
        .iter()
        .copied()
        .chain(args.iter().map(String::as_str))
    {
        command.push(' ');
        command.push_str(&shell_quote(arg));
    }
    command.push_str(" 2>");
    command.push_str(&shell_quote(&stderr_file.path().to_string_lossy()));
    let run = Run {
        command,
        cwd: cwd.to_path_buf(),
        timeout: Duration::from_millis(context.limits.shell_timeout_ms.max(1)),
        max_output,
    };
    let outcome = process::run(run, context).await.map_err(|error| {
        ToolError::new(format!(
            "{error}; git did not run. Check the working directory and that a shell is installed"
        ))
    })?;
    let stdout = outcome
        .output
        .finish(|dropped| format!("[… {dropped} bytes of git's output left out here …]"));
    let stderr = std::fs::read(stderr_file.path())
        .map(|bytes| String::from_utf8_lossy(&bytes).trim_end().to_string())
        .unwrap_or_default();
    match outcome.ending {
        Ending::Exited(status) => {
            let code = status.code().unwrap_or(-1);
            if code == 127 {
                return Err(ToolError::new(
                    "git is not installed (the `git` command was not found); install git, or \
                     work with the file tools and `bash` instead",
                ));
            }
            Ok(GitOutput {
                stdout,
                stderr,
                code,
            })
        }
        Ending::TimedOut => Err(ToolError::new(format!(
            "`git {}` timed out after {} ms and was killed; narrow it down (a path, a shorter \
             range) or raise `tools.bash_timeout`",
            args.first().map(String::as_str).unwrap_or_default(),
            context.limits.shell_timeout_ms
        ))),
        Ending::Cancelled => Err(ToolError::new(CANCELLED)),
    }
}

/// The error for a failed git command: a recognised cause with what to do, else git's own
/// message.
pub(crate) fn git_failure(what: &str, output: &GitOutput, cwd: &Path) -> ToolError {
    let stderr = output.stderr.trim();
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("not a git repository") {
        return ToolError::new(format!(
            "`{}` is not inside a git repository, so `{what}` cannot run; use `bash` with \
             `git init` if the user wants one, or work with the file tools",
            cwd.display()
        ));
    }
    if lower.contains("unmerged") || lower.contains("conflict") {
        return ToolError::new(format!(
            "`{what}` failed because of merge conflicts: {}. Resolve the conflicted files \
             (see `git_status`), stage them, then retry",
            first_lines(stderr, 6)
        ));
    }
    if lower.contains("please tell me who you are") || lower.contains("empty ident") {
        return ToolError::new(format!(
            "`{what}` failed: git has no author identity configured. Ask the user to set \
             `git config user.name` and `git config user.email`"
        ));
    }
    let detail = if stderr.is_empty() {
        first_lines(output.stdout.trim(), 20)
    } else {
        first_lines(stderr, 20)
    };
    ToolError::new(format!(
        "`{what}` failed (exit code {}): {detail}",
        output.code
    ))
}

/// Refuses a revision or range that git could take for an option, or that is not one word.
pub(crate) fn check_revision(field: &str, value: &str) -> Result<(), ToolError> {
    if value.trim().is_empty() {
        return Err(ToolError::new(format!(
            "`{field}` is empty; give a revision such as `HEAD`, `main` or `abc1234`"
        )));
    }
    if value.starts_with('-') || value.chars().any(|c| c.is_whitespace() || c == '\0') {
        return Err(ToolError::new(format!(
            "`{field}` is `{value}`, which is not a revision: it may not start with `-` or \
             contain spaces; give a revision such as `HEAD~2`, `main` or a range `main..HEAD`"
        )));
    }
    Ok(())
}

/// A model's path checked by the path policy and written relative to the working directory,
/// as git expects it after `--`.
pub(crate) fn pathspec(
    policy: &PathPolicy,
    context: &ToolContext,
    raw: &str,
) -> Result<String, ToolError> {
    let resolved = policy.resolve(raw)?;
    Ok(relative_to(&resolved, &context.cwd))
}

/// `path` relative to `base` (`.` for `base` itself); absolute when outside it.
pub(crate) fn relative_to(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(relative) if relative.as_os_str().is_empty() => ".".to_string(),
        Ok(relative) => relative.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// `text` cut to what the model may receive.
pub(crate) fn bounded(mut text: String, context: &ToolContext, hint: &str) -> String {
    truncate_end(&mut text, context.limits.max_output_bytes, |dropped| {
        format!("[… {dropped} more bytes left out; {hint} …]")
    });
    text
}

pub(crate) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_string()).collect()
}

/// `arg` quoted for a POSIX shell when it needs to be.
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%^~".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// `git <args>` as a readable command line, for permission prompts and rules.
pub(crate) fn command_line(args: &[String]) -> String {
    let mut line = String::from("git");
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    line
}

fn first_lines(text: &str, count: usize) -> String {
    let mut lines: Vec<&str> = text.lines().take(count + 1).collect();
    if lines.len() > count {
        lines.truncate(count);
        lines.push("…");
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("status"), "status");
        assert_eq!(shell_quote("--format=%h"), "--format=%h");
        assert_eq!(shell_quote("it's here"), "'it'\\''s here'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn revisions_that_look_like_options_are_refused() {
        assert!(check_revision("rev", "HEAD~2").is_ok());
        assert!(check_revision("range", "main..feature").is_ok());
        assert!(check_revision("rev", "--output=/tmp/x").is_err());
        assert!(check_revision("rev", "HEAD; rm").is_err());
        assert!(check_revision("rev", " ").is_err());
    }
}
