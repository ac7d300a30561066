//! The Responses provider over real HTTP: against testkit's scripted Responses wire, and the
//! recorded transcripts of `fixtures/openai-responses/` replayed whole (through testkit) and
//! one byte per write (through the byte-exact test server).

use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, StreamEvent,
};
use code_mesh_protocol::{Message, Part, Role, ToolCall, ToolResult, ToolSpec, Usage};
use code_mesh_providers::{OpenAiResponsesProvider, ProviderSettings, build_provider};
use code_mesh_testkit::{Script, ScriptedServer, Turn};
use futures::StreamExt;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::server::{Reply, serve};

const TEXT: &[u8] = include_bytes!("../fixtures/openai-responses/text.sse");
const FUNCTION_CALL: &[u8] = include_bytes!("../fixtures/openai-responses/function_call.sse");
const REASONING_FUNCTION_CALL: &[u8] =
    include_bytes!("../fixtures/openai-responses/reasoning_function_call_seq.sse");
const ERROR_EVENT: &str = include_str!("../fixtures/openai-responses/error_event_doc.json");

fn settings(base_url: &str) -> ProviderSettings {
    let mut settings = ProviderSettings::new("openai", base_url).with_api_key("sk-test-key");
    settings.api_key_env = Some("OPENAI_API_KEY".into());
    settings
}

fn openai(base_url: &str) -> OpenAiResponsesProvider {
    OpenAiResponsesProvider::new(settings(base_url)).unwrap()
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

fn user(text: &str) -> Message {
    message(Role::User, vec![Part::Text { text: text.into() }])
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        model: "gpt-5".into(),
        system: "Be brief.".into(),
        messages,
        tools: vec![ToolSpec {
            name: "read".into(),
            description: "Read a file".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        temperature: None,
        max_tokens: Some(512),
    }
}

/// Runs the request and collects every event, and the error that ended the stream if any.
async fn run(
    provider: &dyn Provider,
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

fn usage(input: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: reasoning,
        ..Usage::default()
    }
}

/// The `input` items of a recorded request body.
fn input(body: &Value) -> &Vec<Value> {
    body["input"].as_array().unwrap()
}

/// The `encrypted_content` of the reasoning item in the recorded event `kind`.
fn recorded_encrypted_content(kind: &str) -> String {
    let text = std::str::from_utf8(REASONING_FUNCTION_CALL).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with(&format!("data: {{\"type\":\"{kind}\"")))
        .unwrap();
    let value: Value = serde_json::from_str(&line["data: ".len()..]).unwrap();
    value["item"]["encrypted_content"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Replays `body` through testkit (one frame per event) and through the raw server one
/// byte per write; both must give the same events, which are returned.
async fn replay(body: &[u8]) -> (Vec<StreamEvent>, Option<ProviderError>) {
    let script = Script::new().with_turn(Turn::raw_sse(body.to_vec()));
    let server = ScriptedServer::start(script).await.unwrap();
    let whole = run(&openai(&server.base_url()), request(vec![user("hi")]))
        .await
        .unwrap();
    server.verify().unwrap();
    assert_eq!(server.requests()[0].path, "/v1/responses");

    let bytewise = serve(vec![Reply::sse(body, 1)]).await;
    let split = run(&openai(&bytewise.base_url), request(vec![user("hi")]))
        .await
        .unwrap();
    assert_eq!(split, whole, "one byte per write decodes the same");
    whole
}

#[tokio::test]
async fn conformance_text() {
    let (events, error) = replay(TEXT).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "The capital of France is Paris.");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, StreamEvent::TextDelta(_)))
            .count(),
        7
    );
    assert_eq!(
        events[7..],
        [
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(278, 9, 0)),
        ]
    );
}

#[tokio::test]
async fn conformance_function_call() {
    let (events, error) = replay(FUNCTION_CALL).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::ToolCall(ToolCall::new(
                "call_kL0PCQV7M2WMoVX8V8OtYSAL",
                "get_capital",
                r#"{"country":"France"}"#
            )),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(255, 16, 0)),
        ]
    );
}

#[tokio::test]
async fn conformance_reasoning_then_function_call() {
    let (events, error) = replay(REASONING_FUNCTION_CALL).await;
    assert_eq!(error, None);
    let done = recorded_encrypted_content("response.output_item.done");
    assert_eq!(done.len(), 3896);
    assert_ne!(
        done,
        recorded_encrypted_content("response.output_item.added")
    );
    assert_eq!(
        events,
        [
            StreamEvent::Reasoning {
                text: String::new(),
                signature: Some(done),
                id: Some("rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405".into()),
                redacted: true,
            },
            StreamEvent::ToolCall(ToolCall::new(
                "call_CWXgs68YprAjp6t0371hiPOI",
                "final_result",
                r#"{"result":6666}"#
            )),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(53, 469, 448)),
        ]
    );
}

