//! The Anthropic Messages provider over real HTTP: conformance with the recorded transcripts
//! (through testkit, and through a raw server writing one byte at a time), scripted turns,
//! thinking round trips and faults.

use std::time::Duration;

use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, StreamEvent,
};
use code_mesh_protocol::{Message, Part, Role, ToolCall, ToolResult, ToolSpec, Usage};
use code_mesh_providers::{AnthropicProvider, AnthropicStreamDecoder, ProviderSettings};
use code_mesh_testkit::{Pairing, Script, ScriptedServer, Turn};
use futures::StreamExt;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::server::{Reply, refused_base_url, serve};

const TEXT_HELLO: &[u8] = include_bytes!("../fixtures/anthropic/text_hello_sdk_fixture.sse");
const TOOL_USE: &[u8] = include_bytes!("../fixtures/anthropic/tool_use_get_weather.sse");
const TEXT_PADDED: &[u8] = include_bytes!("../fixtures/anthropic/text_padded_minimal.sse");
const THINKING: &[u8] = include_bytes!("../fixtures/anthropic/thinking_signature.sse");
const OVERLOADED_EVENT: &[u8] =
    include_bytes!("../fixtures/anthropic/error_event_overloaded_doc.sse");
const OVERLOADED_PAYLOAD: &str =
    include_str!("../fixtures/anthropic/error_event_overloaded_payload_real.json");
const NOT_FOUND: &str = include_str!("../fixtures/anthropic/error_404_not_found_doc.json");
const TEXT_UTF8: &[u8] = include_bytes!("../fixtures/anthropic/text_utf8_derived.sse");

fn settings(base_url: &str) -> ProviderSettings {
    let mut settings = ProviderSettings::new("anthropic", base_url).with_api_key("sk-ant-test");
    settings.api_key_env = Some("ANTHROPIC_API_KEY".into());
    settings
}

fn anthropic(base_url: &str) -> AnthropicProvider {
    AnthropicProvider::new(settings(base_url)).unwrap()
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

fn bash_tool() -> ToolSpec {
    ToolSpec {
        name: "bash".into(),
        description: "Run a shell command".into(),
        parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}}),
    }
}

fn ask(question: &str) -> ModelRequest {
    ModelRequest {
        model: "claude-sonnet-4-5".into(),
        system: "Be brief.".into(),
        messages: vec![message(Role::User, vec![text_part(question)])],
        tools: vec![bash_tool()],
        temperature: None,
        max_tokens: None,
    }
}

/// Runs the request and collects every event, and the error that ended the stream if any.
async fn run(
    provider: &AnthropicProvider,
    request: ModelRequest,
) -> Result<(Vec<StreamEvent>, Option<ProviderError>), ProviderError> {
    let mut stream = provider.stream(request).await?;
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(
                    stream.next().await.is_none(),
                    "the stream ends after an error"
                );
                return Ok((events, Some(error)));
            }
        }
    }
    Ok((events, None))
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

type Outcome = (Vec<StreamEvent>, Option<ProviderError>);

/// Plays a recorded transcript three ways and checks they agree: through testkit (one write
/// per event), through a raw server writing one byte per chunk, and through the public
/// decoder fed one byte at a time.
async fn replay(transcript: &[u8]) -> Outcome {
    let script = Script::new()
        .with_turn(Turn::raw_sse(transcript.to_vec()))
        .with_pairing(Pairing::Off);
    let server = ScriptedServer::start(script).await.unwrap();
    let through_testkit = run(&anthropic(&server.root_url()), ask("q")).await.unwrap();
    assert_eq!(server.violations(), Vec::<String>::new());

    let raw = serve(vec![Reply::sse(transcript, 1)]).await;
    let byte_by_byte = run(&anthropic(&raw.base_url), ask("q")).await.unwrap();
    assert_eq!(
        byte_by_byte, through_testkit,
        "one byte per write over HTTP"
    );

    let mut decoder = AnthropicStreamDecoder::new(settings("https://api.anthropic.com"));
    let mut events = Vec::new();
    let mut error = None;
    for byte in transcript.chunks(1) {
        if let Err(e) = decoder.push(byte, &mut events) {
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        error = decoder.finish(&mut events).err();
    }
    assert_eq!((events, error), through_testkit, "the public decoder");
    through_testkit
}

#[tokio::test]
async fn conformance_text_hello_sdk_fixture() {
    let (events, error) = replay(TEXT_HELLO).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("Hello".into()),
            StreamEvent::TextDelta(" there".into()),
            StreamEvent::TextDelta("!".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(11, 6)),
        ]
    );
}

