//! Stream parsing throughput of the OpenAI Responses wire.
//!
//! Run: `cargo run -p code-mesh-providers --release --example bench_responses_decode`
//!
//! Builds a large synthetic stream laid out like the live API's (typed events with
//! `sequence_number`, `obfuscation` padding on every delta, a reasoning item with a streamed
//! summary and a 4 KB `encrypted_content`, a long answer streamed a word per event, then
//! function calls whose arguments arrive six characters at a time), and measures:
//!
//! - the decoder alone (SSE framing and event decoding, in memory, 16 KB chunks), and
//! - the whole provider over a loopback HTTP connection (`POST /v1/responses`, chunked body).

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use code_mesh_core::{ModelRequest, Provider, StreamEvent};
use code_mesh_protocol::{Message, Part, Role};
use code_mesh_providers::openai_responses::decode_stream;
use code_mesh_providers::{OpenAiResponsesProvider, ProviderSettings};
use futures::StreamExt;

#[path = "support/loopback.rs"]
mod loopback;

const WORDS: usize = 60_000;
const SUMMARY_WORDS: usize = 4_000;
const CALLS: usize = 300;
const ROUNDS: usize = 5;

/// A deterministic obfuscation string, as long as the API's for a delta of this size.
fn obfuscation(n: usize, delta: &str) -> String {
    let length = 16usize.saturating_sub(delta.len()).max(3);
    (0..length)
        .map(|i| char::from(b'a' + ((n * 31 + i * 7) % 26) as u8))
        .collect()
}

fn event(out: &mut String, kind: &str, json: &str) {
    out.push_str("event: ");
    out.push_str(kind);
    out.push_str("\ndata: ");
    out.push_str(json);
    out.push_str("\n\n");
}

fn synthetic_stream() -> (Vec<u8>, usize) {
    let mut out = String::new();
    let mut seq = 0usize;
    let mut next = || {
        seq += 1;
        seq - 1
    };
    let response = |status: &str, usage: &str| {
        format!(
            r#"{{"id":"resp_bench","object":"response","created_at":1758034836,"status":"{status}","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":"gpt-5-2025-08-07","output":[],"parallel_tool_calls":true,"previous_response_id":null,"prompt_cache_key":null,"reasoning":{{"effort":"low","summary":"auto"}},"safety_identifier":null,"service_tier":"default","store":false,"temperature":1.0,"text":{{"format":{{"type":"text"}},"verbosity":"medium"}},"tool_choice":"auto","tools":[],"top_logprobs":0,"top_p":1.0,"truncation":"disabled","usage":{usage},"user":null,"metadata":{{}}}}"#
        )
    };
    for kind in ["response.created", "response.in_progress"] {
        let json = format!(
            r#"{{"type":"{kind}","sequence_number":{},"response":{}}}"#,
            next(),
            response("in_progress", "null")
        );
        event(&mut out, kind, &json);
    }
    let encrypted: String = (0..4096)
        .map(|i| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i * 13 % 64],
            )
        })
        .collect();
    event(
        &mut out,
        "response.output_item.added",
        &format!(
            r#"{{"type":"response.output_item.added","sequence_number":{},"output_index":0,"item":{{"id":"rs_bench","type":"reasoning","encrypted_content":"{}","summary":[]}}}}"#,
            next(),
            &encrypted[..824]
        ),
    );
    let words = [
        "The",
        " parser",
        " reads",
        " nested",
        " blocks",
        " and",
        " résumés",
        " 🌍",
    ];
    let mut summary = String::new();
    for n in 0..SUMMARY_WORDS {
        let word = words[n % words.len()];
        summary.push_str(word);
        let seq = next();
        event(
            &mut out,
            "response.reasoning_summary_text.delta",
            &format!(
                r#"{{"type":"response.reasoning_summary_text.delta","sequence_number":{seq},"item_id":"rs_bench","output_index":0,"summary_index":0,"delta":"{word}","obfuscation":"{}"}}"#,
                obfuscation(seq, word)
            ),
        );
    }
    event(
        &mut out,
        "response.output_item.done",
        &format!(
            r#"{{"type":"response.output_item.done","sequence_number":{},"output_index":0,"item":{{"id":"rs_bench","type":"reasoning","encrypted_content":"{encrypted}","summary":[{{"type":"summary_text","text":"{summary}"}}]}}}}"#,
            next()
        ),
    );
    let mut text = String::new();
    for n in 0..WORDS {
        let word = words[n % words.len()];
        text.push_str(word);
        let seq = next();
        event(
            &mut out,
            "response.output_text.delta",
            &format!(
                r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"msg_bench","output_index":1,"content_index":0,"delta":"{word}","logprobs":[],"obfuscation":"{}"}}"#,
                obfuscation(seq, word)
            ),
        );
    }
    event(
        &mut out,
        "response.output_text.done",
        &format!(
            r#"{{"type":"response.output_text.done","sequence_number":{},"item_id":"msg_bench","output_index":1,"content_index":0,"text":"{text}","logprobs":[]}}"#,
            next()
        ),
    );
    let arguments = r#"{\"path\":\"src/parser/blocks.rs\",\"offset\":120,\"limit\":400}"#;
    for call in 0..CALLS {
        let id = format!("fc_bench{call}");
        let index = call + 2;
        event(
            &mut out,
            "response.output_item.added",
            &format!(
                r#"{{"type":"response.output_item.added","sequence_number":{},"output_index":{index},"item":{{"id":"{id}","type":"function_call","status":"in_progress","arguments":"","call_id":"call_bench{call}","name":"read"}}}}"#,
                next()
            ),
        );
        let plain = arguments.replace("\\\"", "\"");
        for piece in plain.as_bytes().chunks(6) {
            let piece = String::from_utf8_lossy(piece).replace('"', "\\\"");
            let seq = next();
            event(
                &mut out,
                "response.function_call_arguments.delta",
                &format!(
                    r#"{{"type":"response.function_call_arguments.delta","sequence_number":{seq},"item_id":"{id}","output_index":{index},"delta":"{piece}","obfuscation":"{}"}}"#,
                    obfuscation(seq, &piece)
                ),
            );
        }
        event(
            &mut out,
            "response.output_item.done",
            &format!(
                r#"{{"type":"response.output_item.done","sequence_number":{},"output_index":{index},"item":{{"id":"{id}","type":"function_call","status":"completed","arguments":"{arguments}","call_id":"call_bench{call}","name":"read"}}}}"#,
                next()
            ),
        );
    }
    let usage = r#"{"input_tokens":53,"input_tokens_details":{"cached_tokens":0},"output_tokens":70000,"output_tokens_details":{"reasoning_tokens":4000},"total_tokens":70053}"#;
    let seq = next();
    event(
        &mut out,
        "response.completed",
        &format!(
            r#"{{"type":"response.completed","sequence_number":{seq},"response":{}}}"#,
            response("completed", usage)
        ),
    );
    (out.into_bytes(), seq + 1)
}

