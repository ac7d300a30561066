//! The Chat Completions provider over real HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, StreamEvent,
};
use code_mesh_protocol::{Message, Part, Role, ToolCall, ToolResult, ToolSpec, Usage};
use code_mesh_providers::{OpenAiChatProvider, ProviderSettings};
use futures::StreamExt;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::server::{Reply, refused_base_url, serve};

const TEXT_WITH_USAGE: &[u8] = include_bytes!("../fixtures/openai-chat/text_with_usage.sse");
const TOOL_CALLS_PARALLEL: &[u8] =
    include_bytes!("../fixtures/openai-chat/tool_calls_parallel_with_usage.sse");
const TOOL_CALL_OBFUSCATION: &[u8] =
    include_bytes!("../fixtures/openai-chat/tool_call_obfuscation.sse");
const QUOTA_429: &str = include_str!("../fixtures/openai-chat/error_429_insufficient_quota.json");

fn openai(base_url: &str) -> OpenAiChatProvider {
    let mut settings = ProviderSettings::new("openai", base_url).with_api_key("sk-test-key");
    settings.api_key_env = Some("OPENAI_API_KEY".into());
    OpenAiChatProvider::new(settings).unwrap()
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

fn hello() -> ModelRequest {
    ModelRequest {
        model: "gpt-4o".into(),
        system: "Be brief.".into(),
        messages: vec![message(
            Role::User,
            vec![Part::Text {
                text: "Hello".into(),
            }],
        )],
        tools: vec![],
        temperature: None,
        max_tokens: None,
    }
}

/// Runs the request and collects every event, and the error that ended the stream if any.
async fn run(
    provider: &OpenAiChatProvider,
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

#[tokio::test]
async fn text_stream_is_decoded() {
    let server = serve(vec![Reply::sse(TEXT_WITH_USAGE, 97)]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(
        text(&events),
        "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app."
    );
    assert_eq!(
        events[events.len() - 2..],
        [
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(14, 30)),
        ]
    );
}

#[tokio::test]
async fn tool_call_stream_is_decoded() {
    let server = serve(vec![Reply::sse(TOOL_CALLS_PARALLEL, 13)]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::ToolCall(ToolCall {
                call_id: "call_JMW1whyEaYG438VE1OIflxA2".into(),
                name: "GetWeatherArgs".into(),
                arguments: r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#.into(),
                signature: None,
            }),
            StreamEvent::ToolCall(ToolCall {
                call_id: "call_DNYTawLBoN8fj3KN6qU9N1Ou".into(),
                name: "get_stock_price".into(),
                arguments: r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#.into(),
                signature: None,
            }),
            StreamEvent::Finished(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(149, 60)),
        ]
    );
}

#[tokio::test]
async fn request_body_and_headers_follow_the_chat_wire() {
    let server = serve(vec![Reply::sse(TOOL_CALL_OBFUSCATION, 4096)]).await;
    let mut settings = ProviderSettings::new("local", &server.base_url).with_api_key("sk-abc");
    settings.headers = BTreeMap::from([("X-Title".to_owned(), "Code Mesh".to_owned())]);
    let provider = OpenAiChatProvider::new(settings).unwrap();
    let request = ModelRequest {
        model: "qwen3-coder".into(),
        system: "You are a coding agent.".into(),
        messages: vec![
            message(
                Role::User,
                vec![Part::Text {
                    text: "What is the capital of the UK?".into(),
                }],
            ),
            message(
                Role::Assistant,
                vec![Part::ToolCall(ToolCall {
                    call_id: "call_1".into(),
                    name: "get_capital".into(),
                    arguments: r#"{"country":"UK"}"#.into(),
                    signature: None,
                })],
            ),
            message(
                Role::Tool,
                vec![Part::ToolResult(ToolResult {
                    call_id: "call_1".into(),
                    name: "get_capital".into(),
                    output: "London".into(),
                    is_error: false,
                })],
            ),
        ],
        tools: vec![ToolSpec {
            name: "get_capital".into(),
            description: "The capital of a country".into(),
            parameters: json!({"type": "object", "properties": {"country": {"type": "string"}}}),
        }],
        temperature: Some(0.2),
        max_tokens: Some(256),
    };
    let (_, error) = run(&provider, request).await.unwrap();
    assert_eq!(error, None);

    let mut requests = server.requests;
    let captured = requests.recv().await.unwrap();
    assert_eq!(captured.method, "POST");
    assert_eq!(captured.path, "/v1/chat/completions");
    assert_eq!(captured.header("authorization"), Some("Bearer sk-abc"));
    assert_eq!(captured.header("content-type"), Some("application/json"));
    assert_eq!(captured.header("x-title"), Some("Code Mesh"));
    assert_eq!(
        captured.json(),
        json!({
            "model": "qwen3-coder",
            "messages": [
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": "What is the capital of the UK?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "get_capital", "arguments": "{\"country\":\"UK\"}"},
                }]},
                {"role": "tool", "tool_call_id": "call_1", "content": "London"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_capital",
                "description": "The capital of a country",
                "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
            }}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0.2,
            "max_tokens": 256,
        })
    );
}

