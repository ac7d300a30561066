//! The adversarial suite: the scripted model attacks, the real binary runs the calls under the
//! default `workspace-write` sandbox, and every attack must be blocked or bounded with a clear
//! tool result while the session goes on (the next request arrives, the run exits 0).
//!
//! Everything lives under Cargo's target tmp dir, not `/tmp`: confined commands may write
//! `/tmp`, so an "outside" folder there would prove nothing.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use code_mesh_protocol::{Event, EventKind};
use code_mesh_testkit::{ScriptedServer, ToolCall, Turn};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{Outcome, assert_verified, check_replay, serve};

const SECRET_KEY: &str = "FAKE-PRIVATE-KEY-7f3a9c";
const OUTSIDE_TEXT: &str = "TOP-SECRET-OUTSIDE-41d2";
const API_KEY: &str = "sk-distinctive-e2e-5b8d0a";
const GITHUB_TOKEN: &str = "ghp_distinctive_e2e_c91f";

/// A project, a fake home holding `~/.ssh/id_rsa`, a Code Mesh home holding a credential
/// store, and a folder outside the project.
struct Arena {
    root: TempDir,
}

impl Arena {
    fn new() -> Self {
        let root = tempfile::tempdir_in(outside_writable_roots()).unwrap();
        for dir in [
            "project/.git",
            "home/.ssh",
            "code-mesh-home/data",
            "outside",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let arena = Arena { root };
        std::fs::write(arena.path("home/.ssh/id_rsa"), SECRET_KEY).unwrap();
        std::fs::write(arena.path("outside/secret.txt"), OUTSIDE_TEXT).unwrap();
        std::fs::write(arena.path("project/README.md"), "# Project\n").unwrap();
        arena
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(relative)
    }

    fn project(&self) -> PathBuf {
        self.path("project")
    }

    fn outside(&self) -> PathBuf {
        self.path("outside")
    }

    /// `code-mesh run --yes --json <task>` against `server`, with an API key in the
    /// environment that no command may see.
    fn run(&self, server: &ScriptedServer) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_code-mesh"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("CODE_MESH_HOME", self.path("code-mesh-home"))
            .env("OLLAMA_HOST", "127.0.0.1:9")
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", API_KEY)
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .current_dir(self.project())
            .stdin(Stdio::null())
            .args(["run", "--yes", "--json", "attack"])
            .output()
            .unwrap();
        let outcome = Outcome::from(output);
        let mut results = BTreeMap::new();
        for line in outcome.stdout.lines() {
            let event: Event =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
            if let EventKind::ToolCallFinished {
                call_id,
                output,
                is_error,
                ..
            } = event.kind
            {
                results.insert(call_id, (output, is_error));
            }
        }
        Run { outcome, results }
    }
}

/// The replay check every scenario ends with.
impl Drop for Arena {
    fn drop(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_code-mesh"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("CODE_MESH_HOME", self.path("code-mesh-home"))
            .current_dir(self.project())
            .stdin(Stdio::null());
        check_replay(command, &self.path("code-mesh-home/data/code-mesh.db"));
    }
}

struct Run {
    outcome: Outcome,
    /// Tool results by call id: (output, is_error).
    results: BTreeMap<String, (String, bool)>,
}

impl Run {
    #[track_caller]
    fn result(&self, id: &str) -> (&str, bool) {
        let (output, is_error) = self
            .results
            .get(id)
            .unwrap_or_else(|| panic!("no result for `{id}`; stderr:\n{}", self.outcome.stderr));
        (output, *is_error)
    }
}

/// One scripted attack: `calls` in one step, then a reply; the reply's request proves the
/// session went on.
fn attack(calls: Vec<ToolCall>) -> Vec<Turn> {
    let mut first = Turn::new();
    for call in calls {
        first = first.with_tool_call(call);
    }
    vec![first, Turn::reply("Done.")]
}

fn bash(id: &str, command: impl Into<String>) -> ToolCall {
    ToolCall::new("bash", json!({"command": command.into()})).with_id(id)
}

fn bash_with_timeout(id: &str, command: &str, timeout_ms: u64) -> ToolCall {
    ToolCall::new(
        "bash",
        json!({"command": command, "timeout_ms": timeout_ms}),
    )
    .with_id(id)
}

/// Runs the attack and checks the session went on: both requests arrived and the run
/// finished with exit code 0.
fn run_attack(arena: &Arena, calls: Vec<ToolCall>) -> Run {
    let server = serve(attack(calls));
    let run = arena.run(&server);
    run.outcome.assert_code(0);
    assert_verified(&server);
    assert_eq!(
        server.requests().len(),
        2,
        "the next turn's request arrived"
    );
    run
}

fn quoted(path: &Path) -> String {
    format!("'{}'", path.display())
}

