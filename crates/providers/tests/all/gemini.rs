//! The Gemini provider over real HTTP: the recorded fixtures replayed through testkit and one
//! byte per write, scripted turns, the tool round trip with its thought signature, errors and
//! cut streams.

use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, StreamEvent,
};
use code_mesh_protocol::config::Wire;
use code_mesh_protocol::{Message, Part, Role, ToolCall, ToolResult, ToolSpec, Usage};
use code_mesh_providers::{GeminiProvider, ProviderSettings};
use code_mesh_testkit::{Script, ScriptedServer, ToolCall as ScriptedCall, Turn};
use futures::StreamExt;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::server::{Reply, serve};

const TEXT: &[u8] = include_bytes!("../fixtures/gemini/text.sse");
const FUNCTION_CALL: &[u8] = include_bytes!("../fixtures/gemini/function_call.sse");
const THOUGHT_SIGNATURE: &[u8] =
    include_bytes!("../fixtures/gemini/function_call_thought_signature.sse");
const THOUGHTS_USAGE: &[u8] = include_bytes!("../fixtures/gemini/text_thoughts_usage.sse");
const RESOURCE_EXHAUSTED: &str =
    include_str!("../fixtures/gemini/error_429_resource_exhausted.json");

const MODEL: &str = "gemini-2.5-flash";

fn gemini(root_url: &str) -> GeminiProvider {
    let mut settings = ProviderSettings::new("google", root_url).with_api_key("g-test-key");
    settings.api_key_env = Some("GEMINI_API_KEY".into());
    settings.wire = Wire::Gemini;
    GeminiProvider::new(settings).unwrap()
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
            parameters: json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
                "additionalProperties": false,
            }),
        }],
        temperature: Some(0.0),
        max_tokens: Some(512),
    }
}

fn hello() -> ModelRequest {
    request(vec![message(Role::User, vec![text_part("Hello")])])
}

/// Every event, and the error that ended the stream if any.
async fn run(
    provider: &GeminiProvider,
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

fn usage(input: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: reasoning,
        ..Usage::default()
    }
}

fn signature_of_fixture() -> String {
    let raw = std::str::from_utf8(THOUGHT_SIGNATURE).unwrap();
    let start = raw.find("\"thoughtSignature\": \"").unwrap() + "\"thoughtSignature\": \"".len();
    let end = start + raw[start..].find('"').unwrap();
    raw[start..end].to_owned()
}

/// What SOURCES.md says a client extracts from each recorded stream.
fn expected(fixture: &[u8]) -> Vec<StreamEvent> {
    if fixture == TEXT {
        vec![
            StreamEvent::TextDelta("The".into()),
            StreamEvent::TextDelta(" capital of France".into()),
            StreamEvent::TextDelta(" is Paris.\n".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(13, 8, 0)),
        ]
    } else if fixture == FUNCTION_CALL {
        vec![
            StreamEvent::ToolCall(ToolCall::new(
                "call#0",
                "get_capital",
                r#"{"country":"France"}"#,
            )),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(52, 5, 0)),
        ]
    } else if fixture == THOUGHT_SIGNATURE {
        vec![
            StreamEvent::ToolCall(ToolCall {
                signature: Some(signature_of_fixture()),
                ..ToolCall::new("call#0", "get_country", "{}")
            }),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(29, 10 + 202, 202)),
        ]
    } else {
        let numbers: Vec<String> = (1..=30).map(|n| n.to_string()).collect();
        let numbers = numbers.join("\n");
        let (first, rest) = numbers.split_at(numbers.find("\n14").unwrap() + 2);
        let (second, third) = rest.split_at(rest.len() - 1);
        vec![
            StreamEvent::TextDelta(first.into()),
            StreamEvent::TextDelta(second.into()),
            StreamEvent::TextDelta(third.into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(18, 80 + 35, 35)),
        ]
    }
}

#[tokio::test]
async fn recorded_streams_replayed_through_testkit_give_what_sources_lists() {
    for fixture in [TEXT, FUNCTION_CALL, THOUGHT_SIGNATURE, THOUGHTS_USAGE] {
        let server = ScriptedServer::start(Script::new().with_turn(Turn::raw_sse(fixture)))
            .await
            .unwrap();
        let (events, error) = run(&gemini(&server.root_url()), hello()).await;
        assert_eq!(error, None);
        assert_eq!(numbered(&events), expected(fixture));
        server.verify().unwrap();
    }
}

