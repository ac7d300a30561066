//! Retries, failover, costs and the response cache, over real HTTP against the scripted
//! server. Waits are real but short; no test asserts on wall time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{
    FinishReason, ModelRequest, Provider, ProviderError, ProviderErrorKind, ResponseCache,
    StoreError, StreamEvent,
};
use code_mesh_protocol::{Message, Part, Role};
use code_mesh_providers::{
    CachingProvider, Candidate, Catalogue, ChainOptions, FailoverProvider, OpenAiChatProvider,
    PricedProvider, ProviderSettings, RetryPolicy, RetryingProvider, reliable_provider,
};
use code_mesh_testkit::{Script, ScriptedServer, Turn};
use futures::StreamExt;
use pretty_assertions::assert_eq;

use crate::server::refused_base_url;

const QUOTA_429: &str = include_str!("../fixtures/openai-chat/error_429_insufficient_quota.json");

/// Short waits, so the tests stay fast whatever the jitter draws.
fn quick(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        ..RetryPolicy::default()
    }
}

fn wire(name: &str, base_url: &str) -> Arc<dyn Provider> {
    Arc::new(OpenAiChatProvider::new(ProviderSettings::new(name, base_url)).unwrap())
}

fn retrying(name: &str, base_url: &str, policy: RetryPolicy) -> Arc<dyn Provider> {
    Arc::new(RetryingProvider::new(wire(name, base_url), policy))
}

fn request(text: &str, temperature: Option<f32>) -> ModelRequest {
    ModelRequest {
        model: "gpt-5-mini".into(),
        system: "Be brief.".into(),
        messages: vec![Message {
            seq: 1,
            role: Role::User,
            parts: vec![Part::Text { text: text.into() }],
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }],
        tools: vec![],
        temperature,
        max_tokens: None,
    }
}

fn hello() -> ModelRequest {
    request("Hello", None)
}

