//! Choosing the turn that answers a request.

use code_mesh_testkit::{Script, ScriptedServer, Turn};
use pretty_assertions::assert_eq;

use super::support::{chat, post, post_text, user};

#[tokio::test]
async fn turns_are_routed_by_model_and_untagged_turns_take_any() {
    let script = Script::new()
        .with_turn(Turn::reply("from a").for_model("model-a"))
        .with_turn(Turn::reply("from b").for_model("model-b"))
        .with_turn(Turn::reply("from any"));
    let server = ScriptedServer::start(script).await.unwrap();

    let reply = |model: &'static str| {
        let server = &server;
        async move { post(server, &chat(model, vec![user(model)])).await }
    };
    assert_eq!(reply("model-b").await.content(), "from b");
    assert_eq!(reply("model-z").await.content(), "from any");
    assert_eq!(reply("model-a").await.content(), "from a");
    let exhausted = reply("model-a").await;
    assert_eq!(exhausted.status, 500);
    assert!(
        exhausted
            .error_message()
            .starts_with("testkit: script exhausted after 3 turns")
    );

    let answered: Vec<Option<usize>> = server.requests().iter().map(|r| r.turn).collect();
    assert_eq!(answered, vec![Some(2), Some(3), Some(1), None]);
}

#[tokio::test]
async fn a_model_without_a_turn_left_is_told_which_turns_wait() {
    let script = Script::new().with_turn(Turn::reply("b").for_model("model-b"));
    let server = ScriptedServer::start(script).await.unwrap();

    let reply = post(&server, &chat("model-a", vec![user("hi")])).await;

    assert_eq!(reply.status, 500);
    let message = reply.error_message();
    assert!(
        message.starts_with("testkit: script exhausted after 0 turns"),
        "{message}"
    );
    assert!(message.contains("turn 1 for `model-b`"), "{message}");
    assert_eq!(server.violations().len(), 1);
}

#[tokio::test]
async fn concurrent_requests_take_distinct_turns() {
    let script: Script = (0..8).map(|n| Turn::reply(format!("turn {n}"))).collect();
    let server = ScriptedServer::start(script).await.unwrap();

    let bodies: Vec<_> = (0..8)
        .map(|n| chat("m", vec![user(&format!("agent {n}"))]))
        .collect();
    let replies = futures::future::join_all(bodies.iter().map(|body| post(&server, body))).await;

    let mut contents: Vec<String> = replies.iter().map(|reply| reply.content()).collect();
    contents.sort();
    let expected: Vec<String> = (0..8).map(|n| format!("turn {n}")).collect();
    assert_eq!(contents, expected);
    assert!(server.is_done());
    server.verify().unwrap();
}

#[tokio::test]
async fn both_paths_are_accepted_and_others_are_violations() {
    let script = Script::new().with_turn(Turn::reply("one"));
    let server = ScriptedServer::start(script).await.unwrap();
    let root = server.base_url().trim_end_matches("/v1").to_owned();

    let body = chat("m", vec![user("hi")]).to_string();
    let reply = post_text(&format!("{root}/chat/completions"), body.clone()).await;
    assert_eq!(reply.content(), "one");

    let other = post_text(&format!("{root}/v1/completions"), body).await;
    assert_eq!(other.status, 404);
    assert!(
        other
            .error_message()
            .starts_with("testkit: unexpected `POST /v1/completions`")
    );
    assert_eq!(server.requests()[1].path, "/v1/completions");
    assert_eq!(server.violations().len(), 1);
}
