//! Faults common to every wire, and the Chat wire's recorded transcripts replayed through the
//! scripted server and one byte per write.

use code_mesh_core::{ModelRequest, Provider, ProviderError, ProviderErrorKind, StreamEvent};
use code_mesh_protocol::config::Wire;
use code_mesh_protocol::{Message, Part, Role};
use code_mesh_providers::{ProviderSettings, build_provider};
use code_mesh_testkit::{Script, ScriptedServer, Turn};
use futures::StreamExt;
use pretty_assertions::assert_eq;

use crate::server::{Reply, serve};

const CHAT_FIXTURES: [(&str, &[u8]); 4] = [
    (
        "text_with_usage",
        include_bytes!("../fixtures/openai-chat/text_with_usage.sse"),
    ),
    (
        "tool_calls_parallel_with_usage",
        include_bytes!("../fixtures/openai-chat/tool_calls_parallel_with_usage.sse"),
    ),
    (
        "tool_call_obfuscation",
        include_bytes!("../fixtures/openai-chat/tool_call_obfuscation.sse"),
    ),
    (
        "text_obfuscation",
        include_bytes!("../fixtures/openai-chat/text_obfuscation.sse"),
    ),
];

fn request() -> ModelRequest {
    ModelRequest {
        model: "m".into(),
        system: "s".into(),
        messages: vec![Message {
            seq: 1,
            role: Role::User,
            parts: vec![Part::Text { text: "hi".into() }],
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }],
        tools: Vec::new(),
        temperature: None,
        max_tokens: None,
    }
}

fn provider(wire: Wire, base_url: &str) -> std::sync::Arc<dyn Provider> {
    let mut settings = ProviderSettings::new("faulty", base_url).with_api_key("k");
    settings.wire = wire;
    build_provider(settings).unwrap()
}

async fn collect(provider: &dyn Provider) -> (Vec<StreamEvent>, Option<ProviderError>) {
    let mut stream = match provider.stream(request()).await {
        Ok(stream) => stream,
        Err(err) => return (Vec::new(), Some(err)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(err) => return (events, Some(err)),
        }
    }
    (events, None)
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

#[tokio::test]
async fn chat_transcripts_decode_the_same_through_testkit_and_one_byte_per_write() {
    for (name, bytes) in CHAT_FIXTURES {
        let whole = serve(vec![Reply::sse(bytes, bytes.len())]).await;
        let (expected, error) = collect(&*provider(Wire::Chat, &whole.base_url)).await;
        assert_eq!(error, None, "{name}");
        assert!(
            expected
                .iter()
                .any(|e| matches!(e, StreamEvent::Finished(_))),
            "{name}"
        );

        let bytewise = serve(vec![Reply::sse(bytes, 1)]).await;
        let (events, error) = collect(&*provider(Wire::Chat, &bytewise.base_url)).await;
        assert_eq!(error, None, "{name}");
        assert_eq!(events, expected, "{name}: one byte per write");

        let scripted =
            ScriptedServer::start(Script::new().with_turn(Turn::raw_sse(bytes.to_vec())))
                .await
                .unwrap();
        let (events, error) = collect(&*provider(Wire::Chat, &scripted.base_url())).await;
        assert_eq!(error, None, "{name}");
        assert_eq!(events, expected, "{name}: through testkit");
    }
}

#[tokio::test]
async fn chat_multi_byte_text_split_across_writes_is_whole() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\u{e9} \u{2615} \u{1f980}\"},\"finish_reason\":null}]}\n\n\
                data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                data: [DONE]\n\n";
    let server = serve(vec![Reply::sse(body.as_bytes(), 1)]).await;
    let (events, error) = collect(&*provider(Wire::Chat, &server.base_url)).await;
    assert_eq!(error, None);
    assert_eq!(text(&events), "caf\u{e9} \u{2615} \u{1f980}");
}

/// One stream per wire: a good event carrying "Hi", then an event whose JSON is broken.
fn broken_streams() -> Vec<(Wire, &'static str, String)> {
    vec![
        (
            Wire::Chat,
            "text/event-stream",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n\
             data: {\"choices\": [{\"index\": 0, \"delta\": \n\n"
                .to_owned(),
        ),
        (
            Wire::Anthropic,
            "text/event-stream",
            "event: message_start\n\
             data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
             event: content_block_start\n\
             data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
             event: content_block_delta\n\
             data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
             event: content_block_delta\n\
             data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\n\n"
                .to_owned(),
        ),
        (
            Wire::Responses,
            "text/event-stream",
            "event: response.output_text.delta\n\
             data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n\
             event: response.output_text.delta\n\
             data: {\"type\":\"response.output_text.delta\",\"delta\":\n\n"
                .to_owned(),
        ),
        (
            Wire::Gemini,
            "text/event-stream",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n\
             data: {\"candidates\": [{\"content\": \r\n\r\n"
                .to_owned(),
        ),
        (
            Wire::Ollama,
            "application/x-ndjson",
            "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n\
             {\"model\":\"m\",\"message\":{\"role\":\n"
                .to_owned(),
        ),
    ]
}

#[tokio::test]
async fn malformed_json_in_an_event_is_a_protocol_error_on_every_wire() {
    for (wire, content_type, body) in broken_streams() {
        let reply = Reply::new(200, content_type, body.into_bytes());
        let server = serve(vec![reply]).await;
        let (events, error) = collect(&*provider(wire, &server.base_url)).await;
        let error = error.unwrap_or_else(|| panic!("{wire:?}: no error for broken JSON"));
        assert_eq!(
            error.kind,
            ProviderErrorKind::Protocol,
            "{wire:?}: {error:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, StreamEvent::Finished(_))),
            "{wire:?}: a broken stream never finishes"
        );
        assert!(error.hint.is_some(), "{wire:?}: {error:?}");
    }
}

#[tokio::test]
async fn a_configured_thinking_budget_reaches_the_anthropic_request() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/anthropic/text_hello_sdk_fixture.sse"
    ))
    .unwrap();
    let mut server = serve(vec![Reply::sse(&body, body.len())]).await;
    let mut settings =
        ProviderSettings::new("anthropic", server.base_url.clone()).with_api_key("k");
    settings.wire = Wire::Anthropic;
    settings.thinking_budget = Some(2048);
    let provider = build_provider(settings).unwrap();
    let (_, error) = collect(&*provider).await;
    assert_eq!(error, None);
    let sent = server.requests.recv().await.unwrap().json();
    assert_eq!(sent["thinking"]["type"], "enabled");
    assert_eq!(sent["thinking"]["budget_tokens"], 2048);
}
