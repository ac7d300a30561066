//! Running a shell command in its own process group and making sure the whole group dies:
//! on timeout, on cancel, when the caller drops the future, and after the shell exits (its
//! background jobs would otherwise hold the output pipe open and outlive the turn).
//!
//! The group is killed only while its leader is known not to be reaped: the waiter thread
//! waits for the leader's exit without reaping it (`waitid` with `WNOWAIT`), kills the group,
//! then reaps the leader under the same lock every other kill takes. A zombie leader keeps its
//! pid, so `killpg` can never hit an unrelated group that reused the number.
//!
//! Every command is confined by the call's [`code_mesh_core::SandboxPolicy`]
//! (`code-mesh-sandbox`): prepared in the waiter thread before the spawn, applied in the child
//! only, its pids cgroup kept until the leader is reaped.
//!
//! Every command gets Code Mesh's environment without the variables that may hold secrets
//! (see [`crate::scrub`]) plus [`ENVIRONMENT`]. With [`run_with`] its output is also streamed
//! to a [`ToolOutputSink`] as it arrives (whole UTF-8 characters, at most [`STREAM_LIMIT`] per
//! command) and handed to an observer (the project tools' parsers), while the returned output
//! stays bounded; with [`RunOptions::tty`] the command runs on a pseudo-terminal
//! ([`crate::pty`]).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use code_mesh_core::{SandboxPolicy, ToolContext, ToolOutputSink};
use code_mesh_sandbox::{Confinement, ConfinementGuard, ResourceLimits, SandboxError};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::time::Instant;

use crate::output::HeadTail;
use crate::{pty, scrub};

/// How long output is still read once the shell has exited and its group was killed: only a
/// process that left the group (`setsid`) can still hold the pipe then.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes of one command's output streamed as events; the rest only reaches the result.
pub(crate) const STREAM_LIMIT: usize = 8 * 1024 * 1024;

/// Environment set for every command: no colours, pagers or prompts waiting for a terminal.
const ENVIRONMENT: [(&str, &str); 5] = [
    ("TERM", "dumb"),
    ("PAGER", "cat"),
    ("GIT_PAGER", "cat"),
    ("NO_COLOR", "1"),
    ("GIT_TERMINAL_PROMPT", "0"),
];

/// A command to run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) command: String,
    pub(crate) cwd: PathBuf,
    pub(crate) timeout: Duration,
    /// Bytes of output kept, head and tail.
    pub(crate) max_output: usize,
}

/// How a command is run besides its line, directory and limits.
#[derive(Debug, Default)]
pub(crate) struct RunOptions {
    /// Run on a pseudo-terminal instead of pipes.
    pub(crate) tty: bool,
    /// Where output is streamed as it arrives.
    pub(crate) stream: ToolOutputSink,
}

/// How the command ended and what it printed.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) output: HeadTail,
    pub(crate) ending: Ending,
    /// A process outside the group still held the output pipe when reading stopped.
    pub(crate) pipe_held: bool,
}

#[derive(Debug)]
pub(crate) enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("cannot start the shell: {0}")]
    Spawn(io::Error),
    /// The sandbox is unavailable or could not be prepared; the message says what to do.
    #[error("{0}")]
    Sandbox(SandboxError),
    #[error(
        "the sandbox could not confine the command ({0}), so it did not run; run Code Mesh \
         with `--sandbox off` to let commands run unconfined"
    )]
    Confine(io::Error),
    #[error("the working directory `{0}` does not exist or is not a directory")]
    MissingCwd(PathBuf),
    #[error("internal error while running the command: {0}")]
    Internal(String),
}

/// Runs `run.command` with `bash -c` (or `sh -c`), stdout and stderr interleaved in one pipe,
/// confined by `context.sandbox` and stopped by `context.cancel`.
pub(crate) async fn run(run: Run, context: &ToolContext) -> Result<Outcome, RunError> {
    run_with(run, RunOptions::default(), context, &mut |_| {}).await
}

