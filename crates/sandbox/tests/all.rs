//! Confined commands on the real kernel: what they may and may not do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use code_mesh_sandbox::{
    Confinement, ProcessBound, ResourceLimits, SandboxMode, SandboxPolicy, probe,
};
use tempfile::TempDir;

/// A workspace, a fake home with a secret, and a folder outside both, none of them under
/// `/tmp` (which confined commands may write).
struct Fixture {
    root: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir_in(outside_writable_roots()).unwrap();
        for dir in ["workspace", "home/.ssh", "outside"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("home/.ssh/id_rsa"), "PRIVATE KEY").unwrap();
        std::fs::write(root.path().join("home/notes.txt"), "notes").unwrap();
        std::fs::write(root.path().join("outside/file.txt"), "outside").unwrap();
        Fixture { root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(relative)
    }

    fn policy(&self, mode: SandboxMode) -> SandboxPolicy {
        SandboxPolicy {
            mode,
            network: false,
            writable_roots: Vec::new(),
            denied_paths: vec![self.path("home/.ssh")],
        }
    }

    /// Runs `script` with `sh -c` in the workspace under `policy`: (success, output).
    fn run(&self, policy: &SandboxPolicy, limits: &ResourceLimits, script: &str) -> (bool, String) {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .current_dir(self.path("workspace"));
        let confinement = Confinement::prepare(policy, &self.path("workspace"), limits).unwrap();
        let _guard = confinement.map(|confinement| confinement.apply(&mut command));
        let output = command.output().unwrap();
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }

    fn run_default(&self, script: &str) -> (bool, String) {
        self.run(
            &self.policy(SandboxMode::WorkspaceWrite),
            &ResourceLimits::default(),
            script,
        )
    }
}

fn quoted(path: &Path) -> String {
    format!("'{}'", path.display())
}

#[test]
fn the_probe_reports_the_landlock_abi_of_this_kernel() {
    let probe = probe();
    assert!(probe.is_available(), "{probe}");
    assert!(probe.landlock_abi.is_some_and(|abi| abi >= 1), "{probe}");
    assert!(probe.to_string().starts_with("Landlock ABI "), "{probe}");
}

#[test]
fn workspace_write_allows_the_workspace_and_temp() {
    let fixture = Fixture::new();
    let (ok, output) = fixture.run_default(
        "echo made > made.txt && cat made.txt && mkdir -p sub && echo x > sub/y && \
         t=$(mktemp) && echo temp > \"$t\" && cat \"$t\" && rm \"$t\" && echo nothing > /dev/null",
    );
    assert!(ok, "{output}");
    assert_eq!(output, "made\ntemp\n");
    assert_eq!(
        std::fs::read_to_string(fixture.path("workspace/made.txt")).unwrap(),
        "made\n"
    );
}

#[test]
fn workspace_write_refuses_writes_outside() {
    let fixture = Fixture::new();
    let outside = fixture.path("outside/file.txt");
    let (ok, output) = fixture.run_default(&format!("echo changed > {}", quoted(&outside)));
    assert!(!ok, "{output}");
    assert!(output.contains("Permission denied"), "{output}");
    let (ok, output) = fixture.run_default("echo changed > ../outside/new.txt");
    assert!(!ok, "{output}");
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "outside",
        "the outside file is unchanged"
    );
    assert!(!fixture.path("outside/new.txt").exists());
}

