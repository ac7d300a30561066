//! Sandbox set-up overhead per command: spawns `/bin/true` N times without and with the
//! default `workspace-write` confinement (rules planned, ruleset and BPF program built, pids
//! cgroup made, all per command, as the tools do) and prints the mean time per command.
//!
//! `cargo run --release -p code-mesh-sandbox --example spawn_overhead [N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use code_mesh_sandbox::{Confinement, ResourceLimits, SandboxPolicy, probe};

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let workspace = std::env::current_dir().unwrap();
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let policy = SandboxPolicy {
        denied_paths: vec![home.join(".ssh"), home.join(".gnupg"), home.join(".aws")],
        writable_roots: vec![home.join(".cargo/registry"), home.join(".cache")],
        ..SandboxPolicy::default()
    };
    let limits = ResourceLimits::default();
    println!("sandbox: {}", probe());

    let mut plain = || {
        let status = Command::new("/bin/true").status().unwrap();
        assert!(status.success());
    };
    let mut prepare_only = || {
        let confinement = Confinement::prepare(&policy, &workspace, &limits).unwrap();
        drop(confinement);
    };
    let mut confined = || {
        let mut command = Command::new("/bin/true");
        let confinement = Confinement::prepare(&policy, &workspace, &limits)
            .unwrap()
            .unwrap();
        let guard = confinement.apply(&mut command);
        let status = command.status().unwrap();
        assert!(status.success());
        drop(guard);
    };
    let no_cgroup = ResourceLimits {
        processes: None,
        ..ResourceLimits::default()
    };
    let mut confined_without_cgroup = || {
        let mut command = Command::new("/bin/true");
        let confinement = Confinement::prepare(&policy, &workspace, &no_cgroup)
            .unwrap()
            .unwrap();
        let _guard = confinement.apply(&mut command);
        assert!(command.status().unwrap().success());
    };
    // Interleaved, so that load from other processes hits all three alike.
    let mut totals = [Duration::ZERO; 4];
    for round in 0..=count {
        for (index, body) in [
            &mut plain as &mut dyn FnMut(),
            &mut prepare_only,
            &mut confined,
            &mut confined_without_cgroup,
        ]
        .into_iter()
        .enumerate()
        {
            let started = Instant::now();
            body();
            // Round 0 warms up.
            if round > 0 {
                totals[index] += started.elapsed();
            }
        }
    }
    let [plain, prepare_only, confined, without_cgroup] = totals;
    let per = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(count);
    println!("{count} spawns of /bin/true");
    println!("  unconfined:          {:8.1} µs per command", per(plain));
    println!(
        "  prepare only:        {:8.1} µs per command",
        per(prepare_only)
    );
    println!(
        "  confined:            {:8.1} µs per command",
        per(confined)
    );
    println!(
        "  confined, no cgroup: {:8.1} µs per command",
        per(without_cgroup)
    );
    println!(
        "  overhead:            {:8.1} µs per command",
        per(confined) - per(plain)
    );
}
