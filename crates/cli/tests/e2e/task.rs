use code_mesh_protocol::{Event, EventKind, Role, TurnEndReason};
use code_mesh_testkit::{ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::harness::*;

const LIB: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

fn project_with_lib() -> Project {
    let project = Project::new();
    project.write("src/lib.rs", LIB);
    project.write(
        "src/main.rs",
        "fn main() {\n    println!(\"{}\", add(1, 2));\n}\n",
    );
    project.write("AGENTS.md", "Always run the tests after editing.\n");
    project
}

/// Reads and greps concurrently, edits, runs shell commands, writes, then answers.
fn multi_turn_script() -> Vec<Turn> {
    vec![
        Turn::reply("Let me look at the code.")
            .with_tool_call(ToolCall::new("read", json!({"path": "src/lib.rs"})))
            .with_tool_call(ToolCall::new("grep", json!({"pattern": "fn add"})))
            .expect_system_contains("Always run the tests after editing.")
            .expect_last_user_contains("add a mul function")
            .expect_tools_include("bash"),
        Turn::call(
            "edit",
            json!({
                "path": "src/lib.rs",
                "old_string": "    a + b\n}\n",
                "new_string": "    a + b\n}\n\npub fn mul(a: i32, b: i32) -> i32 {\n    a * b\n}\n"
            }),
        )
        .expect_tool_result_contains("a + b")
        .expect_tool_result_contains("src/lib.rs"),
        Turn::call(
            "bash",
            json!({"command": "grep -c 'pub fn' src/lib.rs && echo checked"}),
        )
        .expect_tool_result_contains("pub fn mul"),
        Turn::call(
            "write",
            json!({"path": "NOTES.md", "content": "mul added\n"}),
        )
        .expect_tool_result_contains("2\nchecked"),
        Turn::call("ls", json!({})).expect_tool_result_contains("NOTES.md"),
        Turn::call("glob", json!({"pattern": "**/*.rs"})).expect_tool_result_contains("NOTES.md"),
        Turn::reply("Added `mul` to src/lib.rs.").expect_tool_result_contains("src/main.rs"),
    ]
}

#[test]
fn a_scripted_task_reads_edits_greps_and_runs_commands() {
    let project = project_with_lib();
    let server = serve(multi_turn_script());
    let outcome = project.run(&server, &["run", "--yes", "add a mul function"]);
    outcome.assert_code(0);
    assert_verified(&server);
    assert_eq!(
        project.read("src/lib.rs"),
        format!("{LIB}\npub fn mul(a: i32, b: i32) -> i32 {{\n    a * b\n}}\n")
    );
    assert_eq!(project.read("NOTES.md"), "mul added\n");
    assert!(
        outcome.stdout.ends_with("Added `mul` to src/lib.rs.\n"),
        "stdout: {}",
        outcome.stdout
    );
    assert!(
        outcome.stderr.contains("▸ bash"),
        "stderr: {}",
        outcome.stderr
    );
    assert_eq!(server.requests().len(), 7);
}

#[test]
fn json_output_is_one_event_per_line() {
    let project = project_with_lib();
    let server = serve(multi_turn_script());
    let outcome = project.run(&server, &["run", "--yes", "--json", "add a mul function"]);
    outcome.assert_code(0);
    let events: Vec<Event> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(matches!(
        events.first().unwrap().kind,
        EventKind::SessionStarted { resumed: false, .. }
    ));
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::TurnFinished {
            reason: TurnEndReason::Completed,
            steps: 7,
            ..
        }
    ));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let finished = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::ToolCallFinished {
                    is_error: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(finished, 7, "every tool call succeeded");
    let roles: Vec<Role> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageAdded { message } => Some(message.role),
            _ => None,
        })
        .collect();
    assert_eq!(
        roles.len(),
        14,
        "a user prompt, 7 answers, 6 sets of results"
    );
    assert_eq!(roles.last(), Some(&Role::Assistant));
}

#[test]
fn continuing_a_session_sends_its_history() {
    let project = project_with_lib();
    let first = serve(vec![Turn::reply("The answer is 42.")]);
    project
        .run(&first, &["run", "what is the answer?"])
        .assert_code(0);
    let second = serve(vec![
        Turn::reply("Still 42.")
            .expect_messages_contain("what is the answer?")
            .expect_messages_contain("The answer is 42.")
            .expect_last_user_contains("are you sure?"),
    ]);
    project
        .run(&second, &["run", "-c", "are you sure?"])
        .assert_code(0);
    assert_verified(&second);

    let list = project
        .command(None)
        .args(["sessions", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert_eq!(
        list.lines().count(),
        2,
        "one header and one session: {list}"
    );
    assert!(list.contains("what is the answer?"));
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let third = serve(vec![
        Turn::reply("Yes.").expect_messages_contain("Still 42."),
    ]);
    project
        .run(&third, &["run", "--session", id, "really?"])
        .assert_code(0);
    assert_verified(&third);
}

#[test]
fn writes_and_commands_are_denied_without_a_terminal_or_yes() {
    let project = project_with_lib();
    let server = serve(vec![
        Turn::call("bash", json!({"command": "touch created-by-bash"})),
        Turn::reply("I could not run it.").expect_tool_result_contains("permission denied"),
    ]);
    let outcome = project.run(&server, &["run", "make a file"]);
    outcome.assert_code(0);
    assert_verified(&server);
    assert!(!exists(&project.dir().join("created-by-bash")));
    assert!(outcome.stderr.contains("pass --yes"), "{}", outcome.stderr);
}
