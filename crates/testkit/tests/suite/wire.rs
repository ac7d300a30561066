//! The bytes on the wire, compared with real OpenAI recordings.
//!
//! Token boundaries differ (the server splits by words and fixed-size fragments), so
//! streams are compared as skeletons: each event with its content or arguments piece
//! blanked, consecutive equal skeletons merged. Everything else must match byte for byte.

use code_mesh_testkit::{Script, ScriptedServer, ToolCall, Turn};
use pretty_assertions::assert_eq;
use serde_json::Value;

use super::support::{chat, deltas, fixture, post, split_events, user, with_usage};

const FIXTURE_MODEL: &str = "gpt-4o-2024-08-06";

/// The recording with its identity (id, time, fingerprint) replaced by ours and the
/// usage details the server does not send removed.
fn normalized(fixture: &str, recorded_id: &str, ours: &[String]) -> Vec<String> {
    let first: Value = serde_json::from_str(ours[0].strip_prefix("data: ").unwrap()).unwrap();
    let recorded_first: Value = serde_json::from_str(
        fixture
            .lines()
            .next()
            .unwrap()
            .strip_prefix("data: ")
            .unwrap(),
    )
    .unwrap();
    let text = fixture
        .replace(recorded_id, first["id"].as_str().unwrap())
        .replace(
            &format!("\"created\":{}", recorded_first["created"]),
            &format!("\"created\":{}", first["created"]),
        )
        .replace("fp_5050236cbd", "fp_testkit")
        .replace(
            ",\"completion_tokens_details\":{\"reasoning_tokens\":0}",
            "",
        );
    split_events(&text)
}

/// The event with the value of its `content` / `arguments` string blanked.
fn skeleton(event: &str) -> String {
    let mut out = event.to_owned();
    for key in ["\"content\":\"", "\"arguments\":\""] {
        if let Some(at) = out.find(key) {
            let start = at + key.len();
            let end = start + closing_quote(&out[start..]);
            if end > start {
                out.replace_range(start..end, "…");
            }
        }
    }
    out
}

fn closing_quote(text: &str) -> usize {
    let mut escaped = false;
    for (at, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return at,
            _ => {}
        }
    }
    text.len()
}

fn skeletons(events: &[String]) -> Vec<String> {
    let mut out: Vec<String> = events.iter().map(|event| skeleton(event)).collect();
    out.dedup();
    out
}

fn arguments(events: &[String], index: u64) -> String {
    deltas(events)
        .iter()
        .flat_map(|delta| delta["tool_calls"].as_array().cloned().unwrap_or_default())
        .filter(|call| call["index"] == index)
        .filter_map(|call| call["function"]["arguments"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_text_turn_streams_like_the_recorded_api() {
    let recording = fixture("openai-chat-text_with_usage.sse");
    let recorded_text: String = deltas(&split_events(&recording))
        .iter()
        .filter_map(|delta| delta["content"].as_str().map(str::to_owned))
        .collect();
    let script = Script::new().with_turn(Turn::reply(&recorded_text).with_usage(14, 30));
    let server = ScriptedServer::start(script).await.unwrap();

    let reply = post(
        &server,
        &with_usage(chat(FIXTURE_MODEL, vec![user("weather?")])),
    )
    .await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(reply.error, None);
    let events = reply.events();
    let recorded = normalized(
        &recording,
        "chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL",
        &events,
    );
    assert_eq!(skeletons(&events), skeletons(&recorded));
    assert_eq!(reply.content(), recorded_text);
    // The frame, the finish and the usage chunk are byte-identical to the recording.
    assert_eq!(events[0], recorded[0]);
    assert_eq!(events[events.len() - 3..], recorded[recorded.len() - 3..]);
    assert!(events.len() > 10, "text should arrive in many deltas");
    server.verify().unwrap();
}

#[tokio::test]
async fn a_tool_call_turn_streams_like_the_recorded_api() {
    let recording = fixture("openai-chat-tool_calls_parallel_with_usage.sse");
    let weather = r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#;
    let stock = r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#;
    let turn = Turn::new()
        .with_tool_call(
            ToolCall::raw("GetWeatherArgs", weather).with_id("call_JMW1whyEaYG438VE1OIflxA2"),
        )
        .with_tool_call(
            ToolCall::raw("get_stock_price", stock).with_id("call_DNYTawLBoN8fj3KN6qU9N1Ou"),
        )
        .with_usage(149, 60);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();

    let reply = post(&server, &with_usage(chat(FIXTURE_MODEL, vec![user("go")]))).await;

    let events = reply.events();
    let recorded = normalized(
        &recording,
        "chatcmpl-ABfwAwrNePHUgBBezonVC6MX3zd63",
        &events,
    );
    assert_eq!(skeletons(&events), skeletons(&recorded));
    assert_eq!(arguments(&events, 0), weather);
    assert_eq!(arguments(&events, 1), stock);
    assert_eq!(arguments(&recorded, 0), weather);
    // Role chunk, each call's first fragment, finish, usage and [DONE] are byte-identical.
    let firsts = |events: &[String]| -> Vec<String> {
        events
            .iter()
            .filter(|event| !event.contains("\"function\":{\"arguments\""))
            .cloned()
            .collect()
    };
    assert_eq!(firsts(&events), firsts(&recorded));
}

#[tokio::test]
async fn usage_is_sent_only_when_asked_and_estimated_by_default() {
    let script = Script::new()
        .with_turn(Turn::reply("hello there"))
        .with_turn(Turn::reply("hello again"));
    let server = ScriptedServer::start(script).await.unwrap();

    let without = post(&server, &chat("m", vec![user("hi")])).await.events();
    assert!(!without.concat().contains("usage"));
    assert!(without[without.len() - 2].contains("\"finish_reason\":\"stop\""));
    assert_eq!(without.last().unwrap(), "data: [DONE]\n\n");

    let with = post(&server, &with_usage(chat("m", vec![user("hi")])))
        .await
        .events();
    let usage: Value =
        serde_json::from_str(with[with.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    let (prompt, completion) = (
        &usage["usage"]["prompt_tokens"],
        &usage["usage"]["completion_tokens"],
    );
    assert!(prompt.as_u64().unwrap() > 0 && completion.as_u64().unwrap() > 0);
    assert_eq!(
        usage["usage"]["total_tokens"].as_u64(),
        Some(prompt.as_u64().unwrap() + completion.as_u64().unwrap())
    );
}

#[tokio::test]
async fn reasoning_comes_before_text_and_generated_ids_are_call_n() {
    let turn = Turn::reply("answer")
        .with_reasoning("thinking hard")
        .with_tool_call(ToolCall::new(
            "read",
            serde_json::json!({"path": "src/lib.rs"}),
        ));
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();

    let events = post(&server, &chat("m", vec![user("hi")])).await.events();

    let deltas = deltas(&events);
    assert_eq!(
        deltas[0]["content"], "",
        "text turns start with empty content"
    );
    assert_eq!(deltas[1]["reasoning_content"], "thinking");
    assert_eq!(deltas[2]["reasoning_content"], " hard");
    assert_eq!(deltas[3]["content"], "answer");
    assert_eq!(deltas[4]["tool_calls"][0]["id"], "call_1");
    assert_eq!(arguments(&events, 0), r#"{"path":"src/lib.rs"}"#);
    assert!(events[events.len() - 2].contains("\"finish_reason\":\"tool_calls\""));
}
