//! The Ollama provider (`/api/chat`) over real HTTP: the recorded fixtures replayed through
//! testkit and one byte per write, scripted turns, the tool round trip, errors and cut streams.

use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, StreamEvent,
};
use code_mesh_protocol::config::Wire;
use code_mesh_protocol::{Message, Part, Role, ToolCall, ToolResult, ToolSpec, Usage};
use code_mesh_providers::{OllamaProvider, ProviderSettings};
use code_mesh_testkit::{Script, ScriptedServer, ToolCall as ScriptedCall, Turn};
use futures::StreamExt;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::server::{Reply, serve};

const TEXT_LENGTH: &[u8] = include_bytes!("../fixtures/ollama/chat_text_length.ndjson");
const TOOL_CALL: &[u8] = include_bytes!("../fixtures/ollama/chat_tool_call_doc.ndjson");
const MIDSTREAM_ERROR: &[u8] =
    include_bytes!("../fixtures/ollama/generate_midstream_error_doc.ndjson");
const ERROR_BODY: &str = include_str!("../fixtures/ollama/error_body_doc.json");

const MODEL: &str = "qwen3-coder";

fn ollama(root_url: &str) -> OllamaProvider {
    let mut settings = ProviderSettings::new("ollama", root_url);
    settings.wire = Wire::Ollama;
    OllamaProvider::new(settings).unwrap()
}

fn message(role: Role, parts: Vec<Part>) -> Message {
    Message {
        seq: 1,
        role,
        parts,
        model: None,
        usage: None,
        interrupted: false,
        created_at: 0,
    }
}