/// [`run`], streaming the output to `options.stream` and handing every piece of it to
/// `observer`, on a pseudo-terminal when `options.tty`.
pub(crate) async fn run_with(
    run: Run,
    options: RunOptions,
    context: &ToolContext,
    observer: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Outcome, RunError> {
    let cancel = &context.cancel;
    let sandbox = Sandbox {
        policy: context.sandbox.clone(),
        workspace: context.workspace.clone(),
    };
    let (mut receiver, terminal) = if options.tty {
        let pty = pty::open().map_err(RunError::Spawn)?;
        let reader = pty::MasterReader::new(pty.master).map_err(RunError::Spawn)?;
        (OutputReader::Pty(reader), Terminal::Pty(pty.slave))
    } else {
        let (reader, writer) = io::pipe().map_err(RunError::Spawn)?;
        let receiver =
            pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).map_err(RunError::Spawn)?;
        (OutputReader::Pipe(receiver), Terminal::Pipe(writer))
    };
    let mut stream = Utf8Stream::new(options.stream);
    let group = ProcessGroup::default();
    // Armed before the spawn: whenever this future ends or is dropped, the group dies.
    let _guard = KillOnDrop(group.clone());
    let waiter_group = group.clone();
    let Run {
        command,
        cwd,
        timeout,
        max_output,
    } = run;
    let mut waiter = tokio::task::spawn_blocking(move || -> Result<ExitStatus, RunError> {
        if !cwd.is_dir() {
            return Err(RunError::MissingCwd(cwd));
        }
        let (mut child, _confinement) = spawn_shell(&command, &cwd, terminal, &sandbox)?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        waiter_group.started(pid);
        wait_without_reaping(pid);
        waiter_group.kill();
        waiter_group
            .reap(&mut child)
            .map_err(|error| RunError::Internal(error.to_string()))
    });
    let mut output = HeadTail::new(max_output);
    let mut buffer = vec![0u8; READ_CHUNK_BYTES];
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut status: Option<ExitStatus> = None;
    let mut stopped: Option<Ending> = None;
    let mut end_of_output = false;
    let mut drain_until = Instant::now() + Duration::from_secs(24 * 3600);
    let mut pipe_held = false;
    while !(end_of_output && status.is_some()) {
        tokio::select! {
            read = receiver.read(&mut buffer), if !end_of_output => match read {
                Ok(0) => end_of_output = true,
                Ok(count) => {
                    output.push(&buffer[..count]);
                    observer(&buffer[..count]);
                    stream.send(&buffer[..count]).await;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => end_of_output = true,
            },
            joined = &mut waiter, if status.is_none() => {
                let exited = joined.map_err(|error| RunError::Internal(error.to_string()))??;
                status = Some(exited);
                drain_until = Instant::now() + DRAIN_TIMEOUT;
            }
            () = &mut deadline, if stopped.is_none() && status.is_none() => {
                stopped = Some(Ending::TimedOut);
                group.kill();
            }
            () = cancel.cancelled(), if stopped.is_none() && status.is_none() => {
                stopped = Some(Ending::Cancelled);
                group.kill();
            }
            () = tokio::time::sleep_until(drain_until), if status.is_some() => {
                pipe_held = true;
                break;
            }
        }
    }
    stream.flush().await;
    let ending = match (stopped, status) {
        (Some(ending), _) => ending,
        (None, Some(status)) => Ending::Exited(status),
        (None, None) => return Err(RunError::Internal("the command's status was lost".into())),
    };
    Ok(Outcome {
        output,
        ending,
        pipe_held,
    })
}

/// Where the command's standard streams go.
#[derive(Debug)]
enum Terminal {
    /// stdin closed, stdout and stderr into this pipe.
    Pipe(io::PipeWriter),
    /// All three on this pseudo-terminal slave.
    Pty(OwnedFd),
}

/// Where the command's output is read.
#[derive(Debug)]
enum OutputReader {
    Pipe(pipe::Receiver),
    Pty(pty::MasterReader),
}

impl OutputReader {
    async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            OutputReader::Pipe(receiver) => receiver.read(buffer).await,
            OutputReader::Pty(reader) => reader.read(buffer).await,
        }
    }
}

/// Output forwarded to a [`ToolOutputSink`] in whole UTF-8 characters, up to [`STREAM_LIMIT`].
struct Utf8Stream {
    sink: ToolOutputSink,
    /// The start of a character cut by the end of the last read.
    pending: Vec<u8>,
    sent: usize,
}

