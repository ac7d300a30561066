//! `bash`: output, exit codes and, above all, that no process outlives the call.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Workspace, all_gone, call_with, numbers_after, wait_for_lines};

#[tokio::test]
async fn output_and_exit_code_are_returned() {
    let workspace = Workspace::new();
    let text = workspace
        .ok(
            "bash",
            json!({"command": "echo out; echo err >&2; pwd; echo $TERM $PAGER $NO_COLOR; exit 3"}),
        )
        .await;
    assert_eq!(
        text,
        format!(
            "out\nerr\n{}\ndumb cat 1\nexit code: 3",
            workspace.root.display()
        )
    );
    let text = workspace.ok("bash", json!({"command": "true"})).await;
    assert_eq!(text, "(no output)\nexit code: 0");
}

#[tokio::test]
async fn stdin_is_closed() {
    let workspace = Workspace::new();
    let text = workspace
        .ok("bash", json!({"command": "cat; echo done"}))
        .await;
    assert_eq!(text, "done\nexit code: 0");
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let workspace = Workspace::new();
    let error = workspace
        .err(
            "bash",
            json!({
                "command": "sleep 30 & echo pid=$!; sleep 30 & echo pid=$!; echo pid=$$; wait",
                "timeout_ms": 1000,
            }),
        )
        .await;
    assert!(
        error.contains("command timed out after 1s and was killed"),
        "{error}"
    );
    let pids = numbers_after(&error, "pid=");
    assert_eq!(pids.len(), 3, "{error}");
    assert!(all_gone(&pids).await, "still running: {pids:?}");
}

#[tokio::test]
async fn cancelling_the_token_kills_the_group() {
    let workspace = Workspace::new();
    let pid_file = workspace.path("pids");
    let command = format!(
        "sleep 30 & echo $! >> {pids}; echo $$ >> {pids}; sleep 30",
        pids = pid_file.display()
    );
    let context = workspace.context.clone();
    let task =
        tokio::spawn(async move { call_with(&context, "bash", json!({"command": command})).await });
    let pids = wait_for_lines(&pid_file, 2).await;
    workspace.context.cancel.cancel();
    let error = task.await.unwrap().unwrap_err();
    assert!(error.contains("cancelled by the user"), "{error}");
    let pids: Vec<i32> = pids.lines().map(|line| line.parse().unwrap()).collect();
    assert!(all_gone(&pids).await, "still running: {pids:?}");
}

#[tokio::test]
async fn dropping_the_future_kills_the_group() {
    let workspace = Workspace::new();
    let pid_file = workspace.path("pids");
    let command = format!(
        "sleep 30 & echo $! >> {pids}; echo $$ >> {pids}; sleep 30",
        pids = pid_file.display()
    );
    let call = call_with(&workspace.context, "bash", json!({"command": command}));
    tokio::select! {
        _ = call => panic!("the command should still be running"),
        _ = wait_for_lines(&pid_file, 2) => {}
    }
    // `call` has been dropped by now.
    let pids: Vec<i32> = std::fs::read_to_string(&pid_file)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert!(all_gone(&pids).await, "still running: {pids:?}");
}

#[tokio::test]
async fn background_jobs_left_behind_are_killed_and_do_not_hang_the_call() {
    let workspace = Workspace::new();
    let started = Instant::now();
    let text = workspace
        .ok(
            "bash",
            json!({"command": "sleep 60 & echo pid=$!; echo done"}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(text.ends_with("done\nexit code: 0"), "{text}");
    let pids = numbers_after(&text, "pid=");
    assert!(all_gone(&pids).await, "still running: {pids:?}");
}

#[tokio::test]
async fn long_output_keeps_the_head_and_the_tail() {
    let mut workspace = Workspace::new();
    workspace.context.limits.max_output_bytes = 4000;
    let text = workspace
        .ok("bash", json!({"command": "seq 1 100000"}))
        .await;
    assert!(text.len() <= 4000, "{} bytes", text.len());
    assert!(text.starts_with("1\n2\n3\n"), "{text}");
    assert!(text.ends_with("\n99999\n100000\nexit code: 0"), "{text}");
    assert!(text.contains(" of output left out here; "), "{text}");
}

#[tokio::test]
async fn a_signal_is_reported_and_a_missing_directory_is_an_error() {
    let mut workspace = Workspace::new();
    let text = workspace
        .ok("bash", json!({"command": "kill -TERM $$"}))
        .await;
    assert_eq!(text, "(no output)\nkilled by signal 15 (SIGTERM)");
    workspace.context.cwd = workspace.path("gone");
    let error = workspace.err("bash", json!({"command": "true"})).await;
    assert!(error.contains("the working directory"), "{error}");
    assert!(error.contains("does not exist"), "{error}");
}

#[tokio::test]
async fn bad_timeouts_are_refused() {
    let workspace = Workspace::new();
    let error = workspace
        .err("bash", json!({"command": "true", "timeout_ms": 700000}))
        .await;
    assert!(error.contains("`timeout_ms` is 700000"), "{error}");
    let error = workspace.err("bash", json!({"command": "  "})).await;
    assert!(error.contains("`command` is empty"), "{error}");
}