#[tokio::test]
async fn conformance_error_event() {
    let payload: Value = serde_json::from_str(ERROR_EVENT).unwrap();
    let body = format!(
        "event: response.output_text.delta\ndata: {}\n\nevent: error\ndata: {payload}\n\n",
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
               "content_index": 0, "delta": "Hel"})
    );
    let (events, error) = replay(body.as_bytes()).await;
    assert_eq!(events, [StreamEvent::TextDelta("Hel".into())]);
    let error = error.expect("an error event ends the stream with an error");
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert_eq!(
        error.message,
        "`openai` reported an error (ERR_SOMETHING): Something went wrong"
    );
    assert!(error.hint.is_some());
}

#[tokio::test]
async fn multi_byte_characters_split_across_writes_decode_whole() {
    let body = std::str::from_utf8(TEXT)
        .unwrap()
        .replace("Paris", "Pärïs 🗼 巴黎");
    let (events, error) = replay(body.as_bytes()).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "The capital of France is Pärïs 🗼 巴黎.");
}

#[tokio::test]
async fn scripted_text_reply() {
    let script = Script::new().with_turn(
        Turn::reply("Hello there, Grüße 🌍")
            .with_usage(12, 5)
            .expect_system_contains("Be brief.")
            .expect_last_user_contains("hi"),
    );
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&openai(&server.base_url()), request(vec![user("hi")]))
        .await
        .unwrap();
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("Hello".into()),
            StreamEvent::TextDelta(" there,".into()),
            StreamEvent::TextDelta(" Grüße".into()),
            StreamEvent::TextDelta(" 🌍".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(12, 5, 0)),
        ]
    );
    server.verify().unwrap();
    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/v1/responses");
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(
        recorded.body,
        json!({
            "model": "gpt-5",
            "instructions": "Be brief.",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "hi"}]}],
            "tools": [{"type": "function", "name": "read", "description": "Read a file",
                       "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                       "strict": false}],
            "stream": true,
            "store": false,
            "include": ["reasoning.encrypted_content"],
            "max_output_tokens": 512,
        })
    );
}

#[tokio::test]
async fn tool_call_round_trip_sends_reasoning_back_unchanged() {
    let script = Script::new()
        .with_turn(
            Turn::call("read", json!({"path": "src/lib.rs"}))
                .with_reasoning("Read the file first.")
                .expect_tools_include("read"),
        )
        .with_turn(
            Turn::reply("It adds two numbers.")
                .expect_tool_result_contains("pub fn add")
                .expect_messages_contain("rs_testkit1"),
        );
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = openai(&server.base_url());

    let (first, error) = run(&provider, request(vec![user("What does lib.rs do?")]))
        .await
        .unwrap();
    assert_eq!(error, None);
    let [
        StreamEvent::ReasoningDelta(_),
        StreamEvent::ReasoningDelta(_),
        StreamEvent::ReasoningDelta(_),
        StreamEvent::ReasoningDelta(_),
        StreamEvent::Reasoning {
            text: summary,
            signature: Some(signature),
            id: Some(id),
            redacted: false,
        },
        StreamEvent::ToolCall(call),
        StreamEvent::Finished(FinishReason::ToolCalls),
        StreamEvent::Usage(_),
    ] = first.as_slice()
    else {
        panic!("unexpected events: {first:#?}");
    };
    assert_eq!(summary, "Read the file first.");
    assert_eq!(id, "rs_testkit1");
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("read", r#"{"path":"src/lib.rs"}"#)
    );

    let history = vec![
        user("What does lib.rs do?"),
        message(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: summary.clone(),
                    signature: Some(signature.clone()),
                    id: Some(id.clone()),
                    redacted: false,
                },
                Part::ToolCall(call.clone()),
            ],
        ),
        message(
            Role::Tool,
            vec![Part::ToolResult(ToolResult {
                call_id: call.call_id.clone(),
                name: "read".into(),
                output: "pub fn add(a: i32, b: i32) -> i32 { a + b }".into(),
                is_error: false,
            })],
        ),
    ];
    let (second, error) = run(&provider, request(history)).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(text(&second), "It adds two numbers.");
    // Testkit refuses a reasoning item carrying anything but the `.done` content, and checks
    // that the call came back with its result.
    server.verify().unwrap();

    let body = &server.requests()[1].body;
    assert_eq!(
        input(body)[1..],
        [
            json!({"type": "reasoning", "id": "rs_testkit1",
                   "summary": [{"type": "summary_text", "text": "Read the file first."}],
                   "encrypted_content": signature}),
            json!({"type": "function_call", "call_id": call.call_id,
                   "name": "read", "arguments": "{\"path\":\"src/lib.rs\"}"}),
            json!({"type": "function_call_output", "call_id": call.call_id,
                   "output": "pub fn add(a: i32, b: i32) -> i32 { a + b }"}),
        ]
    );
}

