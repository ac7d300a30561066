//! Runs one shell command confined as Code Mesh would run it in the current directory (the
//! default `workspace-write` policy with the default writable roots and denied paths), to try
//! what the sandbox allows: `cargo run -p code-mesh-sandbox --example confine -- 'cargo build'`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use code_mesh_sandbox::{Confinement, ResourceLimits, SandboxMode, SandboxPolicy};

fn main() {
    let script = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let workspace = std::env::current_dir().unwrap();
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let mode = match std::env::var("SANDBOX").as_deref() {
        Ok("read-only") => SandboxMode::ReadOnly,
        Ok("off") => SandboxMode::Off,
        _ => SandboxMode::WorkspaceWrite,
    };
    let policy = SandboxPolicy {
        mode,
        network: std::env::var_os("NETWORK").is_some(),
        writable_roots: code_mesh_protocol::config::DEFAULT_WRITABLE_ROOTS
            .iter()
            .map(|root| home.join(root.trim_start_matches("~/")))
            .collect(),
        denied_paths: vec![home.join(".ssh"), home.join(".gnupg"), home.join(".aws")],
    };
    let mut command = Command::new("bash");
    command.arg("-c").arg(&script);
    let confinement = Confinement::prepare(&policy, &workspace, &ResourceLimits::default())
        .unwrap_or_else(|error| panic!("{error}"));
    let guard = confinement.map(|confinement| confinement.apply(&mut command));
    let status = command.status().unwrap();
    // `exit` runs no destructors: release the cgroup first.
    drop(guard);
    std::process::exit(status.code().unwrap_or(1));
}