/// Checks that the decode saw the whole answer, so the timing measures real work.
fn check(events: &[StreamEvent]) -> Result<(), Box<dyn Error>> {
    let calls = events
        .iter()
        .filter(|event| matches!(event, StreamEvent::ToolCall(_)))
        .count();
    let deltas = events
        .iter()
        .filter(|event| matches!(event, StreamEvent::TextDelta(_)))
        .count();
    let reasoning = events
        .iter()
        .any(|event| matches!(event, StreamEvent::Reasoning { signature: Some(s), .. } if s.len() == 4096));
    if calls != CALLS || deltas != WORDS || !reasoning {
        return Err(format!(
            "decoded {calls} calls, {deltas} text deltas, reasoning {reasoning}: not the whole stream"
        )
        .into());
    }
    Ok(())
}

fn report(label: &str, bytes: usize, events: usize, times: &mut [Duration]) {
    times.sort();
    let best = times[0].as_secs_f64();
    let median = times[times.len() / 2].as_secs_f64();
    let megabytes = bytes as f64 / 1e6;
    println!(
        "{label:<34} best {:>7.1} MB/s  median {:>7.1} MB/s  ({:.2} M events/s best)",
        megabytes / best,
        megabytes / median,
        events as f64 / best / 1e6,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let (body, events) = synthetic_stream();
    println!(
        "synthetic Responses stream: {:.1} MB, {events} events ({WORDS} text deltas, {SUMMARY_WORDS} summary deltas, {CALLS} calls)",
        body.len() as f64 / 1e6
    );
    let settings = ProviderSettings::new("openai", "http://127.0.0.1:1/v1");

    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let decoded = decode_stream(&settings, body.chunks(16 * 1024))?;
        times.push(started.elapsed());
        check(&decoded)?;
    }
    report(
        "decoder (in memory, 16 KB chunks)",
        body.len(),
        events,
        &mut times,
    );

    let body = Arc::new(body);
    let base_url = loopback::serve_forever(Arc::clone(&body), 16 * 1024).await?;
    let provider = OpenAiResponsesProvider::new(ProviderSettings::new("openai", base_url))?;
    let request = ModelRequest {
        model: "gpt-5".into(),
        system: String::new(),
        messages: vec![Message {
            seq: 1,
            role: Role::User,
            parts: vec![Part::Text { text: "go".into() }],
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }],
        tools: vec![],
        temperature: None,
        max_tokens: None,
    };
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut stream = provider.stream(request.clone()).await?;
        let mut decoded = Vec::new();
        while let Some(event) = stream.next().await {
            decoded.push(event?);
        }
        times.push(started.elapsed());
        check(&decoded)?;
    }
    report(
        "provider over loopback HTTP",
        body.len(),
        events,
        &mut times,
    );
    Ok(())
}