/// Every event of the stream, and the error that ended it if any.
async fn collect(
    provider: &dyn Provider,
    request: ModelRequest,
) -> (Vec<StreamEvent>, Option<ProviderError>) {
    let mut stream = match provider.stream(request).await {
        Ok(stream) => stream,
        Err(error) => return (Vec::new(), Some(error)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(stream.next().await.is_none(), "the stream ends at an error");
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

fn text(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::TextDelta(delta) => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

/// `(attempt, delay_ms)` of each retry event.
fn retries(events: &[StreamEvent]) -> Vec<(u32, u64)> {
    events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Retry {
                attempt, delay_ms, ..
            } => Some((*attempt, *delay_ms)),
            _ => None,
        })
        .collect()
}

async fn start(turns: Vec<Turn>) -> ScriptedServer {
    ScriptedServer::start(turns.into_iter().collect::<Script>())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_429_with_retry_after_waits_what_the_server_asked_then_succeeds() {
    let server = start(vec![
        Turn::error(429).with_header("retry-after", "1"),
        Turn::reply("Hi!"),
    ])
    .await;
    let provider = retrying("openai", &server.base_url(), quick(3));
    let (events, error) = collect(provider.as_ref(), hello()).await;
    assert_eq!(error, None);
    assert_eq!(retries(&events), [(1, 1000)]);
    let StreamEvent::Retry {
        provider, message, ..
    } = &events[0]
    else {
        panic!("the retry comes first: {events:?}");
    };
    assert_eq!(provider, "openai");
    assert!(message.contains("rate limiting"), "{message}");
    assert_eq!(text(&events), "Hi!");
    assert_eq!(server.requests().len(), 2);
    server.verify().unwrap();
}

#[tokio::test]
async fn retry_after_ms_wins_over_retry_after() {
    let server = start(vec![
        Turn::error(429)
            .with_header("retry-after", "30")
            .with_header("retry-after-ms", "40"),
        Turn::reply("Hi!"),
    ])
    .await;
    let provider = retrying("openai", &server.base_url(), quick(1));
    let (events, error) = collect(provider.as_ref(), hello()).await;
    assert_eq!(error, None);
    assert_eq!(retries(&events), [(1, 40)]);
}

#[tokio::test]
async fn server_errors_and_overload_are_retried_with_backoff() {
    for status in [500, 502, 503, 529, 408, 409] {
        let server = start(vec![
            Turn::error(status),
            Turn::error(status),
            Turn::reply("Recovered."),
        ])
        .await;
        let provider = retrying("openai", &server.base_url(), quick(3));
        let (events, error) = collect(provider.as_ref(), hello()).await;
        assert_eq!(error, None, "HTTP {status}");
        let retries = retries(&events);
        assert_eq!(retries.len(), 2, "HTTP {status}: {events:?}");
        assert!(retries[0].1 <= 20 && retries[1].1 <= 40, "{retries:?}");
        assert_eq!(text(&events), "Recovered.");
        assert_eq!(server.requests().len(), 3);
    }
}

#[tokio::test]
async fn retries_stop_after_the_budget_with_the_last_error() {
    let server = start(vec![Turn::error(503), Turn::error(503), Turn::error(503)]).await;
    let provider = retrying("openai", &server.base_url(), quick(2));
    let (events, error) = collect(provider.as_ref(), hello()).await;
    assert_eq!(retries(&events).len(), 2);
    let error = error.unwrap();
    assert_eq!(
        (error.kind, error.status),
        (ProviderErrorKind::Server, Some(503))
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn an_exhausted_quota_is_never_retried() {
    let server = start(vec![
        Turn::error(429)
            .with_body(QUOTA_429)
            .with_header("retry-after", "1"),
    ])
    .await;
    let provider = retrying("openai", &server.base_url(), quick(3));
    let (events, error) = collect(provider.as_ref(), hello()).await;
    assert_eq!(events, []);
    let error = error.unwrap();
    assert_eq!(error.kind, ProviderErrorKind::RateLimited);
    assert!(error.message.contains("out of quota"), "{}", error.message);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn bad_requests_and_rejected_keys_are_not_retried() {
    for status in [400, 401, 404] {
        let server = start(vec![Turn::error(status)]).await;
        let provider = retrying("openai", &server.base_url(), quick(3));
        let (events, error) = collect(provider.as_ref(), hello()).await;
        assert_eq!((events, error.unwrap().status), (vec![], Some(status)));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_stream_cut_after_content_is_not_retried() {
    let server = start(vec![
        Turn::reply("The first half and the second half.").with_cut_after(2),
        Turn::reply("Never asked for."),
    ])
    .await;
    let provider = retrying("openai", &server.base_url(), quick(3));
    let (events, error) = collect(provider.as_ref(), hello()).await;
    assert_eq!(retries(&events), []);
    assert!(!text(&events).is_empty(), "{events:?}");
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_cut_before_any_content_is_retried() {
    let server = start(vec![
        Turn::reply("Lost.").with_cut_after(0),
        Turn::reply("Whole."),
    ])
    .await;
    let provider = retrying("openai", &server.base_url(), quick(3));
    let (events, error) = collect(provider.as_ref(), hello()).await;
    assert_eq!(error, None);
    assert_eq!(retries(&events).len(), 1);
    assert_eq!(text(&events), "Whole.");
}

#[tokio::test]
async fn dropping_the_stream_ends_a_retry_wait() {
    let server = start(vec![Turn::error(429).with_header("retry-after", "50")]).await;
    let provider = retrying("openai", &server.base_url(), quick(3));
    let mut stream = provider.stream(hello()).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        matches!(
            first,
            StreamEvent::Retry {
                delay_ms: 50_000,
                ..
            }
        ),
        "{first:?}"
    );
    // The engine cancels by dropping the stream: the 50 s wait must not hold anything.
    let waiting = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
    assert!(waiting.is_err(), "still waiting out the retry");
    drop(stream);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_fails_over_to_the_next_provider() {
    let dead = refused_base_url().await;
    let server = start(vec![
        Turn::reply("From the fallback.").for_model("backup-model"),
    ])
    .await;
    let failover = FailoverProvider::new(vec![
        Candidate::new(retrying("primary", &dead, quick(1)), "gpt-5-mini"),
        Candidate::new(
            retrying("backup", &server.base_url(), quick(1)),
            "backup-model",
        ),
    ])
    .unwrap();
    let (events, error) = collect(&failover, hello()).await;
    assert_eq!(error, None);
    assert_eq!(retries(&events).len(), 1, "the primary's own retry first");
    let failovers: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Failover { from, to, message } => Some((from, to, message)),
            _ => None,
        })
        .collect();
    assert_eq!(failovers.len(), 1, "{events:?}");
    let (from, to, message) = failovers[0];
    assert_eq!(
        (from.as_str(), to.as_str()),
        ("primary/gpt-5-mini", "backup/backup-model")
    );
    assert!(message.contains("connection refused"), "{message}");
    assert_eq!(text(&events), "From the fallback.");
    assert_eq!(server.requests()[0].model(), Some("backup-model"));
    server.verify().unwrap();
}

#[tokio::test]
async fn the_last_providers_error_ends_the_stream_when_all_fail() {
    let dead = refused_base_url().await;
    let server = start(vec![Turn::error(500)]).await;
    let failover = FailoverProvider::new(vec![
        Candidate::new(retrying("primary", &dead, quick(0)), "m"),
        Candidate::new(retrying("backup", &server.base_url(), quick(0)), "m"),
    ])
    .unwrap();
    let (events, error) = collect(&failover, hello()).await;
    assert_eq!(events.len(), 1, "one failover event: {events:?}");
    let error = error.unwrap();
    assert_eq!(
        (error.provider.as_str(), error.status),
        ("backup", Some(500))
    );
}

#[tokio::test]
async fn a_malformed_request_does_not_fail_over() {
    let server = start(vec![Turn::error(400)]).await;
    let backup = start(vec![]).await;
    let failover = FailoverProvider::new(vec![
        Candidate::new(retrying("primary", &server.base_url(), quick(2)), "m"),
        Candidate::new(retrying("backup", &backup.base_url(), quick(2)), "m"),
    ])
    .unwrap();
    let (events, error) = collect(&failover, hello()).await;
    assert_eq!(events, []);
    assert_eq!(error.unwrap().status, Some(400));
    assert_eq!(backup.requests().len(), 0);
}

#[tokio::test]
async fn usage_carries_the_cost_of_the_model_that_answered() {
    let server = start(vec![Turn::reply("Hi!").with_usage(1_000_000, 100_000)]).await;
    let priced = PricedProvider::new(
        wire("openai", &server.base_url()),
        Arc::new(Catalogue::builtin().clone()),
    );
    let (events, error) = collect(&priced, hello()).await;
    assert_eq!(error, None);
    let usage = events
        .iter()
        .find_map(|event| match event {
            StreamEvent::Usage(usage) => Some(*usage),
            _ => None,
        })
        .unwrap();
    // gpt-5-mini: $0.25 in, $2 out per million.
    let cost = usage.cost_usd.unwrap();
    assert!((cost - (0.25 + 0.2)).abs() < 1e-9, "{cost}");

    let server = start(vec![Turn::reply("Hi!").with_usage(10, 10)]).await;
    let unknown = PricedProvider::new(
        wire("local", &server.base_url()),
        Arc::new(Catalogue::builtin().clone()),
    );
    let (events, _) = collect(&unknown, hello()).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::Usage(u) if u.cost_usd.is_none()))
    );
}

/// A response cache in memory, counting writes.
#[derive(Default)]
struct MemoryCache {
    entries: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl ResponseCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

impl MemoryCache {
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[tokio::test]
async fn a_cache_hit_replays_the_answer_without_a_request() {
    let server = start(vec![
        Turn::reply("Cached answer.").with_reasoning("Thinking."),
        Turn::reply("Uncached answer."),
    ])
    .await;
    let cache = Arc::new(MemoryCache::default());
    let provider = CachingProvider::new(wire("openai", &server.base_url()), cache.clone());
    let (first, error) = collect(&provider, request("Hello", Some(0.0))).await;
    assert_eq!(error, None);
    assert_eq!(cache.len(), 1);

    let (second, error) = collect(&provider, request("Hello", Some(0.0))).await;
    assert_eq!(error, None);
    assert_eq!(server.requests().len(), 1, "no second request");
    assert_eq!(second[0], StreamEvent::CacheHit);
    assert_eq!(text(&second), "Cached answer.");
    assert!(second.contains(&StreamEvent::Finished(FinishReason::Stop)));
    assert!(
        !second.iter().any(|e| matches!(e, StreamEvent::Usage(_))),
        "a replay spends no tokens"
    );
    let reasoning = |events: &[StreamEvent]| -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ReasoningDelta(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(reasoning(&second), reasoning(&first));

    // Another temperature is a fresh request, and is not stored.
    let (third, _) = collect(&provider, request("Hello", None)).await;
    assert_eq!(text(&third), "Uncached answer.");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn errors_and_partial_streams_are_not_cached() {
    let server = start(vec![
        Turn::error(500),
        Turn::reply("Half of an answer that breaks.").with_cut_after(2),
        Turn::reply("Whole answer."),
        Turn::reply("Never asked for."),
    ])
    .await;
    let cache = Arc::new(MemoryCache::default());
    let provider = CachingProvider::new(wire("openai", &server.base_url()), cache.clone());
    let ask = || request("Hello", Some(0.0));

    let (_, error) = collect(&provider, ask()).await;
    assert_eq!(error.unwrap().status, Some(500));
    let (_, error) = collect(&provider, ask()).await;
    assert_eq!(error.unwrap().kind, ProviderErrorKind::StreamCut);
    assert_eq!(cache.len(), 0);

    let (events, error) = collect(&provider, ask()).await;
    assert_eq!((text(&events).as_str(), error), ("Whole answer.", None));
    let (events, _) = collect(&provider, ask()).await;
    assert_eq!(events[0], StreamEvent::CacheHit);
    assert_eq!(text(&events), "Whole answer.");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn the_whole_chain_retries_fails_over_prices_and_caches() {
    let dead = refused_base_url().await;
    let server = start(vec![
        Turn::error(503),
        Turn::reply("Fallback answer.").with_usage(1_000, 1_000),
    ])
    .await;
    let cache = Arc::new(MemoryCache::default());
    let chain = reliable_provider(
        vec![
            Candidate::new(wire("openai", &dead), "gpt-5-mini"),
            Candidate::new(wire("anthropic", &server.base_url()), "claude-sonnet-4-5"),
        ],
        ChainOptions {
            retry: quick(1),
            catalogue: Some(Arc::new(Catalogue::builtin().clone())),
            cache: Some(cache.clone()),
        },
    )
    .unwrap();
    let (events, error) = collect(chain.as_ref(), request("Hello", Some(0.0))).await;
    assert_eq!(error, None);
    let mut kinds: Vec<&str> = events
        .iter()
        .map(|event| match event {
            StreamEvent::Retry { .. } => "retry",
            StreamEvent::Failover { .. } => "failover",
            StreamEvent::TextDelta(_) => "text",
            StreamEvent::Usage(_) => "usage",
            StreamEvent::Finished(_) => "finished",
            _ => "other",
        })
        .collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        ["retry", "failover", "retry", "text", "finished", "usage"]
    );
    let cost = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::Usage(u) => u.cost_usd,
            _ => None,
        })
        .unwrap();
    // claude-sonnet-4-5 at $3 / $15 per million, not gpt-5-mini's prices.
    assert!((cost - 0.018).abs() < 1e-9, "{cost}");
    assert_eq!(cache.len(), 0, "a fallback's answer is not cached");
}