#[tokio::test]
async fn recorded_reasoning_goes_back_with_its_done_encrypted_content() {
    let script = Script::new()
        .with_turn(Turn::raw_sse(REASONING_FUNCTION_CALL.to_vec()))
        .with_turn(Turn::reply("6666").expect_tool_result_contains("ok"));
    let server = ScriptedServer::start(script).await.unwrap();
    let provider = openai(&server.base_url());
    let (first, _) = run(&provider, request(vec![user("Sum it")])).await.unwrap();
    let mut parts = Vec::new();
    for event in first {
        match event {
            StreamEvent::Reasoning {
                text,
                signature,
                id,
                redacted,
            } => parts.push(Part::Reasoning {
                text,
                signature,
                id,
                redacted,
            }),
            StreamEvent::ToolCall(call) => parts.push(Part::ToolCall(call)),
            _ => {}
        }
    }
    let result = ToolResult {
        call_id: "call_CWXgs68YprAjp6t0371hiPOI".into(),
        name: "final_result".into(),
        output: "ok".into(),
        is_error: false,
    };
    let history = vec![
        user("Sum it"),
        message(Role::Assistant, parts),
        message(Role::Tool, vec![Part::ToolResult(result)]),
    ];
    run(&provider, request(history)).await.unwrap();
    server.verify().unwrap();

    let body = &server.requests()[1].body;
    let reasoning = &input(body)[1];
    assert_eq!(
        reasoning,
        &json!({"type": "reasoning",
                "id": "rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405",
                "summary": [],
                "encrypted_content": recorded_encrypted_content("response.output_item.done")})
    );
    assert_eq!(input(body)[2]["type"], "function_call");
    assert_eq!(input(body)[3]["type"], "function_call_output");
}

#[tokio::test]
async fn stream_cut_mid_reply_is_stream_cut() {
    let script = Script::new().with_turn(Turn::reply("one two three four").with_cut_after(5));
    let server = ScriptedServer::start(script).await.unwrap();
    let (events, error) = run(&openai(&server.base_url()), request(vec![user("hi")]))
        .await
        .unwrap();
    assert_eq!(text(&events), "one");
    let error = error.expect("a cut stream is an error");
    assert_eq!(error.kind, ProviderErrorKind::StreamCut, "{error:?}");
    assert!(
        error
            .message
            .starts_with("the connection to `openai` broke before the model finished"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn stream_ending_before_completed_is_stream_cut() {
    let text = std::str::from_utf8(FUNCTION_CALL).unwrap();
    let cut = text.find("event: response.completed").unwrap();
    let server = ScriptedServer::start(
        Script::new().with_turn(Turn::raw_sse(FUNCTION_CALL[..cut].to_vec())),
    )
    .await
    .unwrap();
    let (events, error) = run(&openai(&server.base_url()), request(vec![user("hi")]))
        .await
        .unwrap();
    // The call arrived whole, but the response never completed: nothing is finished.
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finished(_))));
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::StreamCut);
    assert_eq!(
        error.message,
        "the response from `openai` ended before the model finished"
    );
}

#[tokio::test]
async fn failed_response_is_an_error_naming_its_code() {
    let body = concat!(
        "event: response.failed\n",
        "data: {\"type\":\"response.failed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",",
        "\"status\":\"failed\",\"error\":{\"code\":\"rate_limit_exceeded\",",
        "\"message\":\"Rate limit reached for gpt-5.\"},\"output\":[]}}\n\n",
    );
    let (events, error) = replay(body.as_bytes()).await;
    assert_eq!(events, []);
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert_eq!(
        error.message,
        "`openai` reported an error (rate_limit_exceeded): Rate limit reached for gpt-5."
    );
}

#[tokio::test]
async fn unauthorized_is_auth_with_a_hint_naming_the_key_variable() {
    let server = ScriptedServer::start(Script::new().with_turn(Turn::error(401)))
        .await
        .unwrap();
    let error = run(&openai(&server.base_url()), request(vec![user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Auth);
    assert_eq!(error.status, Some(401));
    assert!(
        error
            .message
            .starts_with("`openai` rejected the API key (HTTP 401): Incorrect API key provided"),
        "{}",
        error.message
    );
    assert!(error.hint.unwrap().contains("`OPENAI_API_KEY`"));
    server.verify().unwrap();
}

#[tokio::test]
async fn the_factory_builds_the_responses_wire() {
    let script = Script::new().with_turn(Turn::reply("via factory"));
    let server = ScriptedServer::start(script).await.unwrap();
    let mut settings = settings(&server.base_url());
    settings.wire = code_mesh_protocol::config::Wire::Responses;
    let provider = build_provider(settings).unwrap();
    let (events, error) = run(provider.as_ref(), request(vec![user("hi")]))
        .await
        .unwrap();
    assert_eq!(error, None);
    assert_eq!(text(&events), "via factory");
    assert_eq!(server.requests()[0].path, "/v1/responses");
}

#[test]
fn bad_settings_are_refused_up_front() {
    let error =
        OpenAiResponsesProvider::new(ProviderSettings::new("lab", "localhost:1234")).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Config);
    let provider = openai("http://127.0.0.1:1/v1");
    assert_eq!(provider.endpoint(), "http://127.0.0.1:1/v1/responses");
    assert!(!format!("{provider:?}").contains("sk-test-key"));
}