#[tokio::test]
async fn keyless_provider_sends_no_authorization() {
    let server = serve(vec![Reply::sse(TEXT_WITH_USAGE, 4096)]).await;
    let provider =
        OpenAiChatProvider::new(ProviderSettings::new("lmstudio", &server.base_url)).unwrap();
    run(&provider, hello()).await.unwrap();
    let mut requests = server.requests;
    assert_eq!(requests.recv().await.unwrap().header("authorization"), None);
}

/// The body up to (not including) the chunk carrying the finish reason.
fn before_finish(body: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(body).unwrap();
    let finish = text.find("\"finish_reason\":\"stop\"").unwrap();
    let cut = text[..finish].rfind("\n\n").unwrap() + 2;
    body[..cut].to_vec()
}

#[tokio::test]
async fn stream_closed_before_finish_is_stream_cut() {
    let body = before_finish(TEXT_WITH_USAGE);
    let server = serve(vec![Reply::new(200, "text/event-stream", body)]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert!(text(&events).starts_with("I'm unable"));
    let error = error.expect("a cut stream is an error");
    assert_eq!(error.kind, ProviderErrorKind::StreamCut);
    assert_eq!(
        error.message,
        "the response from `openai` ended before the model finished"
    );
    assert!(error.hint.is_some());
}

#[tokio::test]
async fn connection_broken_mid_stream_is_stream_cut() {
    let body = before_finish(TEXT_WITH_USAGE);
    let server = serve(vec![Reply::sse(&body, 200).cut()]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert!(!events.contains(&StreamEvent::Finished(FinishReason::Stop)));
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
async fn connection_broken_in_the_middle_of_a_line_is_stream_cut() {
    let cut = TEXT_WITH_USAGE.len() / 2;
    let server = serve(vec![Reply::new(
        200,
        "text/event-stream",
        &TEXT_WITH_USAGE[..cut],
    )])
    .await;
    let (_, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);
}

#[tokio::test]
async fn missing_done_after_finish_is_tolerated() {
    let text = std::str::from_utf8(TEXT_WITH_USAGE).unwrap();
    let body = text.replace("data: [DONE]\n\n", "");
    let server = serve(vec![Reply::sse(body.as_bytes(), 512)]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(events.last(), Some(&StreamEvent::Usage(usage(14, 30))));
}

#[tokio::test]
async fn silent_server_times_out() {
    let body = before_finish(TEXT_WITH_USAGE);
    let server = serve(vec![Reply::sse(&body, 4096).hang()]).await;
    let provider = openai(&server.base_url).with_idle_timeout(Duration::from_millis(300));
    let (_, error) = run(&provider, hello()).await.unwrap();
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Timeout);
    assert_eq!(error.message, "`openai` sent nothing for 300 ms");
}

#[tokio::test]
async fn silence_after_the_finish_reason_ends_the_answer() {
    let text = std::str::from_utf8(TEXT_WITH_USAGE).unwrap();
    let body = text.replace("data: [DONE]\n\n", "");
    let server = serve(vec![Reply::sse(body.as_bytes(), 4096).hang()]).await;
    let provider = openai(&server.base_url).with_idle_timeout(Duration::from_millis(300));
    let (events, error) = run(&provider, hello()).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(events.last(), Some(&StreamEvent::Usage(usage(14, 30))));
}

#[tokio::test]
async fn error_payload_mid_stream_is_an_error() {
    let body = concat!(
        "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"gen-1\",\"error\":{\"code\":502,\"message\":\"Provider returned error\"},",
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n",
    );
    let server = serve(vec![Reply::sse(body.as_bytes(), 4096)]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(events, [StreamEvent::TextDelta("Hi".into())]);
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert_eq!(
        error.message,
        "`openai` reported an error: Provider returned error"
    );
    assert_eq!(error.status, Some(502));
}

#[tokio::test]
async fn unauthorized_is_auth_with_a_hint_naming_the_key_variable() {
    let body = r#"{
    "error": {
        "message": "Incorrect API key provided",
        "type": "invalid_request_error",
        "param": null,
        "code": "invalid_api_key"
    }
}
"#;
    let server = serve(vec![Reply::new(401, "application/json", body)]).await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Auth);
    assert_eq!(error.status, Some(401));
    assert_eq!(
        error.message,
        "`openai` rejected the API key (HTTP 401): Incorrect API key provided"
    );
    let hint = error.hint.unwrap();
    assert!(hint.contains("`OPENAI_API_KEY`"), "{hint}");
}

#[tokio::test]
async fn insufficient_quota_is_not_called_a_rate_limit() {
    let server = serve(vec![Reply::new(429, "application/json", QUOTA_429)]).await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert!(!error.kind.is_retryable());
    assert_eq!(
        error.message,
        "`openai` refused the request because the account is out of quota (HTTP 429): You exceeded your current quota, please check your plan and billing details."
    );
    let hint = error.hint.unwrap();
    assert!(hint.contains("not a rate limit"), "{hint}");
}

#[tokio::test]
async fn rate_limit_hint_uses_retry_after() {
    let body = r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}}"#;
    let server = serve(vec![
        Reply::new(429, "application/json", body).header("retry-after", "20"),
    ])
    .await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert_eq!(
        error.message,
        "`openai` is rate limiting requests (HTTP 429): Rate limit reached for gpt-4o"
    );
    assert!(error.hint.unwrap().starts_with("wait 20 s"));
}

