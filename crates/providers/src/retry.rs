//! Sending a request again when it failed in a way that may pass: [`RetryingProvider`].
//!
//! Which failures are retried: the retryable kinds (`Unreachable`, `Server` — 5xx, 529
//! overloaded, 409 conflict —, `Timeout` — 408 and silent servers —, `StreamCut` before any
//! content) and rate limits (429), except an exhausted quota, which waiting does not fix.
//! The wait is exponential backoff with full jitter (a uniformly random time between zero and
//! `base × 2^(n-1)`, capped), or exactly what the server asked for in `Retry-After` /
//! `retry-after-ms`, unless that is longer than [`RetryPolicy::max_retry_after`], in which
//! case the error is reported (and a fallback provider may take over) rather than waited out.
//!
//! Retries only happen before the answer started: once content was yielded the user has
//! seen it, and a second answer would be spliced onto the first. A stream that breaks midway
//! therefore ends with its error.
//!
//! Every retry is announced as [`StreamEvent::Retry`] at the head of the returned stream
//! before the wait, so the user sees why nothing is happening. The waits are timers inside
//! the stream: dropping the stream (the engine does on cancel) ends them at once.
//!
//! How the server's `Retry-After` and "out of quota" reach this module: [`ProviderError`] has
//! no field for them (it is core's type), so the wires report them through a task-local
//! [`RetryAdvice`] that [`RetryingProvider`] scopes around each call into the wire (see
//! [`advise_retry_after`], [`advise_no_retry`], [`note_retry_headers`]); outside such a scope
//! they do nothing. A `retry_after` field on `ProviderError` would make this unnecessary.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use code_mesh_core::{
    ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream, StreamEvent,
};
use futures::StreamExt;

/// How often and how long to wait before sending a failed request again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// The backoff ceiling of the first retry; it doubles with each retry.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// The longest server-requested wait honoured; a longer `Retry-After` ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The default policy with `max_retries` retries.
    pub fn with_max_retries(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        }
    }

    /// The longest backoff before retry number `retry` (1 for the first):
    /// `base_delay × 2^(retry-1)`, at most `max_delay`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// A random backoff before retry number `retry`, uniformly between zero and
    /// [`ceiling`](Self::ceiling) ("full jitter": many clients failing together spread out).
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_at(retry, fastrand::f64())
    }

    /// The backoff for a given point `unit` in `[0, 1)` of the jitter range.
    pub fn backoff_at(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// How long to wait before retrying after `error`, having retried `retries` times
    /// already; `None` when the error is final.
    pub fn delay_for(
        &self,
        error: &ProviderError,
        advice: RetryAdvice,
        retries: u32,
    ) -> Option<Duration> {
        if retries >= self.max_retries || advice.no_retry || !is_retryable(error) {
            return None;
        }
        match advice.retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(retries + 1)),
        }
    }
}

/// Whether a failure of this kind may pass when the request is sent again: the kinds core
/// calls retryable, and rate limits (whose quota variant the wire vetoes through
/// [`advise_no_retry`]).
pub fn is_retryable(error: &ProviderError) -> bool {
    error.kind.is_retryable() || error.kind == ProviderErrorKind::RateLimited
}

/// Whether `event` is part of the answer itself, after which a retry or failover would
/// splice two answers together. The announcements of this layer are not.
pub(crate) fn is_answer(event: &StreamEvent) -> bool {
    !matches!(
        event,
        StreamEvent::Retry { .. } | StreamEvent::Failover { .. } | StreamEvent::CacheHit
    )
}

/// What the server said about retrying, beyond the error itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryAdvice {
    /// The wait the server asked for (`Retry-After`, `retry-after-ms`).
    pub retry_after: Option<Duration>,
    /// Retrying cannot help (an exhausted quota).
    pub no_retry: bool,
}

tokio::task_local! {
    static ADVICE: Arc<Mutex<RetryAdvice>>;
}

fn advise(change: impl FnOnce(&mut RetryAdvice)) {
    let _outside_a_retrying_call = ADVICE.try_with(|advice| {
        change(&mut advice.lock().unwrap_or_else(PoisonError::into_inner));
    });
}

/// Records the wait the server asked for, for the [`RetryingProvider`] calling this wire.
pub(crate) fn advise_retry_after(wait: Duration) {
    advise(|advice| {
        advice.retry_after.get_or_insert(wait);
    });
}

