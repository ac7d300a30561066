//! The part that runs in the child, between `fork` and `exec`: async-signal-safe system calls
//! on what the parent prepared, nothing that allocates or takes a lock.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::BpfProgram;

use crate::limits::Rlimit;

/// `LANDLOCK_CREATE_RULESET_VERSION`: ask `landlock_create_ruleset` for the ABI version.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// What the child applies to itself before `exec`.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    /// `cgroup.procs` of the command's pids cgroup, to join by writing `0`.
    pub(crate) cgroup_procs: Option<File>,
    pub(crate) rlimits: Vec<Rlimit>,
    /// The Landlock ruleset, all rules added.
    pub(crate) ruleset: OwnedFd,
    /// The seccomp program denying network sockets, unless the network is allowed.
    pub(crate) filter: Option<BpfProgram>,
}

impl ChildSetup {
    /// Installs the setup on `command`, to run in its child between `fork` and `exec`.
    pub(crate) fn install(self, command: &mut Command) {
        let closure = move || self.enter();
        #[expect(
            unsafe_code,
            reason = "confining the child needs code between fork and exec"
        )]
        // SAFETY: `enter` only makes async-signal-safe system calls (write, getrlimit,
        // setrlimit, prctl, landlock_restrict_self, seccomp) on memory and descriptors the
        // parent prepared before the fork; it allocates nothing, takes no lock and touches no
        // state shared with other threads of the parent. Errors are returned as raw OS errors.
        unsafe {
            command.pre_exec(closure);
        }
    }

    /// Confines the calling process. Runs in the forked child only.
    fn enter(&self) -> io::Result<()> {
        if let Some(procs) = &self.cgroup_procs {
            // `0` moves the writer (this child) into the cgroup.
            let mut procs = procs;
            procs.write_all(b"0")?;
        }
        for &(resource, value) in &self.rlimits {
            let (_, hard) = nix::sys::resource::getrlimit(resource).map_err(io::Error::from)?;
            let value = value.min(hard);
            nix::sys::resource::setrlimit(resource, value, value).map_err(io::Error::from)?;
        }
        nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)?;
        restrict_self(&self.ruleset)?;
        if let Some(filter) = &self.filter {
            seccompiler::apply_filter(filter).map_err(|error| match error {
                seccompiler::Error::Prctl(error) | seccompiler::Error::Seccomp(error) => error,
                _ => io::Error::from_raw_os_error(libc::EINVAL),
            })?;
        }
        Ok(())
    }
}

/// Enforces the Landlock ruleset on the calling thread (the child has only one).
fn restrict_self(ruleset: &OwnedFd) -> io::Result<()> {
    #[expect(unsafe_code, reason = "landlock_restrict_self has no safe wrapper")]
    // SAFETY: the system call takes a ruleset descriptor (open for the call's duration, owned
    // by `ruleset`) and flags; it reads no memory of ours.
    let result = unsafe {
        libc::syscall(
            libc::SYS_landlock_restrict_self,
            ruleset.as_raw_fd(),
            0 as libc::c_uint,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The kernel's Landlock ABI version, or why Landlock cannot be used.
pub(crate) fn landlock_abi() -> Result<u32, String> {
    #[expect(unsafe_code, reason = "landlock_create_ruleset has no safe wrapper")]
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the kernel reads no
    // memory and only returns the ABI version (or -1 and errno).
    let result = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0 as libc::size_t,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if result > 0 {
        return u32::try_from(result).map_err(|_| format!("odd Landlock ABI version {result}"));
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => Err(
            "Landlock is built into the kernel but not enabled; add `landlock` to the `lsm=` \
             boot parameter"
                .to_owned(),
        ),
        Some(libc::ENOSYS) => Err("the kernel has no Landlock (it needs Linux 5.13 or later \
                                   built with CONFIG_SECURITY_LANDLOCK)"
            .to_owned()),
        _ => Err(format!(
            "Landlock is not usable: {}",
            io::Error::last_os_error()
        )),
    }
}