#[tokio::test]
async fn server_error_is_server() {
    let body = r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#;
    let server = serve(vec![Reply::new(500, "application/json", body)]).await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Server);
    assert!(error.kind.is_retryable());
    assert_eq!(
        error.message,
        "`openai` failed with a server error (HTTP 500): The server had an error while processing your request."
    );
}

#[tokio::test]
async fn other_client_error_is_bad_request_with_plain_body() {
    let server = serve(vec![Reply::new(
        400,
        "text/plain",
        "  unknown field `stream_options`\n",
    )])
    .await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert_eq!(
        error.message,
        "`openai` refused the request (HTTP 400): unknown field `stream_options`"
    );
}

#[tokio::test]
async fn html_with_status_200_is_a_protocol_error() {
    let html = "<!DOCTYPE html><html><body><h1>LM Studio</h1></body></html>";
    let server = serve(vec![Reply::new(200, "text/html; charset=utf-8", html)]).await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert_eq!(
        error.message,
        "`openai` answered with HTML instead of the API (HTTP 200, text/html; charset=utf-8); is the base URL right? It usually ends in /v1"
    );
    let hint = error.hint.unwrap();
    assert!(hint.contains("OPENAI_BASE_URL"), "{hint}");
}

#[tokio::test]
async fn html_without_content_type_is_a_protocol_error() {
    let server = serve(vec![
        Reply::new(200, "", "\n<html>not found</html>").without_content_type(),
    ])
    .await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
}

#[tokio::test]
async fn sse_without_content_type_is_still_decoded() {
    let server = serve(vec![
        Reply::sse(TEXT_WITH_USAGE, 300).without_content_type(),
    ])
    .await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(events.last(), Some(&StreamEvent::Usage(usage(14, 30))));
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let base_url = refused_base_url().await;
    let error = run(&openai(&base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unreachable);
    assert_eq!(
        error.message,
        format!("cannot reach `openai` at {base_url}: connection refused")
    );
    let hint = error.hint.unwrap();
    assert!(
        hint.contains("`OPENAI_BASE_URL` or `providers.openai.base_url`"),
        "{hint}"
    );
}

#[tokio::test]
async fn whole_json_completion_is_decoded_into_events() {
    let body = json!({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "llama",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Paris."}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    });
    let server = serve(vec![Reply::new(200, "application/json", body.to_string())]).await;
    let (events, error) = run(&openai(&server.base_url), hello()).await.unwrap();
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            StreamEvent::TextDelta("Paris.".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Usage(usage(9, 2)),
        ]
    );
}

#[tokio::test]
async fn json_error_body_with_status_200_is_an_error() {
    let body =
        r#"{"error":{"message":"model 'x' not found","type":"invalid_request_error","code":404}}"#;
    let server = serve(vec![Reply::new(200, "application/json", body)]).await;
    let error = run(&openai(&server.base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::BadRequest);
    assert_eq!(
        error.message,
        "`openai` reported an error: model 'x' not found"
    );
}

#[test]
fn bad_settings_are_refused_up_front() {
    let error =
        OpenAiChatProvider::new(ProviderSettings::new("lab", "localhost:1234")).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Config);
    assert_eq!(
        error.message,
        "the base URL of `lab` is not an http(s) URL: `localhost:1234`"
    );
    let mut settings = ProviderSettings::new("lab", "http://localhost:1234/v1");
    settings.headers.insert("Bad Header".into(), "x".into());
    let error = OpenAiChatProvider::new(settings).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Config);
}

#[test]
fn debug_output_hides_the_key() {
    let provider = openai("http://127.0.0.1:1/v1");
    let shown = format!("{provider:?}");
    assert!(!shown.contains("sk-test-key"), "{shown}");
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let base_url = format!("https://127.0.0.1:{port}/v1");
    let error = run(&openai(&base_url), hello()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unreachable);
    assert!(
        error
            .message
            .starts_with(&format!("cannot reach `openai` at {base_url}: ")),
        "{}",
        error.message
    );
}
