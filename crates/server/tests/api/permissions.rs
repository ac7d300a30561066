//! Permission requests reach the API and its answers reach the engine.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Script, TestServer, Turn, first, problem};

const CONTENT: &str = "written through the API\n";

fn write_then_reply() -> Script {
    Script::new()
        .with_turn(Turn::call(
            "write",
            json!({"path": "notes/out.txt", "content": CONTENT}),
        ))
        .with_turn(Turn::reply("Finished."))
}

/// Answers permission request `request_id` of session `id` with `decision`.
async fn answer(
    server: &TestServer,
    id: &str,
    request_id: &str,
    decision: &str,
) -> reqwest::Response {
    server
        .post(
            &format!("/api/sessions/{id}/permissions/{request_id}"),
            json!({"decision": decision}),
        )
        .await
}

/// Starts a turn whose `write` call waits for an answer; returns the stream and the request.
async fn waiting_for_permission(server: &TestServer) -> (String, crate::support::SseReader, Value) {
    let id = server.create_session().await;
    let mut stream = server.stream(&id, 0).await;
    server.prompt(&id, "Write the notes").await;
    let events = stream.until_type("permission_requested").await;
    let request = events.last().unwrap().clone();
    assert_eq!(request["tool"], "write");
    assert_eq!(request["kind"], "write");
    assert!(
        request["summary"].as_str().unwrap().contains("out.txt"),
        "{request}"
    );
    (id, stream, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_write_runs() {
    let server = TestServer::start(write_then_reply()).await;
    let (id, mut stream, request) = waiting_for_permission(&server).await;
    let request_id = request["request_id"].as_str().unwrap().to_owned();

    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["running"], true);
    assert_eq!(view["pending_permissions"], json!([request]));

    let unknown = answer(&server, &id, "req_unknown", "allow_once").await;
    problem(unknown, 404, "permission_request_not_found").await;
    let bad_decision = answer(&server, &id, &request_id, "maybe").await;
    problem(bad_decision, 422, "invalid_json").await;
    let target = server.workspace.join("notes/out.txt");
    assert!(!target.exists(), "nothing is written before the answer");

    let answered = answer(&server, &id, &request_id, "allow_once").await;
    assert_eq!(answered.status(), StatusCode::NO_CONTENT);

    let events = stream.until_type("turn_finished").await;
    let decided = first(&events, "permission_decided");
    assert_eq!(decided["request_id"], request_id.as_str());
    assert_eq!(decided["decision"], "allow_once");
    let finished = first(&events, "tool_call_finished");
    assert_eq!(finished["call_id"], request["call_id"]);
    assert_eq!(finished["is_error"], false, "{finished}");
    assert_eq!(events.last().unwrap()["reason"], "completed");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), CONTENT);

    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["pending_permissions"], json!([]));
    let again = answer(&server, &id, &request_id, "allow_once").await;
    problem(again, 404, "permission_request_not_found").await;
    server.model_server.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_write_fails() {
    let server = TestServer::start(write_then_reply()).await;
    let (id, mut stream, request) = waiting_for_permission(&server).await;
    let request_id = request["request_id"].as_str().unwrap();

    let answered = answer(&server, &id, request_id, "deny").await;
    assert_eq!(answered.status(), StatusCode::NO_CONTENT);

    let events = stream.until_type("turn_finished").await;
    assert_eq!(first(&events, "permission_decided")["decision"], "deny");
    let finished = first(&events, "tool_call_finished");
    assert_eq!(finished["call_id"], request["call_id"]);
    assert_eq!(finished["is_error"], true, "{finished}");
    assert!(!server.workspace.join("notes/out.txt").exists());
    assert_eq!(events.last().unwrap()["reason"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_a_session_without_an_engine_is_not_found() {
    let server = TestServer::start(Script::new()).await;
    let id = server.create_session().await;
    let response = answer(&server, &id, "req_1", "deny").await;
    problem(response, 404, "permission_request_not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_waiting_for_an_answer_can_be_deleted() {
    let server = TestServer::start(write_then_reply()).await;
    let (id, _stream, _request) = waiting_for_permission(&server).await;

    // The request's own deadline fails the test if stopping the engine hangs on the question.
    let deleted = server.delete(&format!("/api/sessions/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    problem(
        server.get(&format!("/api/sessions/{id}")).await,
        404,
        "session_not_found",
    )
    .await;
    assert!(!server.workspace.join("notes/out.txt").exists());
}
