//! `grep` and `glob` over a large tree, timed the way a session calls them (through the `Tool`
//! trait, output rendered), for comparison with ripgrep on the same tree
//! (`bench/search_vs_rg.sh` runs this and `rg`, and prints the ratios).
//!
//! Usage: `cargo run --release -p code-mesh-tools --example search_bench -- <tree> [runs]`
//!
//! Each case runs once to warm the page cache, then `runs` times (default 7); the median wall
//! time is printed as `RESULT <case> <milliseconds> <result lines>`. The cases and their `rg`
//! equivalents (same filters: .gitignore honoured outside git repositories, hidden files
//! skipped; the tool runs in-process, `rg` as a process, so its start-up is in its time):
//!
//! | case | tool call | rg |
//! |---|---|---|
//! | grep-literal | `grep {pattern: "EAGAIN", max_results: 2000}` | `rg --no-require-git -n EAGAIN` |
//! | grep-regex | `grep {pattern: "impl\s+Drop\s+for", max_results: 2000}` | `rg --no-require-git -n 'impl\s+Drop\s+for'` |
//! | glob-rs | `glob {pattern: "**/*.rs"}` | `rg --no-require-git --files -g '*.rs'` |
//! | glob-cargo-toml | `glob {pattern: "**/Cargo.toml"}` | `rg --no-require-git --files -g Cargo.toml` |
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use code_mesh_core::{
    CancellationToken, FileTracker, SandboxPolicy, ToolContext, ToolLimits, ToolOutputSink,
};
use serde_json::{Value, json};

fn context(root: PathBuf) -> ToolContext {
    ToolContext {
        session_id: Default::default(),
        workspace: root.clone(),
        cwd: root,
        allowed_paths: Vec::new(),
        call_id: "bench".into(),
        cancel: CancellationToken::new(),
        limits: ToolLimits::default(),
        sandbox: SandboxPolicy {
            mode: code_mesh_protocol::SandboxMode::Off,
            ..SandboxPolicy::default()
        },
        files: Arc::new(FileTracker::new()),
        output: ToolOutputSink::discard(),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(tree) = args.next() else {
        eprintln!("usage: search_bench <tree> [runs]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(7);
    let root = std::fs::canonicalize(&tree).unwrap();
    let context = context(root);
    let registry = code_mesh_tools::builtin_tools();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases: [(&str, &str, Value); 4] = [
        (
            "grep-literal",
            "grep",
            json!({"pattern": "EAGAIN", "max_results": 2000}),
        ),
        (
            "grep-regex",
            "grep",
            json!({"pattern": r"impl\s+Drop\s+for", "max_results": 2000}),
        ),
        ("glob-rs", "glob", json!({"pattern": "**/*.rs"})),
        (
            "glob-cargo-toml",
            "glob",
            json!({"pattern": "**/Cargo.toml"}),
        ),
    ];
    for (case, tool, arguments) in cases {
        let tool = registry.get(tool).unwrap();
        let call = || {
            let started = Instant::now();
            let output = runtime
                .block_on(tool.call(arguments.clone(), &context))
                .unwrap();
            (started.elapsed(), output.text)
        };
        let (_, text) = call();
        let mut times: Vec<Duration> = (0..runs).map(|_| call().0).collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "RESULT {case} {:.1} {}",
            median.as_secs_f64() * 1000.0,
            text.lines().count()
        );
    }
}
