//! `code-mesh run` against OpenAI through the Responses wire (`wire = "responses"`): a
//! reasoning model's tool-using task, with its reasoning item carried to the next request.

use code_mesh_testkit::{ToolCall, Turn};
use serde_json::json;

use crate::harness::*;

#[test]
fn a_scripted_task_finishes_over_the_responses_wire() {
    let project = Project::new();
    project.write(
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    );
    let server = serve(vec![
        Turn::new()
            .with_reasoning("Read the library before answering.")
            .with_tool_call(ToolCall::new("read", json!({"path": "src/lib.rs"})))
            .for_model("gpt-5")
            .expect_last_user_contains("what does add do")
            .expect_tools_include("read"),
        Turn::call(
            "write",
            json!({"path": "NOTES.md", "content": "add sums two numbers\n"}),
        )
        .for_model("gpt-5")
        .expect_tool_result_contains("a + b")
        // The reasoning item went back (testkit refuses it unless it carries the
        // `encrypted_content` of `response.output_item.done`).
        .expect_messages_contain("rs_testkit1"),
        Turn::reply("`add` returns the sum of its two arguments.")
            .for_model("gpt-5")
            .expect_tool_result_contains("NOTES.md"),
    ]);
    let output = project
        .command(Some(&server.base_url()))
        .env("CODE_MESH_PROVIDERS__OPENAI__WIRE", "responses")
        .args(["run", "--yes", "-m", "openai/gpt-5", "what does add do?"])
        .output()
        .unwrap();
    let outcome = Outcome::from(output);
    outcome.assert_code(0);
    assert_verified(&server);
    assert_eq!(project.read("NOTES.md"), "add sums two numbers\n");
    assert!(
        outcome
            .stdout
            .ends_with("`add` returns the sum of its two arguments.\n"),
        "stdout: {}",
        outcome.stdout
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|request| request.path == "/v1/responses")
    );
    assert_eq!(requests[0].body["store"], false);
    let reasoning = requests[2].body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "reasoning")
        .cloned()
        .expect("the reasoning item is still in the conversation");
    assert_eq!(reasoning["id"], "rs_testkit1");
    assert_eq!(
        reasoning["summary"],
        json!([{"type": "summary_text", "text": "Read the library before answering."}])
    );
}
