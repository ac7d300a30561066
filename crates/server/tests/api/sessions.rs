//! Sessions: create, list, read, delete, fork, their messages and stored events.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{MODEL, Script, TestServer, Turn, problem, send, session_ids, types};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_session_is_live_listed_and_readable() {
    let server = TestServer::start(Script::new().with_turn(Turn::reply("Hello there."))).await;

    let created = server.post("/api/sessions", json!({"model": MODEL})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let view: Value = created.json().await.unwrap();
    assert_eq!(view["live"], true, "{view}");
    assert_eq!(view["running"], false, "{view}");
    assert_eq!(view["pending_permissions"], json!([]));
    let id = view["session"]["id"].as_str().unwrap().to_owned();
    assert_eq!(view["session"]["model"], MODEL);
    assert_eq!(
        view["session"]["workspace"],
        server.workspace.display().to_string()
    );

    let listed = server.get_json("/api/sessions").await;
    assert_eq!(session_ids(&listed), [id.as_str()]);

    let mut stream = server.stream(&id, 0).await;
    server.prompt(&id, "Say hello to the API").await;
    stream.until_type("turn_finished").await;

    let listed = server.get_json("/api/sessions?limit=1").await;
    assert_eq!(listed[0]["id"], id.as_str());
    let title = listed[0]["title"].as_str().unwrap();
    assert!(
        title.contains("Say hello"),
        "the title comes from the first prompt: {title:?}"
    );
    assert_eq!(listed[0]["message_count"], 2);

    let got = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(got["session"]["id"], id.as_str());
    assert_eq!(got["session"]["title"], title);
    assert_eq!(got["live"], true);
    assert_eq!(got["running"], false);

    let bad_limit = server.get("/api/sessions?limit=0").await;
    problem(bad_limit, 400, "bad_request").await;
    let bad_limit = server.get("/api/sessions?limit=many").await;
    problem(bad_limit, 400, "bad_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_not_found_and_never_reach_the_store() {
    let server = TestServer::start(Script::new()).await;

    let unknown = server.get("/api/sessions/ses_doesnotexist").await;
    let body = problem(unknown, 404, "session_not_found").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("ses_doesnotexist")
    );
    assert!(
        server
            .store
            .ids_seen()
            .contains(&"ses_doesnotexist".to_owned())
    );

    for path in [
        "/api/sessions/..%2F..%2Fetc",
        "/api/sessions/..%2F..%2Fetc/messages",
        "/api/sessions/ses%20x/events",
        "/api/sessions/%00/stream",
        "/api/sessions/a.b",
    ] {
        let response = server.get(path).await;
        problem(response, 404, "session_not_found").await;
    }
    let deleted = server.delete("/api/sessions/..%2Fdata").await;
    problem(deleted, 404, "session_not_found").await;
    let posted = server
        .post("/api/sessions/..%2Fx/messages", json!({"text": "hi"}))
        .await;
    problem(posted, 404, "session_not_found").await;

    let seen = server.store.ids_seen();
    assert!(
        seen.iter().all(|id| id == "ses_doesnotexist"),
        "malformed ids reached the store: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_session_is_gone() {
    let server = TestServer::start(Script::new().with_turn(Turn::reply("Done."))).await;
    let (id, _) = server.session_with_turn("do it").await;

    let deleted = server.delete(&format!("/api/sessions/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());

    problem(
        server.get(&format!("/api/sessions/{id}")).await,
        404,
        "session_not_found",
    )
    .await;
    problem(
        server.get(&format!("/api/sessions/{id}/messages")).await,
        404,
        "session_not_found",
    )
    .await;
    problem(
        server.delete(&format!("/api/sessions/{id}")).await,
        404,
        "session_not_found",
    )
    .await;
    let listed = server.get_json("/api/sessions").await;
    assert_eq!(listed, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_hold_the_prompt_and_the_answer() {
    let server = TestServer::start(Script::new().with_turn(Turn::reply("The answer is 42."))).await;
    let (id, _) = server.session_with_turn("What is the answer?").await;

    let messages = server
        .get_json(&format!("/api/sessions/{id}/messages"))
        .await;
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["parts"][0]["text"], "What is the answer?");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["parts"][0]["text"], "The answer is 42.");
    assert_eq!(messages[0]["seq"], 1);
    assert_eq!(messages[1]["seq"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_copies_the_conversation_into_a_new_session() {
    let server = TestServer::start(Script::new().with_turn(Turn::reply("Forked answer."))).await;

    let empty = server.create_session().await;
    let refused = server
        .post(&format!("/api/sessions/{empty}/fork"), json!({}))
        .await;
    problem(refused, 400, "bad_request").await;

    let (id, _) = server.session_with_turn("Fork me").await;
    let forked = server
        .post(&format!("/api/sessions/{id}/fork"), json!({}))
        .await;
    assert_eq!(forked.status(), StatusCode::CREATED);
    let forked: Value = forked.json().await.unwrap();
    let fork_id = forked["id"].as_str().unwrap().to_owned();
    assert_ne!(fork_id, id);
    assert_eq!(forked["parent_id"], id.as_str());

    let parent_messages = server
        .get_json(&format!("/api/sessions/{id}/messages"))
        .await;
    let fork_messages = server
        .get_json(&format!("/api/sessions/{fork_id}/messages"))
        .await;
    assert_eq!(parent_messages.as_array().unwrap().len(), 2);
    assert_eq!(fork_messages, parent_messages);

    let through_first = server
        .post(
            &format!("/api/sessions/{id}/fork"),
            json!({"through_seq": 1}),
        )
        .await;
    assert_eq!(through_first.status(), StatusCode::CREATED);
    let through_first: Value = through_first.json().await.unwrap();
    let first_messages = server
        .get_json(&format!(
            "/api/sessions/{}/messages",
            through_first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(first_messages, json!([parent_messages[0]]));

    let beyond = server
        .post(
            &format!("/api/sessions/{id}/fork"),
            json!({"through_seq": 9}),
        )
        .await;
    problem(beyond, 400, "bad_request").await;

    // Both forks are this workspace's sessions too.
    let listed = server.get_json("/api/sessions").await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_events_are_paged_by_seq() {
    let server = TestServer::start(Script::new().with_turn(Turn::reply("Paging works."))).await;
    let (id, live) = server.session_with_turn("page the events").await;

    let all = server.get_json(&format!("/api/sessions/{id}/events")).await;
    let all = all.as_array().unwrap().clone();
    let seqs = crate::support::seqs(&all);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
    assert!(
        !types(&all).contains(&"text_delta"),
        "deltas are not stored"
    );
    // Every stored event was streamed too, with the same body.
    for event in &all {
        assert!(live.contains(event), "{event} was not streamed");
    }
    assert_eq!(types(&all).last(), Some(&"turn_finished"));
    assert!(all.len() >= 4, "{:?}", types(&all));

    let first_two = server
        .get_json(&format!("/api/sessions/{id}/events?after=0&limit=2"))
        .await;
    assert_eq!(first_two, json!(all[..2]));
    let after = seqs[1];
    let rest = server
        .get_json(&format!(
            "/api/sessions/{id}/events?after={after}&limit=5000"
        ))
        .await;
    assert_eq!(rest, json!(all[2..]));
    let none = server
        .get_json(&format!(
            "/api/sessions/{id}/events?after={}",
            seqs.last().unwrap()
        ))
        .await;
    assert_eq!(none, json!([]));

    for query in ["limit=0", "limit=5001", "after=-1", "after=x"] {
        let response = server
            .get(&format!("/api/sessions/{id}/events?{query}"))
            .await;
        problem(response, 400, "bad_request").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_strategy_or_model_is_refused() {
    let server = TestServer::start(Script::new()).await;

    let response = server
        .post("/api/sessions", json!({"strategy": "nope"}))
        .await;
    let body = problem(response, 400, "bad_request").await;
    let hint = body["hint"].as_str().unwrap();
    for strategy in ["single", "hierarchical", "pipeline", "mesh", "swarm"] {
        assert!(hint.contains(strategy), "{hint}");
    }

    let response = server
        .post("/api/sessions", json!({"model": "openai/unknown"}))
        .await;
    problem(response, 400, "bad_request").await;

    let response = server
        .post("/api/sessions", json!({"strategy": "single"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // No body at all is a session with the defaults.
    let response = send(server.request(reqwest::Method::POST, "/api/sessions")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_idle_engine_is_stopped_and_the_next_prompt_resumes_the_session() {
    let server = TestServer::start(
        Script::new()
            .with_turn(Turn::reply("First."))
            .with_turn(Turn::reply("Second.")),
    )
    .await;
    let id = server.create_session().await;
    server.prompt(&id, "one").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let view = server.get_json(&format!("/api/sessions/{id}")).await;
        if view["running"] == false && view["session"]["message_count"] == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the turn never finished: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Not idle for an hour yet: nothing stops.
    assert_eq!(
        server
            .state
            .close_idle(std::time::Duration::from_secs(3600))
            .await,
        0
    );
    assert_eq!(server.state.close_idle(std::time::Duration::ZERO).await, 1);
    let view = server.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["live"], false, "{view}");
    let seen = view["session"]["last_event_seq"].as_u64().unwrap();

    let (_, events) = {
        let mut stream = server.stream(&id, seen).await;
        server.prompt(&id, "two").await;
        (id.clone(), stream.until_type("turn_finished").await)
    };
    let resumed = events
        .iter()
        .filter(|event| event["type"] == "session_started")
        .any(|event| event["resumed"] == true);
    assert!(resumed, "the session was not resumed: {events:?}");
    let messages = server
        .get_json(&format!("/api/sessions/{id}/messages"))
        .await;
    assert_eq!(messages.as_array().unwrap().len(), 4, "{messages}");
}
