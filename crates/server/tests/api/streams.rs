//! Prompts and their events: the session stream, replay after a seq, the global stream,
//! one turn at a time, and aborting a turn.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Script, SseReader, TOKEN, TestServer, Turn, first, problem, send, streamed_text, types,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_streams_its_turn_as_server_sent_events() {
    let server =
        TestServer::start(Script::new().with_turn(Turn::reply("Hello from the model."))).await;
    let id = server.create_session().await;
    let mut stream = server.stream(&id, 0).await;

    let accepted = server
        .post(
            &format!("/api/sessions/{id}/messages"),
            json!({"text": "Greet me"}),
        )
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted, json!({"session_id": id, "accepted": true}));

    let events = stream.until_type("turn_finished").await;
    let seqs = crate::support::seqs(&events);
    assert!(
        seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "no gaps, no repeats: {seqs:?}"
    );
    assert_eq!(seqs[0], 1);
    assert!(
        events
            .iter()
            .all(|event| event["session_id"] == id.as_str())
    );
    assert!(events.iter().all(|event| event["at"].as_u64().unwrap() > 0));
    let kinds = types(&events);
    assert_eq!(kinds[0], "session_started", "{kinds:?}");
    for kind in [
        "turn_started",
        "text_delta",
        "message_added",
        "usage_updated",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(streamed_text(&events), "Hello from the model.");
    let user = first(&events, "message_added");
    assert_eq!(user["message"]["role"], "user");
    let answer = events
        .iter()
        .rev()
        .find(|event| event["type"] == "message_added")
        .unwrap();
    assert_eq!(answer["message"]["role"], "assistant");
    assert_eq!(events.last().unwrap()["reason"], "completed");

    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["running"], false);
    server.model_server.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_turn_at_a_time_and_abort_cancels_it() {
    // The model takes a minute to answer: long enough to still be running when aborted.
    let script = Script::new().with_turn(Turn::reply("Too late.").with_delay_ms(60_000));
    let server = TestServer::start(script).await;
    let id = server.create_session().await;
    let mut stream = server.stream(&id, 0).await;

    server.prompt(&id, "Take your time").await;
    let second = server
        .post(
            &format!("/api/sessions/{id}/messages"),
            json!({"text": "And another"}),
        )
        .await;
    let body = problem(second, 409, "turn_running").await;
    assert!(body["hint"].as_str().unwrap().contains("abort"), "{body}");

    stream.until_type("turn_started").await;
    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["running"], true);

    let aborted =
        send(server.request(reqwest::Method::POST, &format!("/api/sessions/{id}/abort"))).await;
    assert_eq!(aborted.status(), StatusCode::ACCEPTED);
    let aborted: Value = aborted.json().await.unwrap();
    assert_eq!(aborted, json!({"session_id": id, "accepted": true}));

    let events = stream.until_type("turn_finished").await;
    assert_eq!(events.last().unwrap()["reason"], "cancelled");
    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["running"], false);

    // Aborting with nothing running is accepted and does nothing.
    let idle =
        send(server.request(reqwest::Method::POST, &format!("/api/sessions/{id}/abort"))).await;
    assert_eq!(idle.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_stream_gets_only_what_came_after_its_last_event() {
    let server = TestServer::start(Script::new().with_turn(Turn::reply("Replay me."))).await;
    let (id, _) = server.session_with_turn("replay").await;
    let stored = server.get_json(&format!("/api/sessions/{id}/events")).await;
    let stored = stored.as_array().unwrap().clone();
    let last_seen = stored[1]["seq"].as_u64().unwrap();

    let response = send(
        server
            .request(reqwest::Method::GET, &format!("/api/sessions/{id}/stream"))
            .header("Last-Event-ID", last_seen.to_string()),
    )
    .await;
    let replayed = SseReader::new(response).until_type("turn_finished").await;
    assert_eq!(
        replayed,
        stored[2..],
        "exactly the stored events after {last_seen}"
    );

    // `?after=` does the same, and the header wins over it.
    let mut by_query = server.stream(&id, last_seen).await;
    assert_eq!(by_query.next_event().await, stored[2]);
    let response = send(
        server
            .request(
                reqwest::Method::GET,
                &format!("/api/sessions/{id}/stream?after=0"),
            )
            .header("Last-Event-ID", last_seen.to_string()),
    )
    .await;
    assert_eq!(SseReader::new(response).next_event().await, stored[2]);

    let bad = send(
        server
            .request(reqwest::Method::GET, &format!("/api/sessions/{id}/stream"))
            .header("Last-Event-ID", "seven"),
    )
    .await;
    problem(bad, 400, "bad_request").await;
    let bad = server
        .get(&format!("/api/sessions/{id}/stream?after=-3"))
        .await;
    problem(bad, 400, "bad_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_stream_carries_every_live_session() {
    let script = Script::new()
        .with_turn(Turn::reply("First answer."))
        .with_turn(Turn::reply("Second answer."));
    let server = TestServer::start(script).await;
    let global = send(server.without_token(&format!("/api/events?token={TOKEN}"))).await;
    let mut global = SseReader::new(global);

    let one = server.create_session().await;
    let two = server.create_session().await;
    server.prompt(&one, "first").await;
    server.prompt(&two, "second").await;

    let mut finished = HashSet::new();
    let mut last_seq = std::collections::HashMap::new();
    while finished.len() < 2 {
        let message = global.next().await;
        assert_eq!(message.event, None, "{message:?}");
        let event = message.json();
        let session = event["session_id"].as_str().unwrap().to_owned();
        assert!(session == one || session == two, "{event}");
        let seq = event["seq"].as_u64().unwrap();
        assert_eq!(
            message.id.as_deref(),
            Some(format!("{session}:{seq}").as_str())
        );
        let previous = last_seq.insert(session.clone(), seq).unwrap_or(0);
        assert!(seq > previous, "each session's events arrive in order");
        if event["type"] == "turn_finished" {
            assert_eq!(event["reason"], "completed");
            finished.insert(session);
        }
    }
    assert_eq!(finished.len(), 2);
}
