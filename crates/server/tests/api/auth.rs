//! Who may call what: the token on `/api`, the query token only on streams, and the public
//! routes.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::support::{Script, TOKEN, TestServer, problem, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_requests_without_the_token() {
    let server = TestServer::start(Script::new()).await;
    let path = "/api/sessions";

    let missing = send(server.without_token(path)).await;
    assert_eq!(
        missing.headers().get(WWW_AUTHENTICATE).unwrap(),
        "Bearer",
        "a 401 names the scheme"
    );
    let body = problem(missing, 401, "unauthorized").await;
    assert!(body["hint"].as_str().unwrap().contains("Bearer"), "{body}");

    let wrong = send(server.without_token(path).bearer_auth("not-the-token")).await;
    problem(wrong, 401, "unauthorized").await;

    let prefix = send(server.without_token(path).bearer_auth(format!("{TOKEN}x"))).await;
    problem(prefix, 401, "unauthorized").await;

    let basic = send(server.without_token(path).basic_auth("user", Some(TOKEN))).await;
    problem(basic, 401, "unauthorized").await;

    let right = send(server.without_token(path).bearer_auth(TOKEN)).await;
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_streams_take_the_token_in_the_query() {
    let server = TestServer::start(Script::new()).await;
    let id = server.create_session().await;

    let listed = send(server.without_token(&format!("/api/sessions?token={TOKEN}"))).await;
    problem(listed, 401, "unauthorized").await;
    let messages =
        send(server.without_token(&format!("/api/sessions/{id}/messages?token={TOKEN}"))).await;
    problem(messages, 401, "unauthorized").await;

    let stream =
        send(server.without_token(&format!("/api/sessions/{id}/stream?after=0&token={TOKEN}")))
            .await;
    let mut stream = crate::support::SseReader::new(stream);
    let started = stream.next_event().await;
    assert_eq!(started["type"], "session_started");

    let global = send(server.without_token(&format!("/api/events?token={TOKEN}"))).await;
    assert_eq!(global.status(), StatusCode::OK);

    let wrong = send(server.without_token(&format!("/api/sessions/{id}/stream?token=nope"))).await;
    problem(wrong, 401, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_the_description_and_the_page_need_no_token() {
    let server = TestServer::start(Script::new()).await;

    let health = send(server.without_token("/api/health")).await;
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );

    let openapi = send(server.without_token("/openapi.json")).await;
    assert_eq!(openapi.status(), StatusCode::OK);
    let openapi: Value = openapi.json().await.unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");

    let page = send(server.without_token("/")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let content_type = page.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = page
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .expect("the page has a Content-Security-Policy")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<html"), "{html}");
}
