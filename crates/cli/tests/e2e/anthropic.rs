//! `code-mesh run -m anthropic/…` through the native Messages wire: a tool-using task with
//! extended thinking, the thinking block (and its signature) carried to the next request.

use code_mesh_testkit::{ToolCall, Turn};
use serde_json::json;

use crate::harness::*;

#[test]
fn a_scripted_task_finishes_over_the_anthropic_wire() {
    let project = Project::new();
    let server = serve(vec![
        Turn::new()
            .with_reasoning("Count the files with the shell.")
            .with_tool_call(ToolCall::new("bash", json!({"command": "echo 3 files"})))
            .for_model("claude-sonnet-4-5")
            .expect_last_user_contains("how many files")
            .expect_tools_include("bash"),
        Turn::reply("There are 3 files.")
            .for_model("claude-sonnet-4-5")
            .expect_tool_result_contains("3 files")
            // The thinking went back (testkit refuses it unless its signature matches).
            .expect_messages_contain("Count the files with the shell."),
    ]);
    let output = project
        .command(None)
        .env("ANTHROPIC_BASE_URL", server.root_url())
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .args([
            "run",
            "--yes",
            "-m",
            "anthropic/claude-sonnet-4-5",
            "how many files are there?",
        ])
        .output()
        .unwrap();
    let outcome = Outcome::from(output);
    outcome.assert_code(0);
    assert_verified(&server);
    assert!(
        outcome.stdout.ends_with("There are 3 files.\n"),
        "stdout: {}",
        outcome.stdout
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(request.header("x-api-key"), Some("sk-ant-test"));
        assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    }
    let assistant = &requests[1].body["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"][0]["type"], "thinking");
    assert_eq!(
        assistant["content"][0]["thinking"],
        "Count the files with the shell."
    );
    assert!(
        assistant["content"][0]["signature"]
            .as_str()
            .is_some_and(|signature| signature.starts_with("EtestkitSig")),
        "{assistant}"
    );
    assert_eq!(
        requests[1].body["messages"][2]["content"][0]["type"],
        "tool_result"
    );
}