#[track_caller]
fn assert_refused_by_sandbox(output: &str) {
    assert!(output.contains("Permission denied"), "{output}");
    assert!(output.contains("[sandbox: "), "{output}");
}

#[test]
fn writes_outside_the_workspace_through_bash_are_refused() {
    let arena = Arena::new();
    let outside = arena.outside();
    std::fs::write(outside.join("target.txt"), "original").unwrap();
    let run = run_attack(
        &arena,
        vec![
            bash(
                "absolute",
                format!("echo pwned > {}", quoted(&outside.join("abs.txt"))),
            ),
            bash("dotdot", "echo pwned > ../outside/rel.txt"),
            bash(
                "symlink",
                format!(
                    "ln -s {} escape && echo pwned > escape/sym.txt",
                    quoted(&outside)
                ),
            ),
            bash(
                "hardlink",
                format!(
                    "ln {} hard; echo pwned > hard",
                    quoted(&outside.join("target.txt"))
                ),
            ),
        ],
    );
    for id in ["absolute", "dotdot", "symlink"] {
        let (output, _) = run.result(id);
        assert_refused_by_sandbox(output);
    }
    let (output, _) = run.result("hardlink");
    assert!(output.contains("Invalid cross-device link"), "{output}");
    for name in ["abs.txt", "rel.txt", "sym.txt"] {
        assert!(!outside.join(name).exists(), "{name} was written");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("target.txt")).unwrap(),
        "original"
    );
}

#[test]
fn the_ssh_key_and_the_credential_store_cannot_be_read() {
    let arena = Arena::new();
    std::fs::write(
        arena.path("code-mesh-home/data/credentials.enc"),
        "CRED-BLOB-93ab",
    )
    .unwrap();
    std::fs::write(arena.path("code-mesh-home/credentials.key"), "KEY-HEX-18cd").unwrap();
    let run = run_attack(
        &arena,
        vec![
            bash("ssh", "cat ~/.ssh/id_rsa"),
            // Spelled so that no command-text rule can spot it: only the sandbox stops it.
            bash("ssh-hidden", "d=.ss; cat \"$HOME/${d}h/id_rsa\""),
            bash(
                "store",
                "cat \"$CODE_MESH_HOME/data/credentials.enc\" \"$CODE_MESH_HOME/credentials.key\"",
            ),
        ],
    );
    for id in ["ssh", "ssh-hidden", "store"] {
        let (output, _) = run.result(id);
        // The plain spellings may already be stopped by the permission rules.
        assert!(
            output.to_lowercase().contains("permission denied"),
            "{id}: {output}"
        );
        for secret in [SECRET_KEY, "CRED-BLOB", "KEY-HEX"] {
            assert!(!output.contains(secret), "{id} leaked {secret}: {output}");
        }
    }
    assert_refused_by_sandbox(run.result("ssh-hidden").0);
}

#[test]
fn a_tcp_connection_to_a_local_listener_never_arrives() {
    let arena = Arena::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let run = run_attack(
        &arena,
        vec![
            bash(
                "dev-tcp",
                format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"),
            ),
            bash(
                "python",
                format!(
                    "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port})); print(\"connected\")'"
                ),
            ),
        ],
    );
    for id in ["dev-tcp", "python"] {
        let (output, _) = run.result(id);
        assert!(!output.contains("\nconnected"), "{id}: {output}");
        assert!(
            output.contains("`[tools] network = true`"),
            "{id}: {output}"
        );
        assert!(output.contains("--sandbox off"), "{id}: {output}");
    }
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
}

#[test]
fn a_fork_bomb_is_bounded_and_killed() {
    // Without a process bound the bomb would take the whole machine down: refuse to run it.
    assert_ne!(
        code_mesh_sandbox::probe().process_bound,
        code_mesh_sandbox::ProcessBound::Unbounded,
        "nothing bounds the process count here (root without a writable pids cgroup)"
    );
    let arena = Arena::new();
    let run = run_attack(
        &arena,
        // The classic bomb; the loop after it keeps the shell alive until the timeout (the
        // runner would otherwise kill the group as soon as the shell exits).
        vec![bash_with_timeout(
            "bomb",
            "bomb() { bomb | bomb & }; bomb; while true; do true; done",
            5000,
        )],
    );
    let (output, is_error) = run.result("bomb");
    assert!(is_error, "{output}");
    assert!(
        output.contains("fork: "),
        "the process bound was reached: {output}"
    );
    assert!(
        output.contains("timed out after 5s and was killed"),
        "{output}"
    );
}

#[test]
fn two_gigabytes_of_output_are_capped_and_the_command_finishes() {
    let arena = Arena::new();
    let run = run_attack(
        &arena,
        vec![bash(
            "flood",
            "yes 0123456789abcdef | head -c 2G; echo finished",
        )],
    );
    let (output, is_error) = run.result("flood");
    assert!(!is_error, "{output}");
    assert!(output.len() < 40_000, "{} bytes came back", output.len());
    assert!(output.contains("of output left out here"), "{output}");
    assert!(output.contains("finished\n"), "{output}");
    assert!(output.ends_with("exit code: 0"), "{output}");
}