fn text_part(text: &str) -> Part {
    Part::Text { text: text.into() }
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        model: MODEL.into(),
        system: "Be brief.".into(),
        messages,
        tools: vec![ToolSpec {
            name: "read".into(),
            description: "Read a file".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        temperature: Some(0.2),
        max_tokens: Some(256),
    }
}

fn hello() -> ModelRequest {
    request(vec![message(Role::User, vec![text_part("Hello")])])
}

/// Every event, and the error that ended the stream if any.
async fn run(
    provider: &OllamaProvider,
    request: ModelRequest,
) -> (Vec<StreamEvent>, Option<ProviderError>) {
    let mut stream = match provider.stream(request).await {
        Ok(stream) => stream,
        Err(error) => return (Vec::new(), Some(error)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(
                    stream.next().await.is_none(),
                    "the stream ends after an error"
                );
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

/// The events with the synthesized call ids replaced by `call#N`, after checking they are
/// present and distinct.
fn numbered(events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut seen = Vec::new();
    events
        .iter()
        .map(|event| match event {
            StreamEvent::ToolCall(call) => {
                assert!(call.call_id.starts_with("call_cm"), "{}", call.call_id);
                assert!(
                    !seen.contains(&call.call_id),
                    "duplicate id {}",
                    call.call_id
                );
                seen.push(call.call_id.clone());
                StreamEvent::ToolCall(ToolCall {
                    call_id: format!("call#{}", seen.len() - 1),
                    ..call.clone()
                })
            }
            other => other.clone(),
        })
        .collect()
}

fn text(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

/// What SOURCES.md says a client extracts: the events, then the error that ends the stream.
fn expected(fixture: &[u8]) -> (Vec<StreamEvent>, Option<(ProviderErrorKind, &'static str)>) {
    if fixture == TEXT_LENGTH {
        let words = [
            "Hello",
            "!",
            " How",
            " are",
            " you",
            " today",
            "?",
            " Is",
            " there",
            " something",
            " I",
            " can",
            " help",
            " you",
            " with",
            " or",
            " would",
            " you",
            " like",
            " to",
        ];
        let mut events: Vec<StreamEvent> = words
            .iter()
            .map(|word| StreamEvent::TextDelta((*word).into()))
            .collect();
        events.push(StreamEvent::Finished(FinishReason::Length));
        events.push(StreamEvent::Usage(usage(11, 20)));
        (events, None)
    } else if fixture == TOOL_CALL {
        (
            vec![
                StreamEvent::ToolCall(ToolCall::new(
                    "call#0",
                    "get_weather",
                    r#"{"city":"Tokyo"}"#,
                )),
                StreamEvent::Finished(FinishReason::ToolCalls),
                StreamEvent::Usage(usage(169, 15)),
            ],
            None,
        )
    } else {
        (
            [" Yes", ".", "I", "can"]
                .iter()
                .map(|piece| StreamEvent::TextDelta((*piece).into()))
                .collect(),
            Some((
                ProviderErrorKind::Server,
                "an error was encountered while running the model",
            )),
        )
    }
}

fn check(fixture: &[u8], events: &[StreamEvent], error: Option<ProviderError>) {
    let (want_events, want_error) = expected(fixture);
    assert_eq!(numbered(events), want_events);
    match (error, want_error) {
        (None, None) => {}
        (Some(error), Some((kind, fragment))) => {
            assert_eq!(error.kind, kind);
            assert!(error.message.contains(fragment), "{}", error.message);
        }
        (error, want) => panic!("error {error:?}, expected {want:?}"),
    }
}

#[tokio::test]
async fn recorded_streams_replayed_through_testkit_give_what_sources_lists() {
    for fixture in [TEXT_LENGTH, TOOL_CALL, MIDSTREAM_ERROR] {
        let server = ScriptedServer::start(Script::new().with_turn(Turn::raw_sse(fixture)))
            .await
            .unwrap();
        let (events, error) = run(&ollama(&server.root_url()), hello()).await;
        check(fixture, &events, error);
        server.verify().unwrap();
        let recorded = &server.requests()[0];
        assert_eq!(recorded.path, "/api/chat");
    }
}

#[tokio::test]
async fn recorded_streams_sent_one_byte_per_write_decode_the_same() {
    for fixture in [TEXT_LENGTH, TOOL_CALL, MIDSTREAM_ERROR] {
        let server = serve(vec![Reply::sse(fixture, 1)]).await;
        // `/v1` at the end of the base URL is tolerated.
        let (events, error) = run(&ollama(&server.base_url), hello()).await;
        check(fixture, &events, error);
    }
}

#[tokio::test]
async fn multi_byte_text_split_across_writes_is_whole() {
    let body = "{\"message\":{\"role\":\"assistant\",\"content\":\"héllo → 世界 🦀\"},\"done\":false}\n{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"prompt_eval_count\":3,\"eval_count\":4}\n";
    let server = serve(vec![Reply::sse(body.as_bytes(), 1)]).await;
    let (events, error) = run(&ollama(&server.base_url), hello()).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("héllo → 世界 🦀".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(3, 4)),
        ]
    );
}

#[tokio::test]
async fn scripted_text_streams_and_the_request_is_the_native_wire() {
    let script = Script::new().with_turn(
        Turn::reply("Hello there, how can I help?")
            .with_reasoning("Greet back.")
            .for_model(MODEL)
            .with_usage(12, 7)
            .expect_system_contains("Be brief.")
            .expect_last_user_contains("Hello")
            .expect_tools_include("read"),
    );
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&ollama(&server.root_url()), hello()).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "Hello there, how can I help?");
    assert_eq!(
        events[..2],
        [
            StreamEvent::ReasoningDelta("Greet".into()),
            StreamEvent::ReasoningDelta(" back.".into()),
        ]
    );
    assert_eq!(
        events[events.len() - 2..],
        [
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(12, 7)),
        ]
    );
    server.verify().unwrap();
    let recorded = &server.requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", "/api/chat")
    );
    assert_eq!(recorded.header("authorization"), None);
    assert_eq!(
        recorded.body,
        json!({
            "model": "qwen3-coder",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "read",
                "description": "Read a file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            }}],
            "stream": true,
            "options": {"temperature": 0.2, "num_predict": 256},
        })
    );
}

