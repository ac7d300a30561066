//! Stream parsing throughput of the Anthropic Messages wire.
//!
//! Run: `cargo run -p code-mesh-providers --release --example bench_anthropic_decode`
//!
//! Builds a large synthetic stream laid out like the recordings in
//! `tests/fixtures/anthropic/` (the live API's field order and space padding before the last
//! `}`, a `ping`, thinking deltas closed by a 504-character `signature_delta`, text a word
//! per `text_delta`, `tool_use` blocks whose input arrives in `input_json_delta` fragments
//! of a few characters, `message_delta` with usage, `message_stop`) and feeds it to the
//! public [`AnthropicStreamDecoder`] in 16 KiB chunks, as a network read would deliver it:
//! SSE framing, JSON parsing and event assembly are all in the figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use code_mesh_core::StreamEvent;
use code_mesh_providers::{AnthropicStreamDecoder, ProviderSettings};

/// Answers decoded per round, each its own body and decoder.
const MESSAGES: usize = 400;
const THINKING_WORDS: usize = 150;
const TEXT_WORDS: usize = 600;
const CALLS: usize = 3;
const ROUNDS: usize = 5;
const CHUNK: usize = 16 * 1024;

/// One recorded-shape answer: thinking, text, tool calls.
fn message(out: &mut String, n: usize) {
    let mut event = |name: &str, data: &str, padding: usize| {
        // The live API pads most payloads with spaces before the final `}`.
        let (body, last) = data.split_at(data.len() - 1);
        out.push_str("event: ");
        out.push_str(name);
        out.push_str("\ndata: ");
        out.push_str(body);
        out.push_str(&" ".repeat(padding));
        out.push_str(last);
        out.push_str("\n\n");
    };
    event(
        "message_start",
        &format!(
            r#"{{"type":"message_start","message":{{"model":"claude-sonnet-4-5-20250929","id":"msg_bench{n:016}","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":2048,"cache_creation_input_tokens":0,"cache_read_input_tokens":18000,"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}},"output_tokens":1,"service_tier":"standard","inference_geo":"not_available"}}}}}}"#
        ),
        12,
    );
    event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        10,
    );
    // The real `ping` is unpadded and has spaces.
    event("ping", r#"{"type": "ping"}"#, 0);
    let words = [
        "The",
        " parser",
        " reads",
        " nested",
        " blocks",
        " and",
        " résumés",
        " 🌍",
        " safely",
        "\\n\\n**Step",
    ];
    for i in 0..THINKING_WORDS {
        let word = words[(i + n) % words.len()];
        event(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"thinking_delta","thinking":"{word}"}}}}"#
            ),
            (i * 7) % 16,
        );
    }
    let signature: String = (0..504)
        .map(|i| {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            char::from(alphabet[(i * 37 + n) % alphabet.len()])
        })
        .collect();
    event(
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"signature_delta","signature":"{signature}"}}}}"#
        ),
        4,
    );
    event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
        8,
    );
    event(
        "content_block_start",
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        8,
    );
    for i in 0..TEXT_WORDS {
        let word = words[(i + 3 * n) % words.len()];
        event(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":1,"delta":{{"type":"text_delta","text":"{word}"}}}}"#
            ),
            (i * 5) % 16,
        );
    }
    event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":1}"#,
        8,
    );
    let input = r#"{"path": "src/parser/blocks.rs", "offset": 120, "limit": 400}"#;
    for call in 0..CALLS {
        let index = 2 + call;
        event(
            "content_block_start",
            &format!(
                r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":"toolu_bench{n:06}{call:02}","name":"read","input":{{}}}}}}"#
            ),
            6,
        );
        let pieces = std::iter::once(String::new()).chain(
            input
                .as_bytes()
                .chunks(7)
                .map(|piece| String::from_utf8_lossy(piece).replace('"', "\\\"")),
        );
        for piece in pieces {
            event(
                "content_block_delta",
                &format!(
                    r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":"{piece}"}}}}"#
                ),
                3,
            );
        }
        event(
            "content_block_stop",
            &format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
            8,
        );
    }
    event(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":2048,"cache_creation_input_tokens":0,"cache_read_input_tokens":18000,"output_tokens":1234}}"#,
        7,
    );
    event("message_stop", r#"{"type":"message_stop"}"#, 4);
}

fn main() {
    let bodies: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|n| {
            let mut body = String::new();
            message(&mut body, n);
            body.into_bytes()
        })
        .collect();
    let total_bytes: usize = bodies.iter().map(Vec::len).sum();
    let settings = ProviderSettings::new("anthropic", "https://api.anthropic.com");

    let mut best = Duration::MAX;
    let mut events_per_round = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut events = 0usize;
        let mut out: Vec<StreamEvent> = Vec::with_capacity(1024);
        for body in &bodies {
            let mut decoder = AnthropicStreamDecoder::new(settings.clone());
            for chunk in body.chunks(CHUNK) {
                if let Err(error) = decoder.push(chunk, &mut out) {
                    eprintln!("decoding failed: {error}");
                    std::process::exit(1);
                }
                events += out.len();
                black_box(&out);
                out.clear();
            }
            if let Err(error) = decoder.finish(&mut out) {
                eprintln!("decoding failed: {error}");
                std::process::exit(1);
            }
            events += out.len();
            out.clear();
        }
        best = best.min(started.elapsed());
        events_per_round = events;
    }
    let megabytes = total_bytes as f64 / 1_000_000.0;
    let seconds = best.as_secs_f64();
    println!(
        "anthropic decode: {megabytes:.1} MB in {MESSAGES} messages, {events_per_round} events, \
         best of {ROUNDS}: {:.1} ms = {:.0} MB/s ({:.2} M events/s)",
        seconds * 1000.0,
        megabytes / seconds,
        events_per_round as f64 / seconds / 1_000_000.0,
    );
}
