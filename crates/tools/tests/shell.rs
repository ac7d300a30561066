//! `bash` upgrades: a pseudo-terminal on request, the working directory pinned to the
//! workspace.

use serde_json::json;

use crate::support::{Workspace, all_gone, numbers_after};

#[tokio::test]
async fn a_terminal_is_there_only_when_asked_for() {
    let workspace = Workspace::new();
    let with = workspace
        .ok(
            "bash",
            json!({"command": "tty -s && echo on-a-terminal", "tty": true}),
        )
        .await;
    assert_eq!(with, "on-a-terminal\nexit code: 0");
    let without = workspace.ok("bash", json!({"command": "tty -s"})).await;
    assert_eq!(without, "(no output)\nexit code: 1");
}

#[tokio::test]
async fn on_a_terminal_the_shell_leads_its_own_session_and_reads_end_of_input() {
    let workspace = Workspace::new();
    let text = workspace
        .ok(
            "bash",
            json!({
                "command": "cat; echo \"input closed\"; ps -o sid=,pgid= -p $$; echo pid=$$; printf 'a\\nb\\n'",
                "tty": true
            }),
        )
        .await;
    let pid = numbers_after(&text, "pid=")[0];
    let ids: Vec<i32> = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(ids, [pid, pid], "{text}");
    assert!(text.starts_with("input closed\n"), "{text}");
    // No carriage returns: the terminal does not translate line ends.
    assert!(text.ends_with("a\nb\nexit code: 0"), "{text:?}");
}

#[tokio::test]
async fn a_terminal_command_that_times_out_is_killed_with_its_children() {
    let workspace = Workspace::new();
    let error = workspace
        .err(
            "bash",
            json!({
                "command": "sleep 30 & echo pid=$!; echo pid=$$; wait",
                "timeout_ms": 1000,
                "tty": true
            }),
        )
        .await;
    assert!(error.contains("command timed out"), "{error}");
    let pids = numbers_after(&error, "pid=");
    assert_eq!(pids.len(), 2, "{error}");
    assert!(all_gone(&pids).await, "still running: {pids:?}");
}

#[tokio::test]
async fn workdir_runs_the_command_in_a_directory_of_the_workspace() {
    let workspace = Workspace::new();
    workspace.write("sub/dir/file.txt", "x");
    let text = workspace
        .ok("bash", json!({"command": "pwd; ls", "workdir": "sub/dir"}))
        .await;
    assert_eq!(
        text,
        format!(
            "{}\nfile.txt\nexit code: 0",
            workspace.path("sub/dir").display()
        )
    );
    let outside = workspace.outside();
    let error = workspace
        .err(
            "bash",
            json!({"command": "pwd", "workdir": outside.to_str().unwrap()}),
        )
        .await;
    assert!(error.contains("outside the workspace"), "{error}");
    let error = workspace
        .err(
            "bash",
            json!({"command": "pwd", "workdir": "sub/dir/file.txt"}),
        )
        .await;
    assert!(error.contains("is a file; give a directory"), "{error}");
    let error = workspace
        .err("bash", json!({"command": "pwd", "workdir": "missing"}))
        .await;
    assert!(error.contains("`missing` does not exist"), "{error}");
}
