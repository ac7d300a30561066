//! Stream parsing throughput of Ollama's `/api/chat` wire.
//!
//! Run: `cargo run -p code-mesh-providers --release --example bench_ollama_decode`
//!
//! Builds synthetic answers laid out like the recordings in `tests/fixtures/ollama/` (one
//! compact JSON object per line, `created_at` with 7 fractional digits, thinking then text a
//! token per line, tool calls whole in one line with object arguments, a last `done: true`
//! line with the durations and counts) and feeds each to a fresh public
//! [`OllamaStreamDecoder`] in 16 KiB chunks, as a network read would deliver it: line
//! splitting, JSON parsing and event assembly are all in the figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use code_mesh_core::StreamEvent;
use code_mesh_providers::{OllamaStreamDecoder, ProviderSettings};

/// Answers decoded per round, each its own body and decoder.
const ANSWERS: usize = 400;
const THINKING_TOKENS: usize = 150;
const TEXT_TOKENS: usize = 600;
const CALLS: usize = 3;
const ROUNDS: usize = 5;
const CHUNK: usize = 16 * 1024;

fn created_at(n: usize) -> String {
    format!(
        "2024-10-01T16:{:02}:{:02}.{:07}Z",
        (n / 60) % 60,
        n % 60,
        (n * 7_919) % 10_000_000
    )
}

/// One recorded-shape answer: thinking, text, tool calls, done.
fn answer(out: &mut String, n: usize) {
    let words = [
        "The",
        " parser",
        " reads",
        " nested",
        " blocks",
        " and",
        " keeps",
        " the",
        " state",
        " in",
        " a",
        " small",
        " stack;",
        " é",
        " →",
        " 世界",
        "\\n",
        " `code`",
        " \\\"q\\\"",
    ];
    let mut line = 0usize;
    let mut push = |message: &str| {
        out.push_str(&format!(
            r#"{{"model":"qwen3-coder:30b","created_at":"{}","message":{message},"done":false}}"#,
            created_at(n + line)
        ));
        out.push('\n');
        line += 1;
    };
    for i in 0..THINKING_TOKENS {
        push(&format!(
            r#"{{"role":"assistant","content":"","thinking":"{}"}}"#,
            words[i % words.len()]
        ));
    }
    for i in 0..TEXT_TOKENS {
        push(&format!(
            r#"{{"role":"assistant","content":"{}"}}"#,
            words[(i + 3) % words.len()]
        ));
    }
    let calls: Vec<String> = (0..CALLS)
        .map(|c| {
            format!(
                r#"{{"function":{{"name":"edit","arguments":{{"path":"src/parser/block_{c}.rs","old_string":"fn parse(&mut self) {{\n    todo()\n}}","new_string":"fn parse(&mut self) -> Result<Block, Error> {{\n    self.stack.push(Frame::new());\n    Ok(Block::default())\n}}"}}}}}}"#
            )
        })
        .collect();
    push(&format!(
        r#"{{"role":"assistant","content":"","tool_calls":[{}]}}"#,
        calls.join(",")
    ));
    out.push_str(&format!(
        r#"{{"model":"qwen3-coder:30b","created_at":"{}","message":{{"role":"assistant","content":""}},"done_reason":"stop","done":true,"total_duration":11912402900,"load_duration":6824559200,"prompt_eval_count":2048,"prompt_eval_duration":1329601000,"eval_count":{},"eval_duration":3754262000}}"#,
        created_at(n + THINKING_TOKENS + TEXT_TOKENS + 1),
        THINKING_TOKENS + TEXT_TOKENS + 60
    ));
    out.push('\n');
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bodies: Vec<Vec<u8>> = (0..ANSWERS)
        .map(|n| {
            let mut body = String::new();
            answer(&mut body, n);
            body.into_bytes()
        })
        .collect();
    let bytes: usize = bodies.iter().map(Vec::len).sum();

    // Check once that the stream decodes to what was built.
    let mut check = OllamaStreamDecoder::new(ProviderSettings::new("ollama", "http://bench"));
    let mut events = Vec::new();
    for chunk in bodies[0].chunks(CHUNK) {
        check.push(chunk, &mut events)?;
    }
    check.finish(&mut events)?;
    let calls = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCall(_)))
        .count();
    assert_eq!(calls, CALLS, "the bench stream must decode");
    assert_eq!(events.len(), THINKING_TOKENS + TEXT_TOKENS + CALLS + 2);

    let mut best = Duration::MAX;
    let mut event_count = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        event_count = 0;
        for body in &bodies {
            let mut decoder =
                OllamaStreamDecoder::new(ProviderSettings::new("ollama", "http://bench"));
            let mut events = Vec::with_capacity(1024);
            for chunk in body.chunks(CHUNK) {
                decoder.push(chunk, &mut events)?;
                if decoder.is_done() {
                    break;
                }
            }
            decoder.finish(&mut events)?;
            event_count += events.len();
            black_box(&events);
        }
        best = best.min(started.elapsed());
    }
    let seconds = best.as_secs_f64();
    println!(
        "ollama /api/chat decode: {:.1} MB in {:.1} ms (best of {ROUNDS}) = {:.0} MB/s, {:.2} M events/s ({} answers, {} events each)",
        bytes as f64 / 1e6,
        seconds * 1e3,
        bytes as f64 / 1e6 / seconds,
        event_count as f64 / 1e6 / seconds,
        ANSWERS,
        event_count / ANSWERS,
    );
    Ok(())
}
