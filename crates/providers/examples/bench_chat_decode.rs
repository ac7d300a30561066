//! Stream parsing throughput of the OpenAI Chat Completions wire, for comparison with
//! `bench_responses_decode`.
//!
//! Run: `cargo run -p code-mesh-providers --release --example bench_chat_decode`
//!
//! Builds a large synthetic stream laid out like the live API's (`chat.completion.chunk`s
//! with `"usage":null` and `obfuscation` on every chunk, reasoning deltas as DeepSeek-style
//! servers send them, a long answer a word per chunk, then tool calls whose arguments arrive
//! six characters at a time, the usage chunk and `[DONE]`) and times the whole provider over
//! a loopback HTTP connection (the Chat decoder is internal to the crate, so it is measured
//! through the public provider).

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use code_mesh_core::{ModelRequest, Provider, StreamEvent};
use code_mesh_protocol::{Message, Part, Role};
use code_mesh_providers::{OpenAiChatProvider, ProviderSettings};
use futures::StreamExt;

#[path = "support/loopback.rs"]
mod loopback;

const WORDS: usize = 60_000;
const REASONING_WORDS: usize = 4_000;
const CALLS: usize = 300;
const ROUNDS: usize = 5;

fn obfuscation(n: usize, delta: &str) -> String {
    let length = 16usize.saturating_sub(delta.len()).max(3);
    (0..length)
        .map(|i| char::from(b'a' + ((n * 31 + i * 7) % 26) as u8))
        .collect()
}

fn synthetic_stream() -> (Vec<u8>, usize) {
    let mut out = String::new();
    let mut chunks = 0usize;
    let mut chunk = |delta: &str, finish: &str, obfuscation: &str| {
        out.push_str(&format!(
            r#"data: {{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1727346168,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_d0469e1700","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null,"obfuscation":"{obfuscation}"}}"#
        ));
        out.push_str("\n\n");
        chunks += 1;
    };
    chunk(
        r#"{"role":"assistant","content":"","refusal":null}"#,
        "null",
        "abc",
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
    for n in 0..REASONING_WORDS {
        let word = words[n % words.len()];
        chunk(
            &format!(r#"{{"reasoning_content":"{word}"}}"#),
            "null",
            &obfuscation(n, word),
        );
    }
    for n in 0..WORDS {
        let word = words[n % words.len()];
        chunk(
            &format!(r#"{{"content":"{word}"}}"#),
            "null",
            &obfuscation(n, word),
        );
    }
    let arguments = r#"{"path":"src/parser/blocks.rs","offset":120,"limit":400}"#;
    for call in 0..CALLS {
        chunk(
            &format!(
                r#"{{"tool_calls":[{{"index":{call},"id":"call_bench{call}","type":"function","function":{{"name":"read","arguments":""}}}}]}}"#
            ),
            "null",
            "abc",
        );
        for (n, piece) in arguments.as_bytes().chunks(6).enumerate() {
            let piece = String::from_utf8_lossy(piece).replace('"', "\\\"");
            chunk(
                &format!(
                    r#"{{"tool_calls":[{{"index":{call},"function":{{"arguments":"{piece}"}}}}]}}"#
                ),
                "null",
                &obfuscation(n, &piece),
            );
        }
    }
    chunk("{}", r#""tool_calls""#, "abc");
    out.push_str(
        r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1727346168,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_d0469e1700","choices":[],"usage":{"prompt_tokens":53,"completion_tokens":70000,"total_tokens":70053,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4000,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"xyz"}"#,
    );
    out.push_str("\n\ndata: [DONE]\n\n");
    (out.into_bytes(), chunks + 2)
}

fn check(events: &[StreamEvent]) -> Result<(), Box<dyn Error>> {
    let calls = events
        .iter()
        .filter(|event| matches!(event, StreamEvent::ToolCall(_)))
        .count();
    let deltas = events
        .iter()
        .filter(|event| matches!(event, StreamEvent::TextDelta(_)))
        .count();
    let usage = events
        .iter()
        .any(|event| matches!(event, StreamEvent::Usage(usage) if usage.output_tokens == 70_000));
    if calls != CALLS || deltas != WORDS || !usage {
        return Err(format!(
            "decoded {calls} calls, {deltas} text deltas, usage {usage}: not the whole stream"
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
        "synthetic Chat Completions stream: {:.1} MB, {events} events ({WORDS} text deltas, {REASONING_WORDS} reasoning deltas, {CALLS} calls)",
        body.len() as f64 / 1e6
    );
    let body = Arc::new(body);
    let base_url = loopback::serve_forever(Arc::clone(&body), 16 * 1024).await?;
    let provider = OpenAiChatProvider::new(ProviderSettings::new("openai", base_url))?;
    let request = ModelRequest {
        model: "gpt-4o-mini".into(),
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
