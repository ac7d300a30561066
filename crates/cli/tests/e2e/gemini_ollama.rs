//! `code-mesh run -m google/…` over Gemini's native wire and `-m ollama/…` over Ollama's
//! `/api/chat`: each finishes a scripted task that reads, edits and runs a command.

use code_mesh_testkit::{BackgroundServer, ToolCall, Turn};
use serde_json::json;

use crate::harness::*;

const LIB: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

/// Reads the file and greps in one turn, edits it, checks with the shell, then answers.
fn task_turns(model: &str) -> Vec<Turn> {
    vec![
        Turn::reply("Let me look.")
            .with_tool_call(ToolCall::new("read", json!({"path": "src/lib.rs"})))
            .with_tool_call(ToolCall::new("grep", json!({"pattern": "fn add"})))
            .for_model(model)
            .expect_last_user_contains("add a sub function")
            .expect_tools_include("edit"),
        Turn::call(
            "edit",
            json!({
                "path": "src/lib.rs",
                "old_string": "    a + b\n}\n",
                "new_string": "    a + b\n}\n\npub fn sub(a: i32, b: i32) -> i32 {\n    a - b\n}\n"
            }),
        )
        .for_model(model)
        .expect_tool_result_contains("a + b")
        .expect_tool_result_contains("src/lib.rs"),
        Turn::call("bash", json!({"command": "grep -c 'pub fn' src/lib.rs"}))
            .for_model(model)
            .expect_tool_result_contains("src/lib.rs"),
        Turn::reply("Added `sub`.")
            .for_model(model)
            .expect_tool_result_contains("2"),
    ]
}

fn project() -> Project {
    let project = Project::new();
    project.write("src/lib.rs", LIB);
    project
}

fn assert_task_done(project: &Project, server: &BackgroundServer, outcome: &Outcome) {
    outcome.assert_code(0);
    assert_verified(server);
    assert_eq!(
        project.read("src/lib.rs"),
        format!("{LIB}\npub fn sub(a: i32, b: i32) -> i32 {{\n    a - b\n}}\n")
    );
    assert!(
        outcome.stdout.ends_with("Added `sub`.\n"),
        "stdout: {}",
        outcome.stdout
    );
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn a_scripted_task_finishes_over_the_gemini_wire() {
    let project = project();
    let server = serve(task_turns("gemini-2.5-flash"));
    let output = project
        .command(None)
        .env("GOOGLE_GEMINI_BASE_URL", server.root_url())
        .env("GEMINI_API_KEY", "gemini-test-key")
        .args([
            "run",
            "--yes",
            "-m",
            "google/gemini-2.5-flash",
            "add a sub function",
        ])
        .output()
        .unwrap();
    let outcome = Outcome::from(output);
    assert_task_done(&project, &server, &outcome);
    let requests = server.requests();
    for request in &requests {
        assert_eq!(
            request.path,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(request.header("x-goog-api-key"), Some("gemini-test-key"));
    }
    // The first call of the first turn came back with its thought signature (testkit refuses
    // the request otherwise), answered by responses named like the calls.
    let second = &requests[1].body;
    assert_eq!(second["contents"][1]["role"], "model");
    let call = &second["contents"][1]["parts"][1];
    assert_eq!(call["functionCall"]["name"], "read");
    assert!(
        call["thoughtSignature"]
            .as_str()
            .is_some_and(|signature| signature.starts_with("EtestkitGeminiSig")),
        "{call}"
    );
    let responses = &second["contents"][2]["parts"];
    assert_eq!(responses[0]["functionResponse"]["name"], "read");
    assert_eq!(responses[1]["functionResponse"]["name"], "grep");
}

#[test]
fn a_scripted_task_finishes_over_the_ollama_wire() {
    let project = project();
    let server = serve(task_turns("qwen3-coder"));
    let output = project
        .command(None)
        .env("OLLAMA_HOST", server.address().to_string())
        .args([
            "run",
            "--yes",
            "-m",
            "ollama/qwen3-coder",
            "add a sub function",
        ])
        .output()
        .unwrap();
    let outcome = Outcome::from(output);
    assert_task_done(&project, &server, &outcome);
    let requests = server.requests();
    for request in &requests {
        assert_eq!(request.path, "/api/chat");
        assert_eq!(request.body["model"], "qwen3-coder");
        assert_eq!(request.body["stream"], true);
    }
    let messages = requests[1].body["messages"].as_array().unwrap();
    let tool_names: Vec<&str> = messages
        .iter()
        .filter(|message| message["role"] == "tool")
        .filter_map(|message| message["tool_name"].as_str())
        .collect();
    assert_eq!(tool_names, ["read", "grep"]);
}