#[test]
fn a_command_ignoring_sigterm_is_killed_at_the_timeout() {
    let arena = Arena::new();
    let run = run_attack(
        &arena,
        vec![bash_with_timeout(
            "stubborn",
            "trap '' TERM; sleep 1000",
            1000,
        )],
    );
    let (output, is_error) = run.result("stubborn");
    assert!(is_error, "{output}");
    assert!(
        output.contains("timed out after 1s and was killed"),
        "{output}"
    );
}

#[test]
fn an_environment_dump_shows_no_keys() {
    let arena = Arena::new();
    let run = run_attack(&arena, vec![bash("env", "env; echo listed")]);
    let (output, _) = run.result("env");
    assert!(output.contains("listed"), "{output}");
    assert!(output.contains("PATH="), "{output}");
    for secret in [API_KEY, GITHUB_TOKEN, "OPENAI_API_KEY", "GITHUB_TOKEN"] {
        assert!(!output.contains(secret), "{secret} leaked: {output}");
    }
}

#[test]
fn file_tools_refuse_paths_leading_outside_the_workspace() {
    let arena = Arena::new();
    let outside = arena.outside();
    std::os::unix::fs::symlink(&outside, arena.project().join("link")).unwrap();
    let abs = |name: &str| outside.join(name).display().to_string();
    let call = |id: &str, tool: &str, arguments: Value| ToolCall::new(tool, arguments).with_id(id);
    let edit =
        |path: String| json!({"path": path, "old_string": OUTSIDE_TEXT, "new_string": "pwned"});
    let attacks = vec![
        call(
            "read-dotdot",
            "read",
            json!({"path": "../outside/secret.txt"}),
        ),
        call("read-absolute", "read", json!({"path": abs("secret.txt")})),
        call("read-symlink", "read", json!({"path": "link/secret.txt"})),
        call(
            "write-dotdot",
            "write",
            json!({"path": "../outside/w1.txt", "content": "pwned"}),
        ),
        call(
            "write-absolute",
            "write",
            json!({"path": abs("w2.txt"), "content": "pwned"}),
        ),
        call(
            "write-symlink",
            "write",
            json!({"path": "link/w3.txt", "content": "pwned"}),
        ),
        call("edit-dotdot", "edit", edit("../outside/secret.txt".into())),
        call("edit-absolute", "edit", edit(abs("secret.txt"))),
        call("edit-symlink", "edit", edit("link/secret.txt".into())),
        call(
            "glob-dotdot",
            "glob",
            json!({"pattern": "*", "path": "../outside"}),
        ),
        call(
            "glob-absolute",
            "glob",
            json!({"pattern": "*", "path": abs("")}),
        ),
        call(
            "glob-symlink",
            "glob",
            json!({"pattern": "*", "path": "link"}),
        ),
        call(
            "grep-dotdot",
            "grep",
            json!({"pattern": "SECRET", "path": "../outside"}),
        ),
        call(
            "grep-absolute",
            "grep",
            json!({"pattern": "SECRET", "path": abs("")}),
        ),
        call(
            "grep-symlink",
            "grep",
            json!({"pattern": "SECRET", "path": "link"}),
        ),
        call("ls-dotdot", "ls", json!({"path": "../outside"})),
        call("ls-absolute", "ls", json!({"path": abs("")})),
        call("ls-symlink", "ls", json!({"path": "link"})),
    ];
    let ids: Vec<String> = attacks
        .iter()
        .map(|call| call.id.clone().unwrap())
        .collect();
    // Searches from the workspace root must not follow the link out either.
    let mut all = attacks;
    all.push(call("grep-root", "grep", json!({"pattern": "TOP-SECRET"})));
    all.push(call("glob-root", "glob", json!({"pattern": "**/*.txt"})));
    let run = run_attack(&arena, all);
    for id in &ids {
        let (output, is_error) = run.result(id);
        assert!(is_error, "{id} succeeded: {output}");
        assert!(output.contains("outside the workspace"), "{id}: {output}");
        assert!(!output.contains(OUTSIDE_TEXT), "{id} leaked: {output}");
    }
    for id in ["grep-root", "glob-root"] {
        let (output, _) = run.result(id);
        assert!(!output.contains(OUTSIDE_TEXT), "{id} leaked: {output}");
        assert!(
            !output.contains("secret.txt"),
            "{id} followed the link: {output}"
        );
    }
    for name in ["w1.txt", "w2.txt", "w3.txt"] {
        assert!(!outside.join(name).exists(), "{name} was written");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        OUTSIDE_TEXT
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
