//! Running a shell command in its own process group and making sure the whole group dies:
//! on timeout, on cancel, when the caller drops the future, and after the shell exits (its
//! background jobs would otherwise hold the output pipe open and outlive the turn).
//!
//! The group is killed only while its leader is known not to be reaped: the waiter thread
//! waits for the leader's exit without reaping it (`waitid` with `WNOWAIT`), kills the group,
//! then reaps the leader under the same lock every other kill takes. A zombie leader keeps its
//! pid, so `killpg` can never hit an unrelated group that reused the number.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use code_mesh_core::CancellationToken;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::time::Instant;

use crate::output::HeadTail;

/// How long output is still read once the shell has exited and its group was killed: only a
/// process that left the group (`setsid`) can still hold the pipe then.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
const READ_CHUNK_BYTES: usize = 64 * 1024;

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
    #[error("the working directory `{0}` does not exist or is not a directory")]
    MissingCwd(PathBuf),
    #[error("internal error while running the command: {0}")]
    Internal(String),
}

/// Runs `run.command` with `bash -c` (or `sh -c`), stdout and stderr interleaved in one pipe.
pub(crate) async fn run(run: Run, cancel: &CancellationToken) -> Result<Outcome, RunError> {
    let (reader, writer) = io::pipe().map_err(RunError::Spawn)?;
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
        let mut child = spawn_shell(&command, &cwd, writer).map_err(RunError::Spawn)?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        waiter_group.started(pid);
        wait_without_reaping(pid);
        waiter_group.kill();
        waiter_group
            .reap(&mut child)
            .map_err(|error| RunError::Internal(error.to_string()))
    });
    let mut receiver =
        pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).map_err(RunError::Spawn)?;
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
                Ok(count) => output.push(&buffer[..count]),
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

fn spawn_shell(command: &str, cwd: &std::path::Path, writer: io::PipeWriter) -> io::Result<Child> {
    let mut last_error = None;
    for program in ["bash", "sh"] {
        let mut shell = Command::new(program);
        shell
            .arg("-c")
            .arg(command)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer.try_clone()?)
            .process_group(0)
            .envs(ENVIRONMENT);
        match shell.spawn() {
            Ok(child) => return Ok(child),
            // No bash on this system: fall back to the POSIX shell.
            Err(error) if error.kind() == io::ErrorKind::NotFound => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
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
        }
    }

    /// SIGKILLs every process of the group, if its leader is not reaped yet.
    fn kill(&self) {
        let mut state = self.state();
        state.doomed = true;
        if let (Some(leader), false) = (state.leader, state.reaped) {
            // ESRCH (the group is already gone) is fine.
            let _ = killpg(leader, Signal::SIGKILL);
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
