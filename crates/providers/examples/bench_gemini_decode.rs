//! Stream parsing throughput of Gemini's `streamGenerateContent?alt=sse` wire.
//!
//! Run: `cargo run -p code-mesh-providers --release --example bench_gemini_decode`
//!
//! Builds synthetic answers laid out like the recordings in `tests/fixtures/gemini/` (CRLF
//! event framing, `"key": value` spacing, a thought summary, text a few words per chunk with
//! `usageMetadata` on every chunk, function calls whole in the last chunk with a 1408-character
//! `thoughtSignature` on the first, `finishReason: "STOP"`) and feeds each to a fresh public
//! [`GeminiStreamDecoder`] in 16 KiB chunks, as a network read would deliver it: SSE framing,
//! JSON parsing and event assembly are all in the figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use code_mesh_core::StreamEvent;
use code_mesh_providers::{GeminiStreamDecoder, ProviderSettings};

/// Answers decoded per round, each its own body and decoder.
const ANSWERS: usize = 400;
const TEXT_WORDS: usize = 600;
const WORDS_PER_CHUNK: usize = 3;
const CALLS: usize = 3;
const ROUNDS: usize = 5;
const CHUNK: usize = 16 * 1024;

fn usage(prompt: u64, candidates: Option<u64>) -> String {
    match candidates {
        None => format!(
            r#""usageMetadata": {{"promptTokenCount": {prompt},"totalTokenCount": {prompt},"promptTokensDetails": [{{"modality": "TEXT","tokenCount": {prompt}}}]}}"#
        ),
        Some(candidates) => format!(
            r#""usageMetadata": {{"promptTokenCount": {prompt},"candidatesTokenCount": {candidates},"totalTokenCount": {},"promptTokensDetails": [{{"modality": "TEXT","tokenCount": {prompt}}}],"thoughtsTokenCount": 202}}"#,
            prompt + candidates + 202
        ),
    }
}

/// One recorded-shape answer: a thought summary, text, then calls.
fn answer(out: &mut String, n: usize) {
    let mut event = |candidate: &str, usage: &str| {
        out.push_str(r#"data: {"candidates": ["#);
        out.push_str(candidate);
        out.push_str("],");
        out.push_str(usage);
        out.push_str(&format!(
            r#","modelVersion": "gemini-2.5-flash","responseId": "bench{n:018}"}}"#
        ));
        out.push_str("\r\n\r\n");
    };
    let partial = usage(2048, None);
    event(
        r#"{"content": {"parts": [{"text": "**Planning the change**\n\nI'll read the parser first, then edit the nested block handling and run the tests.","thought": true}],"role": "model"},"index": 0}"#,
        &partial,
    );
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
    let mut text = String::new();
    for (i, word) in (0..TEXT_WORDS).map(|i| (i, words[i % words.len()])) {
        text.push_str(word);
        if (i + 1) % WORDS_PER_CHUNK == 0 {
            event(
                &format!(
                    r#"{{"content": {{"parts": [{{"text": "{text}"}}],"role": "model"}},"index": 0}}"#
                ),
                &partial,
            );
            text.clear();
        }
    }
    let signature: String = (0..1408)
        .map(|i| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(i * 7 + n) % 64],
            )
        })
        .collect();
    let calls: Vec<String> = (0..CALLS)
        .map(|c| {
            let call = format!(
                r#"{{"functionCall": {{"name": "edit","args": {{"path": "src/parser/block_{c}.rs","old_string": "fn parse(&mut self) {{\n    todo()\n}}","new_string": "fn parse(&mut self) -> Result<Block, Error> {{\n    self.stack.push(Frame::new());\n    Ok(Block::default())\n}}"}}}}"#
            );
            if c == 0 {
                format!(r#"{call},"thoughtSignature": "{signature}"}}"#)
            } else {
                format!("{call}}}")
            }
        })
        .collect();
    event(
        &format!(
            r#"{{"content": {{"parts": [{}],"role": "model"}},"finishReason": "STOP","index": 0}}"#,
            calls.join(",")
        ),
        &usage(2048, Some(900)),
    );
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
    let mut check = GeminiStreamDecoder::new(ProviderSettings::new("google", "http://bench"));
    let mut events = Vec::new();
    for chunk in bodies[0].chunks(CHUNK) {
        check.push(chunk, &mut events)?;
    }
    check.finish(&mut events)?;
    let calls = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCall(_)))
        .count();
    let signed = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCall(call) if call.signature.as_ref().is_some_and(|s| s.len() == 1408)))
        .count();
    assert_eq!((calls, signed), (CALLS, 1), "the bench stream must decode");
    assert!(matches!(events.last(), Some(StreamEvent::Usage(_))));

    let mut best = Duration::MAX;
    let mut event_count = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        event_count = 0;
        for body in &bodies {
            let mut decoder =
                GeminiStreamDecoder::new(ProviderSettings::new("google", "http://bench"));
            let mut events = Vec::with_capacity(256);
            for chunk in body.chunks(CHUNK) {
                decoder.push(chunk, &mut events)?;
            }
            decoder.finish(&mut events)?;
            event_count += events.len();
            black_box(&events);
        }
        best = best.min(started.elapsed());
    }
    let seconds = best.as_secs_f64();
    println!(
        "gemini streamGenerateContent decode: {:.1} MB in {:.1} ms (best of {ROUNDS}) = {:.0} MB/s, {:.2} M events/s ({} answers, {} events each)",
        bytes as f64 / 1e6,
        seconds * 1e3,
        bytes as f64 / 1e6 / seconds,
        event_count as f64 / 1e6 / seconds,
        ANSWERS,
        event_count / ANSWERS,
    );
    Ok(())
}