#[tokio::test]
async fn conformance_tool_use_get_weather() {
    let (events, error) = replay(TOOL_USE).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("I".into()),
            StreamEvent::TextDelta("'ll check the current weather in Paris for you.".into()),
            StreamEvent::ToolCall(ToolCall::new(
                "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                "get_weather",
                r#"{"location": "Paris"}"#
            )),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                input_tokens: 377,
                output_tokens: 65,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                reasoning_tokens: 0,
                cost_usd: None,
            }),
        ]
    );
}

#[tokio::test]
async fn conformance_text_padded_minimal() {
    let (events, error) = replay(TEXT_PADDED).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("2".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(20, 5)),
        ]
    );
}

#[tokio::test]
async fn conformance_thinking_signature() {
    let (events, error) = replay(THINKING).await;
    assert_eq!(error, None);
    let thinking = "This is a straightforward question about pedestrian safety. I should provide clear, helpful advice about how to safely cross a street. This is basic safety information that could help prevent accidents.";
    let deltas: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ReasoningDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, thinking);
    let Some(StreamEvent::Reasoning {
        text: block,
        signature: Some(signature),
        id: None,
        redacted: false,
    }) = events
        .iter()
        .find(|e| matches!(e, StreamEvent::Reasoning { .. }))
    else {
        panic!("no signed thinking block in {events:?}");
    };
    assert_eq!(block, thinking);
    assert_eq!(signature.len(), 504);
    assert!(signature.starts_with("EvMCCkYICxgCKkCHP2cS"));
    assert!(signature.ends_with("/UhjfQYAQ=="));
    let answer = text(&events);
    assert_eq!(answer.chars().count(), 1021);
    assert!(answer.starts_with(
        "Here are the basic steps for safely crossing the street:\n\n**At intersections with traffic lights:**"
    ));
    assert!(answer.ends_with("Always prioritize safety over speed when crossing streets."));
    assert_eq!(
        events[events.len() - 2..],
        [
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(43, 282)),
        ]
    );
}

#[tokio::test]
async fn conformance_overloaded_error_event_with_status_200() {
    let (events, error) = replay(OVERLOADED_EVENT).await;
    assert_eq!(events, []);
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert!(error.kind.is_retryable());
    assert_eq!(
        error.message,
        "`anthropic` is overloaded (`overloaded_error` in the stream): Overloaded"
    );
}

#[tokio::test]
async fn conformance_multibyte_text_split_across_writes() {
    let (events, error) = replay(TEXT_UTF8).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "Héllo → 世界 🦀!");
}

#[tokio::test]
async fn error_event_mid_stream_ends_the_answer_with_a_retryable_error() {
    let recorded = std::str::from_utf8(TEXT_HELLO).unwrap();
    let before_stop = recorded.find("event: content_block_stop").unwrap();
    let transcript = format!(
        "{}event: error\ndata: {OVERLOADED_PAYLOAD}\n\n",
        &recorded[..before_stop]
    );
    let (events, error) = replay(transcript.as_bytes()).await;
    assert_eq!(text(&events), "Hello there!");
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finished(_))));
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert_eq!(error.status, None);
}