#[tokio::test]
async fn recorded_streams_sent_one_byte_per_write_decode_the_same() {
    for fixture in [TEXT, FUNCTION_CALL, THOUGHT_SIGNATURE, THOUGHTS_USAGE] {
        let server = serve(vec![Reply::sse(fixture, 1)]).await;
        let root = server.base_url.trim_end_matches("/v1").to_owned();
        let (events, error) = run(&gemini(&root), hello()).await;
        assert_eq!(error, None);
        assert_eq!(numbered(&events), expected(fixture));
    }
}

#[tokio::test]
async fn multi_byte_text_split_across_writes_is_whole() {
    let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"héllo → 世界 🦀\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 3,\"candidatesTokenCount\": 4,\"totalTokenCount\": 7}}\r\n\r\n";
    let server = serve(vec![Reply::sse(body.as_bytes(), 1)]).await;
    let root = server.base_url.trim_end_matches("/v1").to_owned();
    let (events, error) = run(&gemini(&root), hello()).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("héllo → 世界 🦀".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(3, 4, 0)),
        ]
    );
}

#[tokio::test]
async fn scripted_text_streams_and_the_request_is_the_native_wire() {
    let script = Script::new().with_turn(
        Turn::reply("Hello there, how can I help?")
            .for_model(MODEL)
            .with_usage(12, 7)
            .expect_system_contains("Be brief.")
            .expect_last_user_contains("Hello")
            .expect_tools_include("read"),
    );
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&gemini(&server.root_url()), hello()).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "Hello there, how can I help?");
    assert_eq!(
        events[events.len() - 2..],
        [
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(12, 7, 0)),
        ]
    );
    server.verify().unwrap();
    let recorded = &server.requests()[0];
    assert_eq!(
        recorded.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(recorded.header("x-goog-api-key"), Some("g-test-key"));
    assert_eq!(recorded.header("authorization"), None);
    assert_eq!(
        recorded.body,
        json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
            "tools": [{"functionDeclarations": [{
                "name": "read",
                "description": "Read a file",
                "parameters": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            }]}],
            "generationConfig": {"temperature": 0.0, "maxOutputTokens": 512},
        })
    );
}

fn tool_script() -> Script {
    Script::new()
        .with_turn(
            Turn::reply("Reading.")
                .with_tool_call(ScriptedCall::new("read", json!({"path": "src/lib.rs"})))
                .with_tool_call(ScriptedCall::new("ls", json!({}))),
        )
        .with_turn(
            Turn::reply("It adds numbers.")
                .expect_tool_result_contains("fn add")
                .expect_tool_result_contains("lib.rs"),
        )
}

/// The first answer's calls, and the follow-up request bringing them back with results.
fn follow_up(calls: &[ToolCall]) -> ModelRequest {
    let mut parts = vec![text_part("Reading.")];
    parts.extend(calls.iter().cloned().map(Part::ToolCall));
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
    request(vec![
        message(Role::User, vec![text_part("What does src/lib.rs do?")]),
        message(Role::Assistant, parts),
        message(Role::Tool, results),
    ])
}

fn calls_of(events: &[StreamEvent]) -> Vec<ToolCall> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn tool_round_trip_sends_the_thought_signature_back_unchanged() {
    let server = ScriptedServer::start(tool_script()).await.unwrap();
    let provider = gemini(&server.root_url());
    let first = request(vec![message(
        Role::User,
        vec![text_part("What does src/lib.rs do?")],
    )]);
    let (events, error) = run(&provider, first).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "Reading.");
    let calls = calls_of(&events);
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].name.as_str(), calls[0].arguments.as_str()),
        ("read", r#"{"path":"src/lib.rs"}"#)
    );
    assert_eq!(
        (calls[1].name.as_str(), calls[1].arguments.as_str()),
        ("ls", "{}")
    );
    let signature = calls[0]
        .signature
        .clone()
        .expect("the first call carries a signature");
    assert_eq!(
        calls[1].signature, None,
        "Gemini signs the first call of a turn only"
    );
    assert!(
        matches!(events.last(), Some(StreamEvent::Usage(_))),
        "{events:?}"
    );
    assert!(events.contains(&StreamEvent::Finished(FinishReason::ToolCalls)));

    let (events, error) = run(&provider, follow_up(&calls)).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "It adds numbers.");
    server.verify().unwrap();
    let sent = &server.requests()[1].body;
    assert_eq!(sent["contents"][1]["role"], "model");
    assert_eq!(
        sent["contents"][1]["parts"][1],
        json!({"functionCall": {"name": "read", "args": {"path": "src/lib.rs"}}, "thoughtSignature": signature})
    );
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "read", "response": {"output": "pub fn add() {}"}}},
            {"functionResponse": {"name": "ls", "response": {"output": "lib.rs"}}},
        ]})
    );
}

