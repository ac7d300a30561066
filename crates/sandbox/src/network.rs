//! The seccomp half: no network sockets unless the policy allows them.
//!
//! The filter makes `socket(2)` fail with `EACCES` for every address family but `AF_UNIX`, so
//! local IPC (Unix sockets, D-Bus, the ssh agent's socket if the files allow it) keeps working
//! while TCP, UDP, raw, netlink and every other family is refused. `io_uring_setup` is refused
//! too, because io_uring can create sockets without calling `socket(2)`. The x32 numbers of
//! both calls are covered on x86_64; calls made with another architecture's numbers (32-bit
//! `int 0x80`) kill the process, as the architecture check of the compiled filter does.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::SandboxError;

/// Set on x86_64 system call numbers of the x32 ABI.
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// Compiles the filter that denies network sockets.
pub(crate) fn deny_network_filter() -> Result<BpfProgram, SandboxError> {
    let compile = |error: seccompiler::BackendError| SandboxError::Prepare {
        what: "the seccomp network filter".to_owned(),
        source: std::io::Error::other(error.to_string()),
    };
    let arch =
        TargetArch::try_from(std::env::consts::ARCH).map_err(|_| SandboxError::Unavailable {
            reason: format!(
                "network confinement (seccomp) is not supported on {}",
                std::env::consts::ARCH
            ),
        })?;
    let not_unix = SeccompRule::new(vec![
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .map_err(compile)?,
    ])
    .map_err(compile)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_socket, vec![not_unix.clone()]);
    // An empty rule list matches every call.
    rules.insert(libc::SYS_io_uring_setup, Vec::new());
    if arch == TargetArch::x86_64 {
        rules.insert(libc::SYS_socket | X32_SYSCALL_BIT, vec![not_unix]);
        rules.insert(libc::SYS_io_uring_setup | X32_SYSCALL_BIT, Vec::new());
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )
    .map_err(compile)?;
    BpfProgram::try_from(filter).map_err(compile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_for_this_machine() {
        let program = deny_network_filter().unwrap();
        assert!(!program.is_empty());
    }
}
