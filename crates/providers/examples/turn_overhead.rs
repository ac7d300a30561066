//! The client's own cost per model request, on loopback against the scripted server.
//!
//! `cargo run -p code-mesh-providers --example turn_overhead [-- TURNS]`
//!
//! For each setup it sends TURNS identical requests one after another and reports the median
//! and 95th percentile of the time from calling `stream()` to the first event and to the end
//! of the stream:
//! - `wire`: the bare OpenAI Chat wire;
//! - `chain`: the same wire behind retries, pricing and failover (what `run` uses, cache off);
//! - `cache hit`: the chain behind the response cache, every request a hit (no network).
//!
//! Both network setups include the scripted server's own work on the same machine, so the
//! difference `chain - wire` is the reliability layers' cost, and `cache hit` is the whole
//! client path with no HTTP at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use code_mesh_core::{ModelRequest, Provider, ResponseCache, StoreError};
use code_mesh_protocol::{Message, Part, Role};
use code_mesh_providers::{
    Candidate, Catalogue, ChainOptions, OpenAiChatProvider, ProviderSettings, RetryPolicy,
    reliable_provider,
};
use code_mesh_testkit::{Script, ScriptedServer, Turn};
use futures::StreamExt;

#[derive(Default)]
struct MemoryCache(Mutex<HashMap<String, String>>);

#[async_trait]
impl ResponseCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(key.into(), value.into());
        Ok(())
    }
}

fn request() -> ModelRequest {
    ModelRequest {
        model: "gpt-5-mini".into(),
        system: "You are a coding assistant. ".repeat(40),
        messages: vec![Message {
            seq: 1,
            role: Role::User,
            parts: vec![Part::Text {
                text: "Explain what this repository does.".into(),
            }],
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }],
        tools: vec![],
        temperature: Some(0.0),
        max_tokens: None,
    }
}

async fn server(turns: usize) -> ScriptedServer {
    let answer = "This repository holds a multi-agent coding assistant. ".repeat(20);
    let script: Script = (0..turns)
        .map(|_| Turn::reply(answer.clone()).with_usage(1200, 220))
        .collect();
    ScriptedServer::start(script).await.unwrap()
}

fn wire(base_url: &str) -> Arc<dyn Provider> {
    Arc::new(OpenAiChatProvider::new(ProviderSettings::new("openai", base_url)).unwrap())
}

/// `(first event, whole stream)` per request.
async fn measure(provider: &dyn Provider, turns: usize) -> Vec<(Duration, Duration)> {
    let mut times = Vec::with_capacity(turns);
    for _ in 0..turns {
        let start = Instant::now();
        let mut stream = provider.stream(request()).await.unwrap();
        let first = stream.next().await.unwrap().unwrap();
        let first_at = start.elapsed();
        std::hint::black_box(first);
        while let Some(item) = stream.next().await {
            item.unwrap();
        }
        times.push((first_at, start.elapsed()));
    }
    times
}

fn report(name: &str, times: &[(Duration, Duration)]) {
    let stat = |pick: fn(&(Duration, Duration)) -> Duration| {
        let mut values: Vec<Duration> = times.iter().map(pick).collect();
        values.sort();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.95))
    };
    let (first_median, first_p95) = stat(|t| t.0);
    let (total_median, total_p95) = stat(|t| t.1);
    println!(
        "{name:<10} first event: median {:>7.1} µs, p95 {:>7.1} µs | whole stream: median {:>7.1} µs, p95 {:>7.1} µs",
        first_median.as_secs_f64() * 1e6,
        first_p95.as_secs_f64() * 1e6,
        total_median.as_secs_f64() * 1e6,
        total_p95.as_secs_f64() * 1e6,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let turns: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let warmup = 20;

    let plain = server(turns + warmup).await;
    let provider = wire(&plain.base_url());
    measure(provider.as_ref(), warmup).await;
    report("wire", &measure(provider.as_ref(), turns).await);

    let chained = server(turns + warmup).await;
    let options = ChainOptions {
        retry: RetryPolicy::default(),
        catalogue: Some(Arc::new(Catalogue::builtin().clone())),
        cache: None,
    };
    let chain = reliable_provider(
        vec![Candidate::new(wire(&chained.base_url()), "gpt-5-mini")],
        options.clone(),
    )
    .unwrap();
    measure(chain.as_ref(), warmup).await;
    report("chain", &measure(chain.as_ref(), turns).await);

    let cached = server(1).await;
    let cache = reliable_provider(
        vec![Candidate::new(wire(&cached.base_url()), "gpt-5-mini")],
        ChainOptions {
            cache: Some(Arc::new(MemoryCache::default())),
            ..options
        },
    )
    .unwrap();
    measure(cache.as_ref(), 1).await;
    measure(cache.as_ref(), warmup).await;
    report("cache hit", &measure(cache.as_ref(), turns).await);
    assert_eq!(cached.requests().len(), 1);
}