#[tokio::test]
async fn tool_round_trip_answers_calls_in_order_with_tool_names() {
    let script = Script::new()
        .with_turn(
            Turn::new()
                .with_tool_call(ScriptedCall::new("read", json!({"path": "src/lib.rs"})))
                .with_tool_call(ScriptedCall::new("ls", json!({}))),
        )
        .with_turn(Turn::reply("It adds numbers.").expect_tool_result_contains("fn add"));
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = ollama(&server.root_url());
    let task = message(Role::User, vec![text_part("What does src/lib.rs do?")]);
    let (events, error) = run(&provider, request(vec![task.clone()])).await;
    assert_eq!(error, None);
    let calls: Vec<ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].call_id, calls[1].call_id);
    assert_eq!(calls[0].arguments, r#"{"path":"src/lib.rs"}"#);
    assert!(events.contains(&StreamEvent::Finished(FinishReason::ToolCalls)));

    let results = calls
        .iter()
        .map(|call| {
            Part::ToolResult(ToolResult {
                call_id: call.call_id.clone(),
                name: call.name.clone(),
                output: if call.name == "read" {
                    "pub fn add() {}"
                } else {
                    "lib.rs"
                }
                .into(),
                is_error: false,
            })
        })
        .collect();
    let follow_up = request(vec![
        task,
        message(
            Role::Assistant,
            calls.iter().cloned().map(Part::ToolCall).collect(),
        ),
        message(Role::Tool, results),
    ]);
    let (events, error) = run(&provider, follow_up).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "It adds numbers.");
    server.verify().unwrap();
    let sent = &server.requests()[1].body;
    assert_eq!(
        sent["messages"][2],
        json!({"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "read", "arguments": {"path": "src/lib.rs"}}},
            {"function": {"name": "ls", "arguments": {}}},
        ]})
    );
    assert_eq!(
        sent["messages"][3],
        json!({"role": "tool", "content": "pub fn add() {}", "tool_name": "read"})
    );
}

#[tokio::test]
async fn a_missing_result_fails_the_pairing_check() {
    let script = Script::new()
        .with_turn(Turn::call("read", json!({"path": "a"})))
        .with_turn(Turn::reply("Done."));
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = ollama(&server.root_url());
    let task = message(Role::User, vec![text_part("task")]);
    let (events, _) = run(&provider, request(vec![task.clone()])).await;
    let call = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .unwrap();
    // The call comes back without its result.
    let follow_up = request(vec![
        task,
        message(Role::Assistant, vec![Part::ToolCall(call)]),
        message(Role::User, vec![text_part("go on")]),
    ]);
    let (_, error) = run(&provider, follow_up).await;
    assert_eq!(error.unwrap().kind, ProviderErrorKind::BadRequest);
    let problems = server.verify().unwrap_err().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no `tool` message carries its result")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn errors_map_to_their_kinds_with_hints() {
    let server = ScriptedServer::start(Script::new().with_turn(Turn::error(404)))
        .await
        .unwrap();
    let (_, error) = run(&ollama(&server.root_url()), hello()).await;
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert!(
        error
            .message
            .contains("model \"qwen3-coder\" not found, try pulling it first"),
        "{}",
        error.message
    );
    assert_eq!(
        error.hint.as_deref(),
        Some("download it with `ollama pull qwen3-coder`, or pick one `ollama list` shows")
    );

    let server =
        ScriptedServer::start(Script::new().with_turn(Turn::error(500).with_body(ERROR_BODY)))
            .await
            .unwrap();
    let (_, error) = run(&ollama(&server.root_url()), hello()).await;
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert!(
        error
            .message
            .ends_with(": the model failed to generate a response"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_cut_stream_is_a_stream_cut_error_after_what_arrived() {
    let script = Script::new().with_turn(Turn::reply("one two three").with_cut_after(2));
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&ollama(&server.root_url()), hello()).await;
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("one".into()),
            StreamEvent::TextDelta(" two".into()),
        ]
    );
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);

    // A body that ends cleanly before `done: true` is cut too.
    let without_done = &TEXT_LENGTH[..TEXT_LENGTH.len() - 300];
    let without_done = &without_done[..without_done.iter().rposition(|b| *b == b'\n').unwrap() + 1];
    let server = ScriptedServer::start(Script::new().with_turn(Turn::raw_sse(without_done)))
        .await
        .unwrap();
    let (events, error) = run(&ollama(&server.root_url()), hello()).await;
    assert!(text(&events).starts_with("Hello! How"));
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);
}
