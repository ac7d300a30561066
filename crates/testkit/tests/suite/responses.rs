//! Scripted failures and timing: cut streams, HTTP errors, raw recordings, delays.

use std::time::{Duration, Instant};

use code_mesh_testkit::{Script, ScriptedServer, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::support::{assistant_call, chat, fixture, fixtures_dir, post, tool_result, user};

#[tokio::test]
async fn cut_after_closes_the_connection_without_finish_or_done() {
    let turn = Turn::reply("one two three four five").with_cut_after(3);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();

    let reply = post(&server, &chat("m", vec![user("hi")])).await;

    assert_eq!(reply.status, 200);
    assert!(reply.error.is_some(), "the client must see a broken body");
    let events = reply.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(reply.content(), "one two");
    assert!(!reply.text().contains("finish_reason\":\"stop"));
    assert!(!reply.text().contains("[DONE]"));
}

#[tokio::test]
async fn tool_calls_of_a_cut_stream_are_not_owed() {
    let script = Script::new()
        .with_turn(Turn::call("bash", json!({"command": "ls"})).with_cut_after(2))
        .with_turn(Turn::reply("retried"));
    let server = ScriptedServer::start(script).await.unwrap();

    post(&server, &chat("m", vec![user("hi")])).await;
    let retry = post(&server, &chat("m", vec![user("hi")])).await;

    assert_eq!(retry.content(), "retried");
    server.verify().unwrap();
}

#[tokio::test]
async fn a_status_turn_sends_an_openai_error_body() {
    let script = Script::new()
        .with_turn(Turn::error(429).with_header("retry-after", "2"))
        .with_turn(Turn::error(500));
    let server = ScriptedServer::start(script).await.unwrap();

    let limited = post(&server, &chat("gpt-x", vec![user("hi")])).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("content-type"), "application/json");
    assert_eq!(limited.header("retry-after"), "2");
    let body = limited.json();
    assert_eq!(body["error"]["type"], "requests");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["param"], json!(null));
    assert!(body["error"]["message"].as_str().unwrap().contains("gpt-x"));

    let failed = post(&server, &chat("gpt-x", vec![user("hi")])).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["error"]["type"], "server_error");
    server.verify().unwrap();
}

#[tokio::test]
async fn error_bodies_are_laid_out_like_the_api() {
    let server = ScriptedServer::start(Script::new().with_turn(Turn::error(401)))
        .await
        .unwrap();
    let ours = post(&server, &chat("m", vec![user("hi")])).await.text();
    let recorded = fixture("openai-chat-error_429_insufficient_quota.json");
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .map(|line| line.split(':').next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(keys(&ours), keys(&recorded));
    assert!(ours.ends_with("}\n"));
}

#[tokio::test]
async fn a_body_turn_sends_its_bytes_and_content_type() {
    let html = "<html><body>502 Bad Gateway</body></html>";
    let script = Script::new()
        .with_turn(
            Turn::error(502)
                .with_body(html)
                .with_content_type("text/html"),
        )
        .with_turn(Turn::new().with_body("{\"not\":\"a stream\"}"));
    let server = ScriptedServer::start(script).await.unwrap();

    let gateway = post(&server, &chat("m", vec![user("hi")])).await;
    assert_eq!((gateway.status, gateway.text().as_str()), (502, html));
    assert_eq!(gateway.header("content-type"), "text/html");

    let json_body = post(&server, &chat("m", vec![user("hi")])).await;
    assert_eq!(json_body.status, 200);
    assert_eq!(json_body.header("content-type"), "application/json");
}

#[tokio::test]
async fn raw_sse_is_sent_verbatim_and_its_tool_calls_are_owed() {
    let toml = "[[turn]]\nraw_sse = \"openai-chat-tool_call_obfuscation.sse\"\n\n\
                [[turn]]\ntext = \"London\"\n";
    let script = Script::from_toml_str(toml, fixtures_dir()).unwrap();
    let server = ScriptedServer::start(script).await.unwrap();

    let reply = post(&server, &chat("m", vec![user("capital?")])).await;
    assert_eq!(
        reply.text(),
        fixture("openai-chat-tool_call_obfuscation.sse")
    );
    assert_eq!(
        reply.header("content-type"),
        "text/event-stream; charset=utf-8"
    );

    let id = "call_ZR5UUuTt3pf61kjwAJIYdVMj";
    let forgot = post(&server, &chat("m", vec![user("capital?")])).await;
    assert_eq!(forgot.status, 400);
    assert!(forgot.error_message().contains(id));
    let messages = vec![
        user("capital?"),
        assistant_call(id, "get_capital"),
        tool_result(id, "London"),
    ];
    assert_eq!(
        post(&server, &chat("m", messages)).await.content(),
        "London"
    );
}

#[tokio::test]
async fn chunk_delay_spaces_out_the_events() {
    let delay = Duration::from_millis(40);
    let turn = Turn::reply("a b c").with_chunk_delay_ms(40);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();

    let started = Instant::now();
    let reply = post(&server, &chat("m", vec![user("hi")])).await;

    // Role, three words, finish, [DONE]: five gaps between six events.
    assert!(started.elapsed() >= delay * 5);
    assert!(
        reply.frames.len() >= 3,
        "events must arrive as they are produced"
    );
    assert_eq!(reply.content(), "a b c");
}

#[tokio::test]
async fn delay_holds_back_the_response_headers() {
    let turn = Turn::reply("late").with_delay_ms(60);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();

    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&chat("m", vec![user("hi")]))
        .send()
        .await
        .unwrap();

    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_long_stream_is_cut_after_exactly_the_scripted_events() {
    // Far more than hyper buffers at once: the events before the cut must all arrive.
    let text: Vec<String> = (0..2000).map(|n| format!("word{n}")).collect();
    let turn = Turn::reply(text.join(" ")).with_cut_after(1500);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();
    let reply = post(&server, &chat("m", vec![user("hi")])).await;
    assert!(reply.error.is_some());
    assert_eq!(reply.events().len(), 1500);
}
