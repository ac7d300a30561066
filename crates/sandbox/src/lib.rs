//! Confinement of the commands Code Mesh agents run (Linux).
//!
//! Every command a tool spawns goes through [`Confinement`]: [`Confinement::prepare`] turns a
//! [`SandboxPolicy`] into everything the child needs, and [`Confinement::apply`] installs it on
//! a [`std::process::Command`]. Only the child is confined, never Code Mesh itself.
//!
//! - **Files (Landlock).** Commands may read everything except the policy's `denied_paths`
//!   (secrets such as `~/.ssh` and Code Mesh's credential store) and, in `workspace-write`
//!   mode, write only inside the workspace, `/tmp`, `$TMPDIR`, `/dev/shm` and the declared
//!   `writable_roots`; in `read-only` mode they write nothing but devices such as `/dev/null`
//!   and terminals. Landlock rules only ever grant, so "everything except" is planned as rules
//!   on the siblings of each denied path, see the `filesystem` module. The crate asks for the
//!   rights of Landlock ABI 7 and uses what the running kernel has (best effort); [`probe`]
//!   reports the kernel's ABI. Signals to processes outside the sandbox are refused (ABI 6).
//! - **Network (seccomp, plus Landlock).** Unless `network` is allowed, `socket(2)` fails with
//!   `EACCES` for every family but `AF_UNIX`, and (ABI 4) TCP bind and connect are handled by
//!   Landlock with no port allowed.
//! - **Resources.** rlimits on CPU time, file size and (optionally) address space, no core
//!   dumps, and a bound on the process count (see [`ResourceLimits`]).
//! - **Process group.** The caller spawns the child in its own process group and kills the
//!   group on timeout or cancel (`code-mesh-tools`' process runner does).
//!
//! # Why `pre_exec` rather than a helper binary
//!
//! The confinement is installed between `fork` and `exec` with
//! [`std::os::unix::process::CommandExt::pre_exec`]. Everything that allocates or reads files
//! (planning the rules, opening each path, creating the Landlock ruleset, compiling the BPF
//! program, making the cgroup) happens in the parent *before* the fork; the child only makes
//! system calls that are async-signal-safe: `write` (join the cgroup), `getrlimit`/`setrlimit`,
//! `prctl(PR_SET_NO_NEW_PRIVS)`, `landlock_restrict_self` on the prepared ruleset descriptor
//! and `seccomp(SECCOMP_SET_MODE_FILTER)` on the prepared program. Re-executing a helper would
//! cost a second `exec` per command and need the helper to be found and trusted at run time
//! (tests, `cargo install`, a renamed binary), for no gain in safety.
//!
//! # When Landlock is missing
//!
//! [`Confinement::prepare`] refuses with [`SandboxError::Unavailable`], whose message says why
//! and that `--sandbox off` runs commands unconfined. Mode `off` never touches the kernel.

#[cfg(target_os = "linux")]
mod child;
#[cfg(target_os = "linux")]
mod filesystem;
mod limits;
#[cfg(target_os = "linux")]
mod network;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use code_mesh_core::SandboxPolicy;
pub use code_mesh_protocol::SandboxMode;
pub use limits::ResourceLimits;

/// Why a command cannot be confined.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel lacks what the sandbox needs; retrying will not help.
    #[error(
        "the sandbox cannot confine commands on this system ({reason}), so the command was not \
         run; run Code Mesh with `--sandbox off` (or set `[tools] sandbox = \"off\"`) to let \
         commands run unconfined"
    )]
    Unavailable { reason: String },
    /// Preparing the confinement failed, e.g. a path could not be opened.
    #[error("cannot prepare the sandbox ({what}): {source}")]
    Prepare { what: String, source: io::Error },
}

/// How the number of processes of a command is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessBound {
    /// A `pids` cgroup made for each command.
    Cgroup,
    /// `RLIMIT_NPROC` (counted per user).
    Rlimit,
    /// Running as root without a writable pids cgroup: the kernel exempts root from
    /// `RLIMIT_NPROC`, so only the timeout bounds a fork bomb.
    Unbounded,
}

/// What the sandbox can do on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The kernel's Landlock ABI version, when Landlock is available.
    pub landlock_abi: Option<u32>,
    /// Why commands cannot be confined, when they cannot.
    pub unavailable: Option<String>,
    /// How the process count is bounded.
    pub process_bound: ProcessBound,
}

impl Probe {
    /// Whether commands can be confined.
    pub fn is_available(&self) -> bool {
        self.unavailable.is_none()
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = &self.unavailable {
            return write!(f, "unavailable: {reason}");
        }
        if let Some(abi) = self.landlock_abi {
            write!(f, "Landlock ABI {abi}")?;
        }
        let processes = match self.process_bound {
            ProcessBound::Cgroup => "processes bounded by a pids cgroup",
            ProcessBound::Rlimit => "processes bounded by RLIMIT_NPROC",
            ProcessBound::Unbounded => {
                "process count not bounded (root without a writable pids cgroup)"
            }
        };
        write!(f, ", seccomp network filter, {processes}")
    }
}

