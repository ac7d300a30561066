//! `bash`: runs a shell command and returns its output and exit code.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{Tool, ToolContext, ToolError, ToolOutput};
use code_mesh_protocol::{ToolKind, ToolSpec};
use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args;
use crate::blocking::CANCELLED;
use crate::output::human_size;
use crate::paths::PathPolicy;
use crate::process::{self, Ending, Run, RunOptions};

/// The longest timeout a call may ask for: ten minutes.
const MAX_TIMEOUT_MS: u64 = 600_000;
/// Room kept in the output budget for the exit line and notes.
const TRAILER_RESERVE: usize = 400;
/// Output kept at least, however small the configured budget.
const MIN_OUTPUT: usize = 256;

const DESCRIPTION: &str = "\
Runs a shell command with `bash -c` in the working directory and returns its output (stdout \
and stderr interleaved) followed by its exit code.

Usage:
- Use it for builds, tests, git, package managers and other programs. For files use the \
dedicated tools instead: `read` (not cat/head/tail), `edit` or `write` (not sed, awk or echo \
redirection), `glob` (not find or ls -R), `grep` (not grep or rg).
- Every call starts a fresh shell: `cd`, variables and aliases do not carry over. Use \
`cd dir && command`, or absolute paths.
- stdin is closed, so interactive programs fail: pass flags such as `--yes` or `-y`, and avoid \
editors and pagers (PAGER is `cat`; colours are off).
- `tty: true` runs the command on a pseudo-terminal, for programs that refuse to run or behave \
differently without one (`script`, `ssh -t`, some installers); its input still reads as closed.
- `workdir` runs the command in that directory (inside the workspace) instead of the working \
directory.
- Output is shown to the user as it arrives. Environment variables holding API keys, tokens and \
passwords are removed.
- `timeout_ms` defaults to the configured shell timeout (2 minutes unless changed) and may be \
at most 600000 (10 minutes). On timeout the command and every process it started are killed.
- Background jobs (`command &`) are killed when the command finishes, so do not start servers \
or watchers meant to outlive the call.
- Long output keeps its beginning and its end; redirect it to a file and use `grep` or `read` \
on the file when you need all of it.
- A non-zero exit code is reported with the output; it is not a failure of the tool.
- Quote paths containing spaces. Chain dependent commands with `&&`; use `;` only when later \
commands should run even if earlier ones fail.
- `description`: say in 5-10 words what the command does, for the user watching.";

/// Runs a shell command: `{command, timeout_ms?, description?}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BashTool;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BashArgs {
    command: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    tty: bool,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "for the user watching; running does not need it")]
    description: Option<String>,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {
                "type": "string",
                "description": "The command line to run with `bash -c`."
            },
            "timeout_ms": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TIMEOUT_MS,
                "description": "Milliseconds before the command is killed. Default: the \
                    configured shell timeout (120000 unless changed); at most 600000."
            },
            "description": {
                "type": "string",
                "description": "What the command does, in 5-10 words, e.g. `Run the unit tests`."
            },
            "tty": {
                "type": "boolean",
                "description": "Run on a pseudo-terminal (for programs that need one). Default \
                    false: pipes."
            },
            "workdir": {
                "type": "string",
                "description": "Directory to run in, relative to the working directory; it \
                    must be inside the workspace. Default: the working directory."
            }
        },
        "required": ["command"],
        "additionalProperties": false
    })
}