impl Utf8Stream {
    fn new(sink: ToolOutputSink) -> Self {
        Utf8Stream {
            sink,
            pending: Vec::new(),
            sent: 0,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        if self.sent >= STREAM_LIMIT {
            return;
        }
        self.pending.extend_from_slice(bytes);
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // An incomplete character at the end waits for the next read; invalid bytes
            // elsewhere are replaced.
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        if complete == 0 {
            return;
        }
        let rest = self.pending.split_off(complete);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        self.sent += complete;
        self.sink.send(&text).await;
        if self.sent >= STREAM_LIMIT {
            self.sink
                .send("\n[output streaming stopped here; the result keeps the end of the output]\n")
                .await;
        }
    }

    async fn flush(&mut self) {
        if !self.pending.is_empty() && self.sent < STREAM_LIMIT {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.sink.send(&text).await;
        }
    }
}

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The confinement of one command: the call's policy and the workspace it protects.
#[derive(Debug)]
struct Sandbox {
    policy: SandboxPolicy,
    workspace: PathBuf,
}

/// Starts the shell, confined; the guard must outlive the command's process group.
fn spawn_shell(
    command: &str,
    cwd: &std::path::Path,
    terminal: Terminal,
    sandbox: &Sandbox,
) -> Result<(Child, Option<ConfinementGuard>), RunError> {
    let mut last_error = None;
    for program in ["bash", "sh"] {
        let mut shell = match &terminal {
            Terminal::Pipe(writer) => {
                let mut shell = Command::new(program);
                shell
                    .arg("-c")
                    .arg(command)
                    .stdin(Stdio::null())
                    .stdout(writer.try_clone().map_err(RunError::Spawn)?)
                    .stderr(writer.try_clone().map_err(RunError::Spawn)?)
                    .process_group(0);
                shell
            }
            Terminal::Pty(slave) => {
                if program == "bash" && !on_path("bash") {
                    continue;
                }
                // `setsid --ctty` runs the shell as the leader of a new session (so of a new
                // process group with its pid) whose controlling terminal is its stdin.
                let mut shell = Command::new("setsid");
                let end = |fd: &OwnedFd| fd.try_clone().map_err(RunError::Spawn);
                shell
                    .arg("--ctty")
                    .arg(program)
                    .arg("-c")
                    .arg(command)
                    .stdin(end(slave)?)
                    .stdout(end(slave)?)
                    .stderr(end(slave)?);
                shell
            }
        };
        shell.current_dir(cwd).envs(ENVIRONMENT);
        scrub::remove_secrets(&mut shell);
        let confinement = Confinement::prepare(
            &sandbox.policy,
            &sandbox.workspace,
            &ResourceLimits::default(),
        )
        .map_err(RunError::Sandbox)?;
        let confined = confinement.is_some();
        let guard = confinement.map(|confinement| confinement.apply(&mut shell));
        match shell.spawn() {
            Ok(child) => return Ok((child, guard)),
            // No bash on this system: fall back to the POSIX shell.
            Err(error) if error.kind() == io::ErrorKind::NotFound => last_error = Some(error),
            Err(error) if confined => return Err(RunError::Confine(error)),
            Err(error) => return Err(RunError::Spawn(error)),
        }
    }
    Err(RunError::Spawn(last_error.unwrap_or_else(|| {
        io::Error::from(io::ErrorKind::NotFound)
    })))
}

/// Blocks until the leader `pid` has exited, leaving it unreaped (a zombie).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn wait_without_reaping(pid: Pid) {
    use nix::errno::Errno;
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Without `waitid`, the leader is reaped by `reap`; the kill before it is then best effort.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn wait_without_reaping(_pid: Pid) {}

#[derive(Debug, Default)]
struct GroupState {
    leader: Option<Pid>,
    reaped: bool,
    /// A kill was asked for before the leader started: kill it as soon as it does.
    doomed: bool,
}

/// The process group of one command, shared by the waiter thread, the reader and the guard.
#[derive(Clone, Debug, Default)]
struct ProcessGroup(Arc<Mutex<GroupState>>);

impl ProcessGroup {
    fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn started(&self, leader: Pid) {
        let mut state = self.state();
        state.leader = Some(leader);
        if state.doomed {
            let _ = killpg(leader, Signal::SIGKILL);
            let _ = kill(leader, Signal::SIGKILL);
        }
    }

    /// SIGKILLs every process of the group, if its leader is not reaped yet.
    fn kill(&self) {
        let mut state = self.state();
        state.doomed = true;
        if let (Some(leader), false) = (state.leader, state.reaped) {
            // ESRCH (the group is already gone) is fine.
            let _ = killpg(leader, Signal::SIGKILL);
            // The leader itself too: on a terminal it makes its group only once `setsid` has
            // run, and it is never reaped here, so its pid is still its own.
            let _ = kill(leader, Signal::SIGKILL);
        }
    }

    /// Reaps the leader; no kill can target its pid afterwards.
    fn reap(&self, child: &mut Child) -> io::Result<ExitStatus> {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            // The leader is a zombie already, so this wait does not block under the lock.
            let mut state = self.state();
            state.reaped = true;
            child.wait()
        } else {
            let status = child.wait();
            self.state().reaped = true;
            status
        }
    }
}

/// Kills the group when dropped: the tool's future ending in any way ends the command.
#[derive(Debug)]
struct KillOnDrop(ProcessGroup);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill();
    }
}
