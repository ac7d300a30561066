//! `bash` under the sandbox: refusals reach the model with a note saying why.

use code_mesh_core::{SandboxPolicy, ToolContext};
use code_mesh_protocol::SandboxMode;
use serde_json::json;
use tempfile::TempDir;

use crate::support::{Workspace, call_with};

/// A context whose workspace and outside folder are not under `/tmp` (which commands may
/// write), confined by `mode`.
fn confined(mode: SandboxMode) -> (TempDir, ToolContext) {
    let dir = tempfile::tempdir_in(outside_writable_roots()).unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("workspace")).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    let mut context = Workspace::new().context;
    context.workspace = root.join("workspace");
    context.cwd = root.join("workspace");
    context.sandbox = SandboxPolicy {
        mode,
        ..SandboxPolicy::default()
    };
    (dir, context)
}

#[tokio::test]
async fn a_write_outside_the_workspace_is_refused_with_a_note() {
    let (dir, context) = confined(SandboxMode::WorkspaceWrite);
    let outside = dir
        .path()
        .canonicalize()
        .unwrap()
        .join("outside/escape.txt");
    let text = call_with(
        &context,
        "bash",
        json!({"command": format!("echo inside > inside.txt && echo out > '{}'", outside.display())}),
    )
    .await
    .unwrap();
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains("[sandbox: "), "{text}");
    assert!(text.contains("only inside the workspace"), "{text}");
    assert!(text.ends_with("exit code: 1"), "{text}");
    assert!(!outside.exists());
    assert!(context.workspace.join("inside.txt").exists());
}

#[tokio::test]
async fn read_only_refuses_writes_in_the_workspace_too() {
    let (_dir, context) = confined(SandboxMode::ReadOnly);
    let text = call_with(
        &context,
        "bash",
        json!({"command": "ls && echo x > made.txt"}),
    )
    .await
    .unwrap();
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains("`read-only` sandbox"), "{text}");
    assert!(!context.workspace.join("made.txt").exists());
}

#[tokio::test]
async fn a_network_connection_is_refused_and_the_note_says_how_to_allow_it() {
    let (_dir, context) = confined(SandboxMode::WorkspaceWrite);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = call_with(
        &context,
        "bash",
        json!({"command": format!("exec 3<>/dev/tcp/127.0.0.1/{port}")}),
    )
    .await
    .unwrap();
    assert!(text.contains("`[tools] network = true`"), "{text}");
    assert!(
        listener.accept().is_err(),
        "the listener accepted a connection"
    );
}

#[tokio::test]
async fn a_pseudo_terminal_works_under_the_sandbox() {
    let (_dir, context) = confined(SandboxMode::WorkspaceWrite);
    let text = call_with(
        &context,
        "bash",
        json!({"command": "tty && stty size && echo made > made.txt", "tty": true}),
    )
    .await
    .unwrap();
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("50 200"), "{text}");
    assert!(text.ends_with("exit code: 0"), "{text}");
    assert!(context.workspace.join("made.txt").exists());
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