#[tokio::test]
async fn scripted_text_reply_with_usage() {
    let script = Script::new().with_turn(Turn::reply("All good here.").with_usage(30, 4));
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&anthropic(&server.root_url()), ask("How are you?"))
        .await
        .unwrap();
    assert_eq!(error, None);
    assert_eq!(text(&events), "All good here.");
    assert_eq!(
        events[events.len() - 2..],
        [
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(30, 4)),
        ]
    );
    server.verify().unwrap();
}

#[tokio::test]
async fn request_headers_and_body_follow_the_messages_wire() {
    let script = Script::new().with_turn(Turn::reply("ok"));
    let server = ScriptedServer::start(script).await.unwrap();
    let mut request = ask("Hello");
    request.temperature = Some(0.2);
    request.max_tokens = Some(321);
    run(&anthropic(&server.root_url()), request).await.unwrap();
    let recorded = &server.requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(recorded.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded.header("content-type"), Some("application/json"));
    assert_eq!(recorded.header("authorization"), None);
    assert_eq!(
        recorded.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 321,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}
            ]}],
            "tools": [{
                "name": "bash",
                "description": "Run a shell command",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
                "cache_control": {"type": "ephemeral"},
            }],
            "temperature": 0.2,
            "stream": true,
        })
    );
    server.verify().unwrap();
}

#[tokio::test]
async fn tool_use_round_trip_pairs_the_result() {
    let script = Script::new()
        .with_turn(Turn::call("bash", json!({"command": "echo hi"})))
        .with_turn(Turn::reply("It printed hi.").expect_tool_result_contains("hi\n"));
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = anthropic(&server.root_url());

    let (events, error) = run(&provider, ask("Say hi with bash")).await.unwrap();
    assert_eq!(error, None);
    let calls: Vec<ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [ToolCall::new("call_1", "bash", r#"{"command":"echo hi"}"#)]
    );
    assert!(events.contains(&StreamEvent::Finished(FinishReason::ToolCalls)));

    let mut request = ask("Say hi with bash");
    request.messages.push(message(
        Role::Assistant,
        vec![Part::ToolCall(calls[0].clone())],
    ));
    request.messages.push(message(
        Role::Tool,
        vec![Part::ToolResult(ToolResult {
            call_id: "call_1".into(),
            name: "bash".into(),
            output: "hi\n".into(),
            is_error: false,
        })],
    ));
    let (events, error) = run(&provider, request).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(text(&events), "It printed hi.");
    let second = &server.requests()[1];
    assert_eq!(
        second.body["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "bash", "input": {"command": "echo hi"}}
        ]})
    );
    assert_eq!(
        second.body["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "hi\n", "is_error": false,
             "cache_control": {"type": "ephemeral"}}
        ]})
    );
    server.verify().unwrap();
}

#[tokio::test]
async fn thinking_comes_back_first_with_its_signature_unchanged() {
    let script = Script::new()
        .with_turn(
            Turn::call("bash", json!({"command": "ls"}))
                .with_reasoning("The user wants a listing, so I run ls."),
        )
        .with_turn(Turn::reply("Two files."));
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = anthropic(&server.root_url());

    let (events, error) = run(&provider, ask("What is here?")).await.unwrap();
    assert_eq!(error, None);
    let reasoning: Vec<Part> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Reasoning {
                text,
                signature,
                id,
                redacted,
            } => Some(Part::Reasoning {
                text: text.clone(),
                signature: signature.clone(),
                id: id.clone(),
                redacted: *redacted,
            }),
            _ => None,
        })
        .collect();
    let [
        Part::Reasoning {
            signature: Some(signature),
            ..
        },
    ] = reasoning.as_slice()
    else {
        panic!("one signed reasoning block expected: {reasoning:?}");
    };
    let call = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .unwrap();

    // The engine stores the parts in arrival order; the wire puts thinking first.
    let mut request = ask("What is here?");
    let mut assistant = message(
        Role::Assistant,
        vec![Part::ToolCall(call.clone()), reasoning[0].clone()],
    );
    assistant.model = Some("anthropic/claude-sonnet-4-5".into());
    request.messages.push(assistant);
    request.messages.push(message(
        Role::Tool,
        vec![Part::ToolResult(ToolResult {
            call_id: call.call_id.clone(),
            name: "bash".into(),
            output: "a.rs\nb.rs".into(),
            is_error: false,
        })],
    ));
    let (_, error) = run(&provider, request).await.unwrap();
    assert_eq!(error, None, "testkit accepted the signature");
    let second = &server.requests()[1];
    assert_eq!(
        second.body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "The user wants a listing, so I run ls.",
             "signature": signature},
            {"type": "tool_use", "id": call.call_id, "name": "bash", "input": {"command": "ls"}},
        ])
    );
    server.verify().unwrap();
}