#[test]
fn symlinks_and_hard_links_do_not_lead_outside() {
    let fixture = Fixture::new();
    let outside = fixture.path("outside/file.txt");
    let (_, output) = fixture.run_default(&format!(
        "ln -s {} link && echo via-symlink > link; ln {} hard && echo via-hardlink > hard; cat {}",
        quoted(&outside),
        quoted(&outside),
        quoted(&outside)
    ));
    assert!(output.contains("Permission denied"), "{output}");
    assert!(output.contains("Invalid cross-device link"), "{output}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "outside");
    assert!(!fixture.path("workspace/hard").exists(), "{output}");
}

#[test]
fn denied_paths_cannot_be_read_but_their_neighbours_can() {
    let fixture = Fixture::new();
    let secret = fixture.path("home/.ssh/id_rsa");
    let (ok, output) = fixture.run_default(&format!("cat {}", quoted(&secret)));
    assert!(!ok, "{output}");
    assert!(output.contains("Permission denied"), "{output}");
    assert!(!output.contains("PRIVATE KEY"), "{output}");
    let (ok, output) =
        fixture.run_default(&format!("cat {}", quoted(&fixture.path("home/notes.txt"))));
    assert!(ok, "{output}");
    assert_eq!(output, "notes");
}

#[test]
fn a_denied_path_inside_the_workspace_stays_unreadable_while_the_rest_works() {
    let fixture = Fixture::new();
    std::fs::write(fixture.path("workspace/secret.key"), "KEY").unwrap();
    std::fs::write(fixture.path("workspace/readme"), "readme").unwrap();
    let mut policy = fixture.policy(SandboxMode::WorkspaceWrite);
    policy
        .denied_paths
        .push(fixture.path("workspace/secret.key"));
    let (_, output) = fixture.run(
        &policy,
        &ResourceLimits::default(),
        "cat secret.key; cat readme; echo new > new.txt && echo written",
    );
    assert!(!output.contains("KEY"), "{output}");
    assert!(
        output.contains("readme") && output.contains("written"),
        "{output}"
    );
}

#[test]
fn read_only_writes_nothing_but_devices() {
    let fixture = Fixture::new();
    let (ok, output) = fixture.run(
        &fixture.policy(SandboxMode::ReadOnly),
        &ResourceLimits::default(),
        "echo x > /dev/null && ls >/dev/null && echo made > made.txt",
    );
    assert!(!ok, "{output}");
    assert!(output.contains("Permission denied"), "{output}");
    assert!(!fixture.path("workspace/made.txt").exists());
}

#[test]
fn the_network_is_refused_unless_allowed_and_unix_sockets_work() {
    let fixture = Fixture::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let mut command = Command::new("bash");
    command.arg("-c").arg(&script);
    let policy = fixture.policy(SandboxMode::WorkspaceWrite);
    let confinement = Confinement::prepare(
        &policy,
        &fixture.path("workspace"),
        &ResourceLimits::default(),
    )
    .unwrap()
    .unwrap();
    let _guard = confinement.apply(&mut command);
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(
        listener.accept().is_err(),
        "the listener accepted a connection"
    );

    let (ok, output) = fixture.run_default(
        "python3 -c 'import socket; a, b = socket.socketpair(); s = socket.socket(socket.AF_UNIX); print(\"unix ok\")'",
    );
    assert!(ok, "{output}");
    assert_eq!(output, "unix ok\n");

    let allowed = SandboxPolicy {
        network: true,
        ..fixture.policy(SandboxMode::WorkspaceWrite)
    };
    let (ok, output) = fixture.run(&allowed, &ResourceLimits::default(), &format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port})); print(\"connected\")'"
    ));
    assert!(ok, "{output}");
    assert_eq!(output, "connected\n");
}

#[test]
fn the_process_count_is_bounded() {
    assert_ne!(
        probe().process_bound,
        ProcessBound::Unbounded,
        "root without a pids cgroup: nothing bounds the process count"
    );
    let fixture = Fixture::new();
    let limits = ResourceLimits {
        processes: Some(8),
        ..ResourceLimits::default()
    };
    // dash does not retry a failed fork: it reports it at once.
    let (ok, output) = fixture.run(
        &fixture.policy(SandboxMode::WorkspaceWrite),
        &limits,
        "i=0; while [ $i -lt 30 ]; do sleep 1 & i=$((i+1)); done; echo all started",
    );
    assert!(!ok || !output.contains("all started"), "{output}");
    assert!(output.to_lowercase().contains("fork"), "{output}");
}

#[test]
fn off_prepares_nothing() {
    let fixture = Fixture::new();
    let policy = fixture.policy(SandboxMode::Off);
    assert!(
        Confinement::prepare(
            &policy,
            &fixture.path("workspace"),
            &ResourceLimits::default()
        )
        .unwrap()
        .is_none()
    );
}

/// A base directory for test folders that must be truly outside what a `workspace-write`
/// sandbox lets commands write: `/tmp` and `/dev/shm` always are writable, so Cargo's target
/// dir will not do when the checkout itself lives under `/tmp`.
fn outside_writable_roots() -> std::path::PathBuf {
    let always_writable = [
        std::path::Path::new("/tmp"),
        std::path::Path::new("/dev/shm"),
    ];
    let candidates = [
        Some(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))),
        Some(std::path::PathBuf::from("/var/tmp")),
        std::env::var_os("HOME").map(std::path::PathBuf::from),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|dir| dir.canonicalize().ok())
        .find(|dir| !always_writable.iter().any(|root| dir.starts_with(root)))
        .expect("no directory outside /tmp and /dev/shm to test the sandbox in")
}
