//! Requests the API cannot take are answered with problems, never with plain-text errors.

use serde_json::json;

use crate::support::{Script, TestServer, problem, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_problems() {
    let server = TestServer::start(Script::new()).await;

    let body = problem(server.get("/api/nothing-here").await, 404, "not_found").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/nothing-here")
    );
    problem(server.get("/no/such/page").await, 404, "not_found").await;
    problem(server.get("/assets/missing.js").await, 404, "not_found").await;

    let put = send(server.request(reqwest::Method::PUT, "/api/sessions")).await;
    problem(put, 405, "method_not_allowed").await;
    let delete_health = server.delete("/api/health").await;
    problem(delete_health, 405, "method_not_allowed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_prompt_bodies_are_refused() {
    let server = TestServer::start(Script::new()).await;
    let id = server.create_session().await;
    let path = format!("/api/sessions/{id}/messages");

    let plain = send(
        server
            .request(reqwest::Method::POST, &path)
            .header("content-type", "text/plain")
            .body(r#"{"text":"hi"}"#),
    )
    .await;
    problem(plain, 415, "unsupported_media_type").await;

    let broken = send(
        server
            .request(reqwest::Method::POST, &path)
            .header("content-type", "application/json")
            .body(r#"{"text": "#),
    )
    .await;
    problem(broken, 400, "invalid_json").await;

    let wrong_field = server.post(&path, json!({"txt": "hi"})).await;
    problem(wrong_field, 422, "invalid_json").await;
    let wrong_type = server.post(&path, json!({"text": 7})).await;
    problem(wrong_type, 422, "invalid_json").await;

    let empty_body = send(
        server
            .request(reqwest::Method::POST, &path)
            .header("content-type", "application/json"),
    )
    .await;
    problem(empty_body, 400, "invalid_json").await;

    let blank = server.post(&path, json!({"text": " \n\t"})).await;
    problem(blank, 400, "bad_request").await;

    let huge = "x".repeat(code_mesh_server::BODY_LIMIT_BYTES + 64);
    let too_large = server.post(&path, json!({"text": huge})).await;
    let body = problem(too_large, 413, "payload_too_large").await;
    assert!(body["hint"].as_str().unwrap().contains("KiB"), "{body}");

    // None of them started a turn.
    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["running"], false);
    let messages = server
        .get_json(&format!("/api/sessions/{id}/messages"))
        .await;
    assert_eq!(messages, json!([]));
    assert_eq!(server.model_server.requests().len(), 0);
}