#[tokio::test]
async fn a_call_brought_back_without_its_signature_is_refused_like_gemini_does() {
    let server = ScriptedServer::start(tool_script()).await.unwrap();
    let provider = gemini(&server.root_url());
    let first = request(vec![message(
        Role::User,
        vec![text_part("What does src/lib.rs do?")],
    )]);
    let (events, _) = run(&provider, first).await;
    let mut calls = calls_of(&events);
    calls[0].signature = None;
    let (_, error) = run(&provider, follow_up(&calls)).await;
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert_eq!(error.status, Some(400));
    assert!(
        error.message.contains("missing a thought_signature"),
        "{}",
        error.message
    );
    assert!(server.verify().is_err());
}

#[tokio::test]
async fn errors_map_to_their_kinds() {
    let cases = [
        (
            Turn::error(429).with_body(RESOURCE_EXHAUSTED),
            ProviderErrorKind::RateLimited,
            "Resource has been exhausted (e.g. check quota).",
        ),
        (
            Turn::error(429),
            ProviderErrorKind::RateLimited,
            "Resource has been exhausted",
        ),
        (
            Turn::error(400),
            ProviderErrorKind::Auth,
            "API key not valid",
        ),
        (
            Turn::error(403),
            ProviderErrorKind::Auth,
            "unregistered callers",
        ),
        (Turn::error(503), ProviderErrorKind::Server, "overloaded"),
        (
            Turn::error(404),
            ProviderErrorKind::BadRequest,
            "is not found for API version v1beta",
        ),
    ];
    for (turn, kind, fragment) in cases {
        let server = ScriptedServer::start(Script::new().with_turn(turn))
            .await
            .unwrap();
        let (events, error) = run(&gemini(&server.root_url()), hello()).await;
        assert!(events.is_empty());
        let error = error.unwrap();
        assert_eq!(error.kind, kind, "{error:?}");
        assert!(error.message.contains(fragment), "{}", error.message);
        assert!(error.hint.is_some());
    }
}

#[tokio::test]
async fn a_cut_stream_is_a_stream_cut_error_after_what_arrived() {
    let script = Script::new()
        .with_turn(Turn::reply("one two three four five six seven eight nine").with_cut_after(1));
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&gemini(&server.root_url()), hello()).await;
    assert_eq!(events, [StreamEvent::TextDelta("one two three".into())]);
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);

    // A body that ends cleanly before any finish reason is cut too.
    let truncated = &TEXT[..TEXT.len() / 2];
    let truncated = &truncated[..truncated
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4];
    let server = ScriptedServer::start(Script::new().with_turn(Turn::raw_sse(truncated)))
        .await
        .unwrap();
    let (events, error) = run(&gemini(&server.root_url()), hello()).await;
    assert_eq!(text(&events), "The");
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::StreamCut);
    assert!(error.kind.is_retryable());
}

#[tokio::test]
async fn an_error_payload_mid_stream_ends_the_stream_with_it() {
    let body = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n",
        "data: {\"error\": {\"code\": 503,\"message\": \"The model is overloaded. Please try again later.\",\"status\": \"UNAVAILABLE\"}}\r\n\r\n",
    );
    let server = ScriptedServer::start(Script::new().with_turn(Turn::raw_sse(body)))
        .await
        .unwrap();
    let (events, error) = run(&gemini(&server.root_url()), hello()).await;
    assert_eq!(events, [StreamEvent::TextDelta("Hel".into())]);
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert!(error.message.contains("overloaded"), "{}", error.message);
}
