//! Choosing the turn that answers a request.

use code_mesh_testkit::{Script, ScriptedServer, Turn};
use pretty_assertions::assert_eq;

use super::support::{chat, post, post_text, system, user};

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

#[tokio::test]
async fn turns_are_routed_by_the_agent_line_of_the_system_prompt() {
    let script = Script::new()
        .with_turn(Turn::reply("reviewed").for_agent("reviewer"))
        .with_turn(
            Turn::reply("coded on b")
                .for_agent("coder")
                .for_model("model-b"),
        )
        .with_turn(Turn::reply("coded").for_agent("coder"))
        .with_turn(Turn::reply("anyone"));
    let server = ScriptedServer::start(script).await.unwrap();

    let reply = |model: &'static str, system_prompt: &'static str| {
        let server = &server;
        async move {
            let messages = vec![system(system_prompt), user("task")];
            post(server, &chat(model, messages)).await.content()
        }
    };
    let coder = "Base.\n\n# Agent\nCode Mesh agent: coder\n\nYou are the Coder.";
    assert_eq!(reply("model-a", coder).await, "coded");
    // Another agent named in the prompt's text but not on its own line does not count.
    assert_eq!(
        reply("model-a", "Ask the Code Mesh agent: reviewer later.").await,
        "anyone"
    );
    assert_eq!(reply("model-b", coder).await, "coded on b");
    assert_eq!(
        reply("model-a", "Code Mesh agent: reviewer").await,
        "reviewed"
    );
    server.verify().unwrap();
}

#[tokio::test]
async fn an_agent_without_a_turn_left_is_told_which_turns_wait_and_verify_names_them() {
    let script = Script::new().with_turn(Turn::reply("r").for_agent("reviewer"));
    let server = ScriptedServer::start(script).await.unwrap();

    let body = chat("m", vec![system("Code Mesh agent: coder"), user("hi")]);
    let reply = post(&server, &body).await;

    assert_eq!(reply.status, 500);
    let message = reply.error_message();
    assert!(
        message.contains(
            "none left for model `m` and agent `coder`; waiting: turn 1 for `` agent `reviewer`"
        ),
        "{message}"
    );
    let error = server.verify().unwrap_err();
    assert!(
        error
            .problems
            .contains(&"turn 1 (agent `reviewer`) was never served".to_owned()),
        "{:?}",
        error.problems
    );
}