/// Says whether Landlock is available and which ABI the kernel offers.
pub fn probe() -> Probe {
    #[cfg(target_os = "linux")]
    {
        let (landlock_abi, unavailable) = match child::landlock_abi() {
            Ok(abi) => (Some(abi), None),
            Err(reason) => (None, Some(reason)),
        };
        let process_bound = if limits::pids_cgroup_available() {
            ProcessBound::Cgroup
        } else if nix::unistd::geteuid().is_root() {
            ProcessBound::Unbounded
        } else {
            ProcessBound::Rlimit
        };
        Probe {
            landlock_abi,
            unavailable,
            process_bound,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Probe {
            landlock_abi: None,
            unavailable: Some("the sandbox needs Linux (Landlock and seccomp)".to_owned()),
            process_bound: ProcessBound::Unbounded,
        }
    }
}

/// Everything one command needs to be confined, prepared in the parent.
#[derive(Debug)]
pub struct Confinement {
    #[cfg(target_os = "linux")]
    setup: child::ChildSetup,
    #[cfg(target_os = "linux")]
    cgroup: Option<limits::PidsCgroup>,
}

/// Keeps what a confined command uses (its pids cgroup) until dropped; drop it once the
/// command and its process group are gone.
#[derive(Debug)]
pub struct ConfinementGuard {
    #[cfg(target_os = "linux")]
    _cgroup: Option<limits::PidsCgroup>,
}

impl Confinement {
    /// Prepares the confinement of one command run under `policy` in `workspace`, or `None`
    /// when the policy's mode is `off`.
    pub fn prepare(
        policy: &SandboxPolicy,
        workspace: &Path,
        limits: &ResourceLimits,
    ) -> Result<Option<Confinement>, SandboxError> {
        if policy.mode == SandboxMode::Off {
            return Ok(None);
        }
        #[cfg(target_os = "linux")]
        {
            child::landlock_abi().map_err(|reason| SandboxError::Unavailable { reason })?;
            let rules =
                filesystem::plan(&grants(policy, workspace), &existing(&policy.denied_paths));
            let ruleset = filesystem::ruleset(&rules, policy.network)?;
            let filter = if policy.network {
                None
            } else {
                Some(network::deny_network_filter()?)
            };
            let cgroup = limits.processes.and_then(limits::PidsCgroup::create);
            let (cgroup, cgroup_procs) = match cgroup {
                Some((cgroup, procs)) => (Some(cgroup), Some(procs)),
                None => (None, None),
            };
            let rlimits = limits::rlimits(limits, cgroup_procs.is_some());
            Ok(Some(Confinement {
                setup: child::ChildSetup {
                    cgroup_procs,
                    rlimits,
                    ruleset,
                    filter,
                },
                cgroup,
            }))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (workspace, limits);
            Err(SandboxError::Unavailable {
                reason: "the sandbox needs Linux (Landlock and seccomp)".to_owned(),
            })
        }
    }

    /// Confines the child `command` will start. Keep the guard until the command's process
    /// group is gone.
    pub fn apply(self, command: &mut Command) -> ConfinementGuard {
        #[cfg(target_os = "linux")]
        {
            self.setup.install(command);
            ConfinementGuard {
                _cgroup: self.cgroup,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = command;
            ConfinementGuard {}
        }
    }
}

/// The trees a command may reach under `policy`, canonical and existing.
#[cfg(target_os = "linux")]
fn grants(policy: &SandboxPolicy, workspace: &Path) -> Vec<(PathBuf, filesystem::Grant)> {
    use filesystem::Grant;
    let mut grants = vec![(PathBuf::from("/"), Grant::Read)];
    for device in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/ptmx",
        "/dev/pts",
    ] {
        grants.push((PathBuf::from(device), Grant::Device));
    }
    if policy.mode == SandboxMode::WorkspaceWrite {
        let mut writable = vec![
            workspace.to_path_buf(),
            PathBuf::from("/tmp"),
            PathBuf::from("/dev/shm"),
        ];
        writable.extend(std::env::var_os("TMPDIR").map(PathBuf::from));
        writable.extend(policy.writable_roots.iter().cloned());
        for path in existing(&writable) {
            grants.push((path, Grant::Write));
        }
    }
    grants
}

/// The paths of `paths` that exist, canonical, without duplicates.
#[cfg(target_os = "linux")]
fn existing(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in paths {
        if let Ok(path) = path.canonicalize()
            && !out.contains(&path)
        {
            out.push(path);
        }
    }
    out
}

/// A note to add to a command's output when it looks like the sandbox refused something:
/// what the sandbox allows and how to change it. `None` when the sandbox is off or the output
/// shows no refusal.
pub fn denial_note(policy: &SandboxPolicy, output: &str) -> Option<String> {
    if policy.mode == SandboxMode::Off {
        return None;
    }
    let refused = [
        "Permission denied",
        "Operation not permitted",
        "Read-only file system",
        "EACCES",
        "EPERM",
    ]
    .iter()
    .any(|needle| output.contains(needle));
    if !refused {
        return None;
    }
    let writes = match policy.mode {
        SandboxMode::ReadOnly => {
            "commands may not write files (`read-only` sandbox; use `--sandbox workspace-write` \
             to let them write the workspace)"
                .to_owned()
        }
        _ => "commands may write only inside the workspace, temporary directories and the \
              `[tools] writable_roots`"
            .to_owned(),
    };
    let network = if policy.network {
        String::new()
    } else {
        "; network access is off (set `[tools] network = true` or run with `--sandbox off` to \
         allow it)"
            .to_owned()
    };
    Some(format!(
        "[sandbox: a \"permission denied\" above may come from the sandbox: {writes}, may not \
         read secrets such as ~/.ssh or the credential store{network}]"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_get_a_note_and_other_output_does_not() {
        let policy = SandboxPolicy::default();
        let note = denial_note(&policy, "bash: /etc/x: Permission denied\n").unwrap();
        assert!(note.contains("only inside the workspace"), "{note}");
        assert!(note.contains("`[tools] network = true`"), "{note}");
        assert_eq!(denial_note(&policy, "all good\n"), None);
        let off = SandboxPolicy {
            mode: SandboxMode::Off,
            ..SandboxPolicy::default()
        };
        assert_eq!(denial_note(&off, "Permission denied"), None);
    }
}