/// Records that retrying this failure cannot help.
pub(crate) fn advise_no_retry() {
    advise(|advice| advice.no_retry = true);
}

/// Records the retry headers of an error response: `retry-after-ms` (OpenAI, Azure), then
/// `Retry-After` in seconds or as an HTTP date. Wires call this for every non-2xx answer.
pub(crate) fn note_retry_headers(headers: &reqwest::header::HeaderMap) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let wait = header("retry-after-ms")
        .and_then(parse_retry_after_ms)
        .or_else(|| header("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now())));
    if let Some(wait) = wait {
        advise_retry_after(wait);
    }
}

/// Runs `future` (a call into a wire) and returns what it advised along with its output.
#[cfg(test)]
async fn with_advice<F: Future>(future: F) -> (F::Output, RetryAdvice) {
    with_advice_in(&Arc::new(Mutex::new(RetryAdvice::default())), future).await
}

/// [`with_advice`] reusing `slot` (cleared first), so that no call allocates.
async fn with_advice_in<F: Future>(
    slot: &Arc<Mutex<RetryAdvice>>,
    future: F,
) -> (F::Output, RetryAdvice) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = RetryAdvice::default();
    let output = ADVICE.scope(Arc::clone(slot), future).await;
    let advice = *slot.lock().unwrap_or_else(PoisonError::into_inner);
    (output, advice)
}

/// Reads a `Retry-After` value: delay seconds (`120`, also `1.5`, which some servers send)
/// or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, taken relative to `now`; a date in the
/// past means no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads a `retry-after-ms` value: milliseconds, possibly fractional.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    let millis = value.trim().parse::<f64>().ok()?;
    Duration::try_from_secs_f64(millis / 1000.0).ok()
}

/// A provider that sends failed requests again according to a [`RetryPolicy`].
pub struct RetryingProvider {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
}

impl RetryingProvider {
    pub fn new(inner: Arc<dyn Provider>, policy: RetryPolicy) -> Self {
        RetryingProvider { inner, policy }
    }
}

#[async_trait]
impl Provider for RetryingProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        let attempts = Attempts {
            inner: Arc::clone(&self.inner),
            policy: self.policy,
            request,
            retries: 0,
            current: None,
            answered: false,
            wait: None,
            done: false,
            advice: Arc::new(Mutex::new(RetryAdvice::default())),
        };
        Ok(
            futures::stream::unfold(attempts, |mut attempts| async move {
                let item = attempts.next().await?;
                Some((item, attempts))
            })
            .boxed(),
        )
    }
}

/// The state of one retried request.
struct Attempts {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
    request: ModelRequest,
    /// Retries started so far.
    retries: u32,
    /// The stream of the attempt in progress.
    current: Option<ProviderStream>,
    /// Content of the answer was yielded: no more retries.
    answered: bool,
    /// The wait announced by the last `Retry` event, still to be slept.
    wait: Option<Duration>,
    done: bool,
    /// Where the wire's advice lands during each call.
    advice: Arc<Mutex<RetryAdvice>>,
}

