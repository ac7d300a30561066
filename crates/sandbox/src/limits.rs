//! Resource limits: rlimits set in the child, and a pids cgroup where one can be made.
//!
//! `RLIMIT_NPROC` counts every process and thread of the user, system-wide, and the kernel
//! does not apply it to root at all. So the process bound is, in order of preference:
//! a `pids` cgroup made for the one command (exact, and it holds for root too), else
//! `RLIMIT_NPROC` set to the tasks running now plus the allowance (an upper bound of the
//! user's own count, so the command always gets at least the allowance). Running as root
//! without a writable pids cgroup leaves the process count unbounded; [`crate::probe`] says so.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::resource::Resource;

/// Bounds on what one command may consume. `None` leaves a limit as inherited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceLimits {
    /// CPU seconds per process (`RLIMIT_CPU`).
    pub cpu_seconds: Option<u64>,
    /// Bytes of address space per process (`RLIMIT_AS`). Off by default: JavaScript engines,
    /// the JVM and Go reserve far more address space than they use.
    pub address_space_bytes: Option<u64>,
    /// Largest file a process may write (`RLIMIT_FSIZE`).
    pub file_size_bytes: Option<u64>,
    /// Processes and threads the command may have at once.
    pub processes: Option<u64>,
}

impl Default for ResourceLimits {
    /// An hour of CPU per process, files up to 1 GiB, 1024 processes, no address-space cap:
    /// enough for `cargo build` and `npm install`, not for a fork bomb or a runaway writer.
    fn default() -> Self {
        ResourceLimits {
            cpu_seconds: Some(3600),
            address_space_bytes: None,
            file_size_bytes: Some(1 << 30),
            processes: Some(1024),
        }
    }
}

/// One rlimit to set in the child: (resource, value).
pub(crate) type Rlimit = (Resource, u64);

/// The rlimits for `limits`, given whether a cgroup bounds the process count already.
pub(crate) fn rlimits(limits: &ResourceLimits, cgroup_bounds_processes: bool) -> Vec<Rlimit> {
    let mut out = vec![(Resource::RLIMIT_CORE, 0)];
    if let Some(seconds) = limits.cpu_seconds {
        out.push((Resource::RLIMIT_CPU, seconds));
    }
    if let Some(bytes) = limits.address_space_bytes {
        out.push((Resource::RLIMIT_AS, bytes));
    }
    if let Some(bytes) = limits.file_size_bytes {
        out.push((Resource::RLIMIT_FSIZE, bytes));
    }
    if let Some(processes) = limits.processes
        && !cgroup_bounds_processes
    {
        out.push((
            Resource::RLIMIT_NPROC,
            running_tasks().saturating_add(processes),
        ));
    }
    out
}

/// Tasks (processes and threads) running on the machine now, from `/proc/loadavg`.
fn running_tasks() -> u64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let field = text.split_whitespace().nth(3)?;
            field.split('/').nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A pids cgroup made for one command; removed when dropped, once its processes are gone.
#[derive(Debug)]
pub(crate) struct PidsCgroup {
    dir: PathBuf,
}

static NEXT_CGROUP: AtomicU64 = AtomicU64::new(0);

