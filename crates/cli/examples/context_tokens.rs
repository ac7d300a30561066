//! How good the context manager's token estimate is next to tiktoken, and what counting
//! costs. Run from the workspace root:
//!
//! ```sh
//! cargo run --release -p code-mesh --example context_tokens
//! ```
//!
//! Prints, per text: bytes, o200k_base and cl100k_base counts, the estimate and its error;
//! then the time to load the encodings and to count a history of about 100,000 tokens.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use code_mesh_core::{Estimator, TokenCounter};
use code_mesh_providers::{Encoding, Tiktoken};

const JAPANESE: &str = "コードメッシュは、複数のエージェントが協力してソフトウェアを書くためのツールです。\
    各エージェントはリポジトリを読み、テストを実行し、変更を提案します。文脈が長くなると、古い出力を\
    削除し、会話を要約して、モデルの文脈窓に収まるようにします。";

fn read(path: &str, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| {
        eprintln!("cannot read {path} ({error}); run from the workspace root");
        std::process::exit(1)
    });
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn main() {
    let started = Instant::now();
    let o200k = Tiktoken::new(Encoding::O200kBase);
    o200k.load();
    let o200k_load = started.elapsed();
    let started = Instant::now();
    let cl100k = Tiktoken::new(Encoding::Cl100kBase);
    cl100k.load();
    let cl100k_load = started.elapsed();
    println!("load o200k_base: {o200k_load:.2?}, cl100k_base: {cl100k_load:.2?}\n");

    let tool_specs = serde_json::to_string(
        &code_mesh_tools::builtin_tools()
            .specs()
            .iter()
            .map(|spec| {
                serde_json::json!({"name": spec.name, "description": spec.description, "parameters": spec.parameters})
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let texts: Vec<(&str, String)> = vec![
        (
            "Rust source (turn.rs)",
            read("crates/core/src/turn.rs", 200_000),
        ),
        ("Markdown prose (README.md)", read("README.md", 200_000)),
        ("architecture.md", read("docs/architecture.md", 200_000)),
        (
            "JSON (model catalogue)",
            read("crates/providers/data/model-catalogue.json", 200_000),
        ),
        ("tool specs JSON", tool_specs),
        (
            "system prompt",
            code_mesh_core::base_system_prompt().to_owned(),
        ),
        ("Japanese prose", JAPANESE.repeat(20)),
    ];
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "text", "bytes", "o200k", "cl100k", "estimate", "vs o200k", "vs cl100k"
    );
    for (name, text) in &texts {
        let exact = o200k.count(text);
        let older = cl100k.count(text);
        let estimate = Estimator.count(text);
        println!(
            "{name:<28} {:>8} {exact:>8} {older:>8} {estimate:>8} {:>+6.1}% {:>+6.1}%",
            text.len(),
            (estimate as f64 / exact as f64 - 1.0) * 100.0,
            (estimate as f64 / older as f64 - 1.0) * 100.0,
        );
    }

    // A history of about 100k tokens: source, prose and JSON in messages of a few KB.
    let mut pieces: Vec<String> = Vec::new();
    let mut total = 0;
    let sources: Vec<&String> = texts.iter().map(|(_, text)| text).collect();
    'fill: loop {
        for source in &sources {
            for chunk in source.as_bytes().chunks(3000) {
                let piece = String::from_utf8_lossy(chunk).into_owned();
                total += o200k.count(&piece);
                pieces.push(piece);
                if total >= 100_000 {
                    break 'fill;
                }
            }
        }
    }
    let bytes: usize = pieces.iter().map(String::len).sum();
    println!(
        "\nhistory: {} messages, {bytes} bytes, {total} o200k tokens",
        pieces.len()
    );
    for (name, counter) in [
        ("estimate", &Estimator as &dyn TokenCounter),
        ("tiktoken o200k_base", &o200k),
        ("tiktoken cl100k_base", &cl100k),
    ] {
        let runs = 5;
        let started = Instant::now();
        let mut counted = 0;
        for _ in 0..runs {
            counted = pieces.iter().map(|piece| counter.count(piece)).sum::<u64>();
        }
        let each = started.elapsed() / runs;
        println!("count the whole history with {name:<22}: {each:>10.2?} ({counted} tokens)");
    }
}