#[tokio::test]
async fn a_changed_thinking_block_is_refused_like_the_real_api_does() {
    let script = Script::new().with_turn(Turn::reply("unused"));
    let server = ScriptedServer::start(script).await.unwrap();
    let mut request = ask("q");
    request.messages.push(message(
        Role::Assistant,
        vec![
            Part::Reasoning {
                text: "edited thinking".into(),
                signature: Some("EtestkitSig00000000000000000000000000000000==".into()),
                id: None,
                redacted: false,
            },
            text_part("a"),
        ],
    ));
    request
        .messages
        .push(message(Role::User, vec![text_part("q2")]));
    let error = run(&anthropic(&server.root_url()), request)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert_eq!(error.status, Some(400));
    assert!(
        error
            .message
            .contains("sent back exactly as they were received"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn unauthorized_is_auth_with_a_hint_naming_the_key_variable() {
    let server = ScriptedServer::start(Script::new().with_turn(Turn::error(401)))
        .await
        .unwrap();
    let error = run(&anthropic(&server.root_url()), ask("q"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Auth);
    assert_eq!(error.status, Some(401));
    assert_eq!(
        error.message,
        "`anthropic` rejected the API key (HTTP 401) (request req_testkit401): invalid x-api-key"
    );
    assert!(error.hint.unwrap().contains("ANTHROPIC_API_KEY"));
    assert!(!error.kind.is_retryable());
}

#[tokio::test]
async fn overloaded_529_is_a_retryable_server_error() {
    let server = ScriptedServer::start(Script::new().with_turn(Turn::error(529)))
        .await
        .unwrap();
    let error = run(&anthropic(&server.root_url()), ask("q"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert!(error.kind.is_retryable());
    assert_eq!(error.status, Some(529));
    assert_eq!(
        error.message,
        "`anthropic` is overloaded (HTTP 529) (request req_testkit529): Overloaded"
    );
    assert!(error.hint.unwrap().contains("providers.fallback"));
}

#[tokio::test]
async fn rate_limit_hint_uses_retry_after() {
    let turn = Turn::error(429).with_header("retry-after", "7");
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();
    let error = run(&anthropic(&server.root_url()), ask("q"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert_eq!(
        error.hint.as_deref(),
        Some("wait 7 s and try again, or run fewer agents at once")
    );
}

#[tokio::test]
async fn not_found_names_the_request_and_the_model_setting() {
    let turn = Turn::error(404).with_body(NOT_FOUND);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();
    let error = run(&anthropic(&server.root_url()), ask("q"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert_eq!(
        error.message,
        "`anthropic` does not know the model or the endpoint (HTTP 404) (request req_011CSHoEeqs5C35K2UUqR7Fy): The requested resource could not be found."
    );
    let hint = error.hint.unwrap();
    assert!(hint.contains("check the model name"), "{hint}");
    assert!(hint.contains("without /v1"), "{hint}");
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_stream_cut() {
    let turn = Turn::reply("one two three four five six").with_cut_after(4);
    let server = ScriptedServer::start(Script::new().with_turn(turn))
        .await
        .unwrap();
    let (events, error) = run(&anthropic(&server.root_url()), ask("q")).await.unwrap();
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finished(_))));
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);
}

#[tokio::test]
async fn a_body_ending_before_message_stop_is_stream_cut() {
    let recorded = std::str::from_utf8(TOOL_USE).unwrap();
    let before_stop = recorded.find("event: message_stop").unwrap();
    let server = serve(vec![Reply::new(
        200,
        "text/event-stream",
        &TOOL_USE[..before_stop],
    )])
    .await;
    let (events, error) = run(&anthropic(&server.base_url), ask("q")).await.unwrap();
    // The tool call was whole when its block stopped; the answer as a whole was not.
    assert!(events.iter().any(|e| matches!(e, StreamEvent::ToolCall(_))));
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finished(_))));
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::StreamCut);
    assert_eq!(
        error.message,
        "the response from `anthropic` ended before the model finished"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let recorded = std::str::from_utf8(TEXT_HELLO).unwrap();
    let before_stop = recorded.find("event: message_delta").unwrap();
    let server = serve(vec![Reply::sse(&TEXT_HELLO[..before_stop], 4096).hang()]).await;
    let provider = anthropic(&server.base_url).with_idle_timeout(Duration::from_millis(300));
    let (events, error) = run(&provider, ask("q")).await.unwrap();
    assert_eq!(text(&events), "Hello there!");
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Timeout);
    assert_eq!(error.message, "`anthropic` sent nothing for 300 ms");
}

#[tokio::test]
async fn html_is_not_the_api() {
    let server = serve(vec![Reply::new(
        200,
        "text/html; charset=utf-8",
        "<html>proxy login</html>",
    )])
    .await;
    let error = run(&anthropic(&server.base_url), ask("q"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert!(error.message.contains("without /v1"), "{}", error.message);
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let base_url = refused_base_url().await;
    let error = run(&anthropic(&base_url), ask("q")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unreachable);
    assert!(error.kind.is_retryable());
}

#[tokio::test]
async fn a_whole_json_message_is_decoded() {
    let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi."}],"stop_reason":"end_turn","usage":{"input_tokens":3,"cache_read_input_tokens":10,"output_tokens":2}}"#;
    let server = serve(vec![Reply::new(200, "application/json", body)]).await;
    let (events, error) = run(&anthropic(&server.base_url), ask("q")).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("Hi.".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(Usage {
                input_tokens: 13,
                output_tokens: 2,
                cache_read_tokens: 10,
                ..Usage::default()
            }),
        ]
    );
}

#[test]
fn the_endpoint_is_the_root_plus_v1_messages() {
    for base in [
        "https://api.anthropic.com",
        "https://api.anthropic.com/",
        "https://api.anthropic.com/v1",
    ] {
        assert_eq!(
            anthropic(base).endpoint(),
            "https://api.anthropic.com/v1/messages"
        );
    }
    let error = AnthropicProvider::new(settings("api.anthropic.com")).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Config);
    let shown = format!("{:?}", anthropic("https://api.anthropic.com"));
    assert!(!shown.contains("sk-ant-test"), "{shown}");
}

#[tokio::test]
async fn a_dropped_tool_result_is_refused_by_testkit_in_anthropic_shape() {
    let script = Script::new()
        .with_turn(Turn::call("bash", json!({"command": "ls"})))
        .with_turn(Turn::reply("unused"));
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = anthropic(&server.root_url());
    let (_, error) = run(&provider, ask("list")).await.unwrap();
    assert_eq!(error, None);
    // The next request of the conversation forgets the call and its result.
    let error = run(&provider, ask("list")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert_eq!(error.status, Some(400));
    assert!(
        error.message.starts_with(
            "`anthropic` refused the request (HTTP 400) (request req_testkit400): testkit: tool call `call_1`"
        ),
        "{}",
        error.message
    );
    assert!(server.verify().is_err());
}
