use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use code_mesh_protocol::{Event, EventKind, Role};
use code_mesh_testkit::Turn;
use serde_json::json;

use crate::harness::*;

/// Starts `code-mesh run`, waits until `ready` holds for its stdout, then sends SIGINT.
pub(crate) fn interrupt_when(
    project: &Project,
    base_url: &str,
    args: &[&str],
    ready: impl Fn(&str) -> bool,
) -> Outcome {
    let mut child = project
        .command(Some(base_url))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, reader) = collect_output(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(&stdout.lock().unwrap()) {
        assert!(
            Instant::now() < deadline,
            "the run never got going: {}",
            stdout.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stdout = stdout.lock().unwrap().clone();
    Outcome {
        code: status.code(),
        stdout,
        stderr,
    }
}

#[test]
fn ctrl_c_mid_stream_keeps_the_session_and_continue_loses_nothing() {
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("Step one is done. Step two takes a long while")
            .with_chunk_delay_ms(400)
            .with_delay_ms(0),
    ]);
    let outcome = interrupt_when(
        &project,
        &server.base_url(),
        &["run", "--json", "do the steps"],
        |out| out.contains("\"text_delta\"") && out.contains("one"),
    );
    outcome.assert_code(130);
    assert!(outcome.stderr.contains("-c"), "{}", outcome.stderr);
    let events: Vec<Event> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let partial = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::MessageAdded { message } if message.role == Role::Assistant => {
                Some(message.clone())
            }
            _ => None,
        })
        .expect("the partial answer is stored");
    assert!(partial.interrupted);
    assert!(partial.text().starts_with("Step one"), "{}", partial.text());

    let resumed = serve(vec![
        Turn::reply("Step two is done too.")
            .expect_messages_contain("do the steps")
            .expect_messages_contain(partial.text())
            .expect_last_user_contains("go on"),
    ]);
    let outcome = project.run(&resumed, &["run", "-c", "go on"]);
    outcome.assert_code(0);
    assert_verified(&resumed);
    assert!(outcome.stdout.contains("Step two is done too."));
}

#[test]
fn ctrl_c_during_a_command_kills_it_and_answers_the_call() {
    let project = Project::new();
    let server = serve(vec![Turn::call(
        "bash",
        json!({"command": "echo started; sleep 37.25 & sleep 37.25; echo never"}),
    )]);
    let outcome = interrupt_when(
        &project,
        &server.base_url(),
        &["run", "--yes", "--json", "run it"],
        |out| out.contains("\"tool_call_started\""),
    );
    outcome.assert_code(130);
    let resumed = serve(vec![
        Turn::reply("It was cancelled.").expect_tool_result_contains("cancel"),
    ]);
    project
        .run(&resumed, &["run", "-c", "what happened?"])
        .assert_code(0);
    assert_verified(&resumed);
    // The whole process group died with the cancel, the background `sleep` included.
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with("37.25") > 0 {
        assert!(
            Instant::now() < deadline,
            "a `sleep 37.25` survived the cancel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live processes whose command line contains `needle`.
pub(crate) fn processes_with(needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(needle))
        .count()
}
