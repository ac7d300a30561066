//! What the server checks about its client.

use code_mesh_testkit::{Pairing, Script, ScriptedServer, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::support::{assistant_call, chat, post, post_text, system, tool_result, user};

fn two_step_script() -> Script {
    Script::new()
        .with_turn(Turn::call("bash", json!({"command": "echo hi"})))
        .with_turn(Turn::reply("done").expect_tool_result_contains("hi"))
}

#[tokio::test]
async fn a_request_without_the_tool_result_is_rejected_and_recorded() {
    let server = ScriptedServer::start(two_step_script()).await.unwrap();
    post(&server, &chat("m", vec![user("task")])).await;

    let forgot = vec![user("task"), assistant_call("call_1", "bash")];
    let reply = post(&server, &chat("m", forgot)).await;

    assert_eq!(reply.status, 400);
    let message = reply.error_message();
    assert!(
        message.starts_with("testkit: tool call `call_1` issued by turn 1"),
        "{message}"
    );
    assert_eq!(
        server.violations(),
        vec![
            "request 2: tool call `call_1` issued by turn 1: no `tool` message carries its result"
        ]
    );
    assert_eq!(server.turns_served(), 1, "a rejected request takes no turn");

    let fixed = vec![
        user("task"),
        assistant_call("call_1", "bash"),
        tool_result("call_1", "hi\n"),
    ];
    assert_eq!(post(&server, &chat("m", fixed)).await.content(), "done");
    let problems = server.verify().unwrap_err().problems;
    assert_eq!(problems, server.violations());
}

#[tokio::test]
async fn verify_reports_unserved_turns_and_unanswered_calls() {
    let script = two_step_script().with_turn(Turn::reply("never").for_model("other"));
    let server = ScriptedServer::start(script).await.unwrap();
    post(&server, &chat("m", vec![user("task")])).await;

    let error = server.verify().unwrap_err();

    assert_eq!(
        error.problems,
        vec![
            "turn 2 was never served",
            "turn 3 (model `other`) was never served",
            "tool call `call_1` issued by turn 1 was never answered by a later request",
        ]
    );
    assert!(
        error
            .to_string()
            .starts_with("testkit found 3 problems:\n  - turn 2")
    );
}

#[tokio::test]
async fn sub_agents_do_not_owe_the_parents_calls_unless_pairing_is_global() {
    for (pairing, expected_status) in [(Pairing::Conversation, 200), (Pairing::Global, 400)] {
        let script = Script::new()
            .with_turn(Turn::call("task", json!({"prompt": "sub"})))
            .with_turn(Turn::reply("sub done"))
            .with_pairing(pairing);
        let server = ScriptedServer::start(script).await.unwrap();
        post(&server, &chat("m", vec![user("parent task")])).await;

        let child = post(&server, &chat("m", vec![user("sub")])).await;

        assert_eq!(child.status, expected_status, "{pairing:?}");
    }
}

#[tokio::test]
async fn malformed_requests_are_rejected_and_recorded() {
    let server = ScriptedServer::start(Script::new()).await.unwrap();
    let url = format!("{}/chat/completions", server.base_url());

    let not_json = post_text(&url, "{oops".to_owned()).await;
    let no_stream = post_text(&url, json!({"model": "m", "messages": []}).to_string()).await;
    let no_model = post(&server, &json!({"messages": [], "stream": true})).await;

    for reply in [&not_json, &no_stream, &no_model] {
        assert_eq!(reply.status, 400);
        assert!(reply.error_message().starts_with("testkit: "));
    }
    assert_eq!(server.violations().len(), 3);
    let recorded = server.requests();
    assert_eq!(recorded[0].raw_body, "{oops");
    assert_eq!(recorded[0].body, serde_json::Value::Null);
    assert_eq!(recorded[1].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn failed_expectations_are_violations_but_the_turn_is_still_played() {
    let turn = Turn::reply("hello")
        .expect_system_contains("AGENTS")
        .expect_last_user_contains("hello")
        .expect_tools_include("bash");
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();
    let mut body = chat("m", vec![system("You are Code Mesh."), user("goodbye")]);
    body["tools"] = json!([{"type": "function", "function": {"name": "read", "parameters": {}}}]);

    let reply = post(&server, &body).await;

    assert_eq!(reply.content(), "hello");
    let violations = server.violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].starts_with("request 1 (turn 1): no system message contains `AGENTS`"));
    assert_eq!(server.requests()[0].tool_names(), vec!["read"]);
    assert_eq!(
        server.requests()[0].last_user_text().as_deref(),
        Some("goodbye")
    );
}