impl PidsCgroup {
    /// Makes a child of this process's pids cgroup allowing `processes` tasks, and opens its
    /// `cgroup.procs` for the child to join by writing `0`. `None` when no writable pids
    /// hierarchy exists.
    pub(crate) fn create(processes: u64) -> Option<(PidsCgroup, File)> {
        let parent = own_pids_cgroup()?;
        SWEEP.call_once(|| sweep_stale(&parent));
        let name = format!(
            "code-mesh-{}-{}",
            std::process::id(),
            NEXT_CGROUP.fetch_add(1, Ordering::Relaxed)
        );
        let dir = parent.join(name);
        std::fs::create_dir(&dir).ok()?;
        let cgroup = PidsCgroup { dir };
        let opened = (|| -> io::Result<File> {
            let mut max = OpenOptions::new()
                .write(true)
                .open(cgroup.dir.join("pids.max"))?;
            max.write_all(processes.to_string().as_bytes())?;
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(cgroup.dir.join("cgroup.procs"))
        })();
        match opened {
            Ok(procs) => Some((cgroup, procs)),
            Err(error) => {
                tracing::debug!(%error, dir = %cgroup.dir.display(), "pids cgroup unusable");
                None
            }
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        if remove(&self.dir) {
            return;
        }
        // Killed processes may take a moment to leave: keep trying off the caller's thread.
        // One that escaped the process group keeps the cgroup (and stays bounded by it) until
        // it ends; a later Code Mesh sweeps the empty folder away (`sweep_stale`).
        let dir = std::mem::take(&mut self.dir);
        let spawned = std::thread::Builder::new()
            .name("pids-cgroup-cleanup".into())
            .spawn(move || {
                for _ in 0..100 {
                    std::thread::sleep(Duration::from_millis(50));
                    if remove(&dir) {
                        return;
                    }
                }
                tracing::debug!(dir = %dir.display(), "pids cgroup still busy; left in place");
            });
        if let Err(error) = spawned {
            tracing::debug!(%error, "cannot clean the pids cgroup up");
        }
    }
}

static SWEEP: Once = Once::new();

/// Removes the folder of a cgroup; true when it is gone.
fn remove(dir: &Path) -> bool {
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(error) => error.kind() == io::ErrorKind::NotFound,
    }
}

/// Removes the empty cgroups left by Code Mesh processes that have ended.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("code-mesh-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            // Fails harmlessly while a process still lives in it.
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// Whether a pids cgroup can be made for a command (tries once, and removes it).
pub(crate) fn pids_cgroup_available() -> bool {
    PidsCgroup::create(1).is_some()
}

/// This process's cgroup directory in a pids hierarchy (v1 `pids` controller, or cgroup v2
/// with `pids` enabled for children), if this process may create children in it.
fn own_pids_cgroup() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in mountinfo.lines() {
        // id parent major:minor root mount-point options ... - fstype source super-options
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let after: Vec<&str> = after.split(' ').collect();
        let (Some(root), Some(mount_point), Some(fstype)) =
            (fields.get(3), fields.get(4), after.first())
        else {
            continue;
        };
        let own = match *fstype {
            "cgroup"
                if after
                    .get(2)
                    .is_some_and(|o| o.split(',').any(|o| o == "pids")) =>
            {
                membership.lines().find_map(|line| {
                    let mut parts = line.splitn(3, ':');
                    let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                    controllers
                        .split(',')
                        .any(|c| c == "pids")
                        .then(|| path.to_owned())
                })
            }
            "cgroup2" => membership
                .lines()
                .find_map(|line| line.strip_prefix("0::").map(str::to_owned)),
            _ => None,
        };
        let Some(own) = own else { continue };
        let relative = Path::new(&own)
            .strip_prefix(root)
            .ok()
            .map(Path::to_path_buf)?;
        let dir = Path::new(&unescape(mount_point)).join(relative);
        if *fstype == "cgroup2" {
            let controls = std::fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
            if !controls.split_whitespace().any(|c| c == "pids") {
                continue;
            }
        }
        if dir.join("pids.max").exists() || dir.join("cgroup.procs").exists() {
            return Some(dir);
        }
    }
    None
}

/// Mount points in mountinfo escape space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let code = bytes
            .get(index + 1..index + 4)
            .filter(|_| bytes[index] == b'\\')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match code {
            Some(code) => {
                out.push(code);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/sys/fs/cgroup/a\040b"), "/sys/fs/cgroup/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn the_process_bound_is_an_rlimit_only_without_a_cgroup() {
        let limits = ResourceLimits::default();
        let has_nproc = |list: &[Rlimit]| list.iter().any(|(r, _)| *r == Resource::RLIMIT_NPROC);
        assert!(has_nproc(&rlimits(&limits, false)));
        assert!(!has_nproc(&rlimits(&limits, true)));
    }
}