#[async_trait]
impl Tool for BashTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "bash".into(),
            description: DESCRIPTION.into(),
            parameters: schema(),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Execute
    }

    fn summarize(&self, arguments: &Value) -> String {
        match args::str_field(arguments, "command") {
            Some(command) => format!("run {}", args::quoted_excerpt(command, 100)),
            None => "run a shell command".into(),
        }
    }

    fn permission_target(&self, arguments: &Value) -> code_mesh_core::PermissionTarget {
        match args::str_field(arguments, "command") {
            Some(command) => code_mesh_core::PermissionTarget::Command(command.to_owned()),
            None => code_mesh_core::PermissionTarget::None,
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let schema = schema();
        let arguments: BashArgs = args::parse("bash", arguments, &schema)?;
        if arguments.command.trim().is_empty() {
            return Err(args::invalid(
                "bash",
                "`command` is empty; give the command line to run",
                &schema,
            ));
        }
        let timeout_ms = arguments
            .timeout_ms
            .unwrap_or(context.limits.shell_timeout_ms);
        if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(args::invalid(
                "bash",
                format!(
                    "`timeout_ms` is {timeout_ms}; use a number of milliseconds from 1 to \
                     {MAX_TIMEOUT_MS} (10 minutes)"
                ),
                &schema,
            ));
        }
        if context.cancel.is_cancelled() {
            return Err(ToolError::new(CANCELLED));
        }
        let cwd = match arguments.workdir.as_deref() {
            Some(raw) => {
                let policy = PathPolicy::new(context);
                let (dir, metadata) = policy.resolve_existing(raw)?;
                if !metadata.is_dir() {
                    return Err(args::invalid(
                        "bash",
                        format!("`workdir` `{raw}` is a file; give a directory"),
                        &schema,
                    ));
                }
                dir
            }
            None => context.cwd.clone(),
        };
        let run = Run {
            command: arguments.command,
            cwd,
            timeout: Duration::from_millis(timeout_ms),
            max_output: context
                .limits
                .max_output_bytes
                .saturating_sub(TRAILER_RESERVE)
                .max(MIN_OUTPUT),
        };
        let options = RunOptions {
            tty: arguments.tty,
            stream: context.output.clone(),
        };
        let outcome = process::run_with(run, options, context, &mut |_| {})
            .await
            .map_err(|error| match error {
                process::RunError::Sandbox(_) | process::RunError::Confine(_) => {
                    ToolError::new(error.to_string())
                }
                _ => ToolError::new(format!(
                    "{error}; the command did not run. Check the working directory and that a \
                     shell is installed"
                )),
            })?;
        let mut text = outcome.output.finish(|dropped| {
            format!(
                "[… {} of output left out here; to see all of it, redirect the output to a \
                 file and use `grep` or `read` on the file …]",
                human_size(dropped)
            )
        });
        if text.is_empty() {
            text.push_str("(no output)");
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let Some(note) = code_mesh_sandbox::denial_note(&context.sandbox, &text) {
            text.push_str(&note);
            text.push('\n');
        }
        if outcome.pipe_held {
            text.push_str(
                "[a process that left the command's process group still holds its output; \
                 output after this point is not shown and that process may still be running]\n",
            );
        }
        match outcome.ending {
            Ending::Exited(status) => {
                text.push_str(&describe_exit(status));
                Ok(ToolOutput::from(text))
            }
            Ending::TimedOut => {
                text.push_str(&format!(
                    "command timed out after {} and was killed, with every process it \
                     started. If it needs longer, set timeout_ms (at most {MAX_TIMEOUT_MS}, \
                     10 minutes); if it waits for input, give it the input or a flag such as \
                     `--yes`",
                    seconds(timeout_ms)
                ));
                Err(ToolError::new(text))
            }
            Ending::Cancelled => {
                text.push_str(
                    "cancelled by the user; the command and every process it started were \
                     killed",
                );
                Err(ToolError::new(text))
            }
        }
    }
}

/// "exit code: 2", or the signal that ended the shell.
fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code: {code}");
    }
    match status.signal() {
        Some(number) => {
            let name = Signal::try_from(number).map_or("unknown signal", Signal::as_str);
            format!("killed by signal {number} ({name})")
        }
        None => "exit status unknown".to_string(),
    }
}

/// "5s", "1.5s", "250ms".
fn seconds(milliseconds: u64) -> String {
    match milliseconds {
        ms if ms < 1000 => format!("{ms}ms"),
        ms if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        ms => format!("{:.1}s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(250), "250ms");
        assert_eq!(seconds(5000), "5s");
        assert_eq!(seconds(1500), "1.5s");
    }

    #[test]
    fn exits_and_signals_are_described() {
        assert_eq!(describe_exit(ExitStatus::from_raw(0)), "exit code: 0");
        assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "exit code: 3");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9)),
            "killed by signal 9 (SIGKILL)"
        );
    }

    #[test]
    fn summaries_quote_the_command() {
        let tool = BashTool;
        assert_eq!(
            tool.summarize(&json!({"command": "cargo test"})),
            "run `cargo test`"
        );
        assert_eq!(tool.summarize(&json!({})), "run a shell command");
    }
}