impl Attempts {
    async fn next(&mut self) -> Option<Result<StreamEvent, ProviderError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(wait) = self.wait.take() {
                tokio::time::sleep(wait).await;
            }
            let Some(current) = self.current.as_mut() else {
                let opening = self.inner.stream(self.request.clone());
                let (opened, advice) = with_advice_in(&self.advice, opening).await;
                match opened {
                    Ok(stream) => {
                        self.current = Some(stream);
                        continue;
                    }
                    Err(error) => return Some(self.failed(error, advice)),
                }
            };
            if self.answered {
                // No retry is possible any more: pass the rest through untouched.
                let item = current.next().await;
                self.done = !matches!(item, Some(Ok(_)));
                return item;
            }
            let (item, advice) = with_advice_in(&self.advice, current.next()).await;
            return match item {
                None => {
                    self.done = true;
                    None
                }
                Some(Ok(event)) => {
                    self.answered |= is_answer(&event);
                    Some(Ok(event))
                }
                Some(Err(error)) => {
                    self.current = None;
                    if self.answered {
                        self.done = true;
                        Some(Err(error))
                    } else {
                        Some(self.failed(error, advice))
                    }
                }
            };
        }
    }

    /// After a failure before any content: a `Retry` event (and a wait), or the error.
    fn failed(
        &mut self,
        error: ProviderError,
        advice: RetryAdvice,
    ) -> Result<StreamEvent, ProviderError> {
        match self.policy.delay_for(&error, advice, self.retries) {
            Some(wait) => {
                self.retries += 1;
                self.wait = Some(wait);
                tracing::debug!(
                    provider = %self.inner.name(),
                    attempt = self.retries,
                    delay_ms = wait.as_millis() as u64,
                    kind = ?error.kind,
                    %error,
                    "retrying model request"
                );
                Ok(StreamEvent::Retry {
                    provider: self.inner.name().to_owned(),
                    attempt: self.retries,
                    delay_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    message: error.message,
                })
            }
            None => {
                self.done = true;
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u128> = (1..=9).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(30));
        assert_eq!(policy.ceiling(0), Duration::from_millis(500));
    }

    #[test]
    fn jitter_spans_zero_to_the_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_at(3, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff_at(3, 0.5), Duration::from_millis(1000));
        assert_eq!(policy.backoff_at(3, 1.0), Duration::from_millis(2000));
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let wait = policy.backoff(3);
            assert!(wait <= Duration::from_millis(2000), "{wait:?}");
            distinct.insert(wait.as_millis() / 250);
        }
        // 200 draws over eight 250 ms buckets: all but impossible to miss more than two.
        assert!(distinct.len() >= 6, "{distinct:?}");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(
            parse_retry_after_ms("250.5"),
            Some(Duration::from_micros(250_500))
        );
        assert_eq!(parse_retry_after_ms("x"), None);
    }

    fn error(kind: ProviderErrorKind) -> ProviderError {
        ProviderError::new(kind, "p", "failed")
    }

    #[test]
    fn only_retryable_kinds_within_the_budget_are_retried() {
        let policy = RetryPolicy::with_max_retries(2);
        let none = RetryAdvice::default();
        for kind in [
            ProviderErrorKind::Unreachable,
            ProviderErrorKind::Server,
            ProviderErrorKind::Timeout,
            ProviderErrorKind::StreamCut,
            ProviderErrorKind::RateLimited,
        ] {
            assert!(
                policy.delay_for(&error(kind), none, 0).is_some(),
                "{kind:?}"
            );
            assert!(
                policy.delay_for(&error(kind), none, 2).is_none(),
                "{kind:?}"
            );
        }
        for kind in [
            ProviderErrorKind::Auth,
            ProviderErrorKind::BadRequest,
            ProviderErrorKind::Protocol,
            ProviderErrorKind::Config,
        ] {
            assert_eq!(policy.delay_for(&error(kind), none, 0), None, "{kind:?}");
        }
        let quota = RetryAdvice {
            no_retry: true,
            ..RetryAdvice::default()
        };
        let rate_limited = error(ProviderErrorKind::RateLimited);
        assert_eq!(policy.delay_for(&rate_limited, quota, 0), None);
    }

    #[test]
    fn the_servers_wait_is_honoured_unless_it_is_too_long() {
        let policy = RetryPolicy::default();
        let asked = |secs| RetryAdvice {
            retry_after: Some(Duration::from_secs(secs)),
            no_retry: false,
        };
        let rate_limited = error(ProviderErrorKind::RateLimited);
        assert_eq!(
            policy.delay_for(&rate_limited, asked(7), 0),
            Some(Duration::from_secs(7))
        );
        assert_eq!(policy.delay_for(&rate_limited, asked(3600), 0), None);
    }

    #[tokio::test]
    async fn advice_reaches_only_the_scope_that_asked_for_it() {
        advise_no_retry();
        let ((), advice) = with_advice(async {
            advise_retry_after(Duration::from_secs(2));
            advise_retry_after(Duration::from_secs(9));
        })
        .await;
        assert_eq!(
            advice,
            RetryAdvice {
                retry_after: Some(Duration::from_secs(2)),
                no_retry: false
            }
        );
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "5".parse().unwrap());
        headers.insert("retry-after-ms", "1200".parse().unwrap());
        let ((), advice) = with_advice(async { note_retry_headers(&headers) }).await;
        assert_eq!(advice.retry_after, Some(Duration::from_millis(1200)));
    }
}
