//! Turning transport failures, HTTP statuses and error bodies into [`ProviderError`]s: one
//! sentence saying what happened, and a hint saying what to do.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use code_mesh_core::{ProviderError, ProviderErrorKind};
use serde_json::Value;

use crate::registry::ProviderSettings;
use crate::retry;

/// Longest server-provided detail quoted in a message.
const MAX_DETAIL_CHARS: usize = 300;

/// What an error body said, from OpenAI's `{"error":{"message","type","code"}}` shape or the
/// variations compatible servers use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ErrorDetail {
    pub message: String,
    /// `error.type`, or `error.status` (Gemini).
    pub kind: Option<String>,
    /// `error.code` as text (some servers send a number).
    pub code: Option<String>,
}

impl ErrorDetail {
    /// Reads an error body: JSON in any of the known shapes, else the trimmed text.
    pub fn from_body(body: &str) -> ErrorDetail {
        match serde_json::from_str::<Value>(body) {
            Ok(value) => ErrorDetail::from_json(&value)
                .unwrap_or_else(|| ErrorDetail::text(&value.to_string())),
            Err(_) => ErrorDetail::text(body),
        }
    }

    /// Reads `{"error": ...}`, `[{"error": ...}]` (Gemini), `{"message": ...}` (vLLM) or
    /// `{"detail": ...}` (FastAPI servers). `None` when the value holds no error.
    pub fn from_json(value: &Value) -> Option<ErrorDetail> {
        if let Value::Array(items) = value {
            return items.first().and_then(ErrorDetail::from_json);
        }
        let object = value.as_object()?;
        let error = object.get("error").filter(|e| !e.is_null());
        let source = match error {
            Some(Value::String(message)) => return Some(ErrorDetail::text(message)),
            Some(Value::Object(error)) => error,
            Some(other) => return Some(ErrorDetail::text(&other.to_string())),
            None if object.contains_key("message") || object.contains_key("detail") => object,
            None => return None,
        };
        let message = match source.get("message").or_else(|| source.get("detail")) {
            Some(Value::String(message)) => message.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let text = |key: &str| match source.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Some(ErrorDetail {
            message: shorten(&message),
            kind: text("type").or_else(|| text("status")),
            code: text("code"),
        })
    }

    fn text(text: &str) -> ErrorDetail {
        ErrorDetail {
            message: shorten(text),
            ..ErrorDetail::default()
        }
    }

    /// Whether the error is OpenAI's "out of quota" (which comes as HTTP 429).
    pub fn is_quota(&self) -> bool {
        [&self.code, &self.kind]
            .into_iter()
            .flatten()
            .any(|s| s == "insufficient_quota")
    }

    /// The HTTP status the error's numeric `code` stands for, when it is one.
    fn status(&self) -> Option<u16> {
        self.code
            .as_deref()
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|code| (400..600).contains(code))
    }

    /// Whether the error says the request is longer than the model's context window
    /// (OpenAI's `context_length_exceeded`, Anthropic's "prompt is too long", Gemini's "input
    /// token count … exceeds", vLLM's and llama.cpp's wordings).
    pub fn is_context_overflow(&self) -> bool {
        if [&self.code, &self.kind]
            .into_iter()
            .flatten()
            .any(|s| s == "context_length_exceeded")
        {
            return true;
        }
        let message = self.message.to_ascii_lowercase();
        [
            "maximum context length",
            "context length exceeded",
            "context_length_exceeded",
            "context window",
            "prompt is too long",
            "exceeds the available context size",
            "exceeds the maximum number of tokens",
            "input is too long",
            "too many input tokens",
            "reduce the length of the messages",
        ]
        .iter()
        .any(|needle| message.contains(needle))
    }

    fn looks_rate_limited(&self) -> bool {
        [&self.code, &self.kind]
            .into_iter()
            .flatten()
            .any(|s| s.contains("rate_limit") || s == "RESOURCE_EXHAUSTED")
    }
}

/// Collapses whitespace and cuts long details to a readable length.
fn shorten(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_DETAIL_CHARS {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(MAX_DETAIL_CHARS).collect();
    cut.push('…');
    cut
}

/// `message` followed by `: detail` when there is a detail.
fn with_detail(message: String, detail: &str) -> String {
    if detail.is_empty() {
        message
    } else {
        format!("{message}: {detail}")
    }
}

/// The connection could not be made, or broke before any answer.
pub(crate) fn unreachable(settings: &ProviderSettings, error: &reqwest::Error) -> ProviderError {
    let kind = if error.is_timeout() && !error.is_connect() {
        ProviderErrorKind::Timeout
    } else {
        ProviderErrorKind::Unreachable
    };
    ProviderError::new(
        kind,
        &settings.name,
        format!(
            "cannot reach `{}` at {}: {}",
            settings.name,
            settings.base_url,
            root_cause(error)
        ),
    )
    .with_hint(settings.base_url_hint())
}

/// The body broke off while the answer was streaming.
pub(crate) fn stream_broken(settings: &ProviderSettings, error: &reqwest::Error) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::StreamCut,
        &settings.name,
        format!(
            "the connection to `{}` broke before the model finished: {}",
            settings.name,
            root_cause(error)
        ),
    )
    .with_hint("this is usually temporary; run again (with `-c` to continue the session)")
}

/// The body ended cleanly but before the model said it had finished.
pub(crate) fn stream_cut(settings: &ProviderSettings) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::StreamCut,
        &settings.name,
        format!(
            "the response from `{}` ended before the model finished",
            settings.name
        ),
    )
    .with_hint("the connection was cut; run again (with `-c` to continue the session)")
}

/// Nothing arrived for `idle`.
pub(crate) fn idle_timeout(settings: &ProviderSettings, idle: Duration) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Timeout,
        &settings.name,
        format!(
            "`{}` sent nothing for {}",
            settings.name,
            human_duration(idle)
        ),
    )
    .with_hint("the server may be overloaded or still loading the model; try again in a moment")
}

/// The body was not the API: HTML (a web page, a proxy's login form) or something else.
pub(crate) fn not_the_api(
    settings: &ProviderSettings,
    status: u16,
    content_type: &str,
) -> ProviderError {
    let what = if content_type.contains("html") {
        "HTML"
    } else {
        "something else"
    };
    let content_type = if content_type.is_empty() {
        "no content type"
    } else {
        content_type
    };
    ProviderError::new(
        ProviderErrorKind::Protocol,
        &settings.name,
        format!(
            "`{}` answered with {what} instead of the API (HTTP {status}, {content_type}); is the base URL right? It usually ends in /v1",
            settings.name
        ),
    )
    .with_status(status)
    .with_hint(settings.base_url_hint())
}

/// A body that claimed to be the API but could not be read as it.
pub(crate) fn malformed(settings: &ProviderSettings, what: &str) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Protocol,
        &settings.name,
        format!(
            "`{}` sent a response this client cannot read: {what}",
            settings.name
        ),
    )
    .with_hint(format!(
        "`{}` may not speak the OpenAI Chat Completions API; check `providers.{}.base_url`",
        settings.name, settings.name
    ))
}

/// A non-2xx answer.
pub(crate) fn http_status(
    settings: &ProviderSettings,
    status: u16,
    content_type: &str,
    body: &str,
    retry_after: Option<&str>,
) -> ProviderError {
    let name = &settings.name;
    let is_html = content_type.contains("html") || body.trim_start().starts_with('<');
    if is_html && !matches!(status, 401 | 403 | 408 | 409 | 429 | 500..=599) {
        return not_the_api(settings, status, content_type);
    }
    let detail = if is_html {
        ErrorDetail::default()
    } else {
        ErrorDetail::from_body(body)
    };
    if let Some(wait) =
        retry_after.and_then(|value| retry::parse_retry_after(value, SystemTime::now()))
    {
        retry::advise_retry_after(wait);
    }
    if status == 429 && detail.is_quota() {
        retry::advise_no_retry();
    }
    if matches!(status, 400 | 413 | 422) && detail.is_context_overflow() {
        return context_too_long(settings, &format!("HTTP {status}"), &detail.message)
            .with_status(status);
    }
    let (kind, message, hint) = match status {
        401 | 403 => (
            ProviderErrorKind::Auth,
            if settings.api_key.is_some() {
                format!("`{name}` rejected the API key (HTTP {status})")
            } else {
                format!("`{name}` needs an API key (HTTP {status})")
            },
            settings.key_hint(),
        ),
        429 if detail.is_quota() => (
            ProviderErrorKind::RateLimited,
            format!("`{name}` refused the request because the account is out of quota (HTTP 429)"),
            "this is a quota or billing problem, not a rate limit, so waiting will not help: \
             add credit or raise the limit in the account's billing settings, or use another provider"
                .to_owned(),
        ),
        429 => (
            ProviderErrorKind::RateLimited,
            format!("`{name}` is rate limiting requests (HTTP 429)"),
            match retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
                Some(seconds) => format!(
                    "wait {seconds} s and try again, or run fewer agents at once"
                ),
                None => "wait a little and try again, or run fewer agents at once".to_owned(),
            },
        ),
        408 => (
            ProviderErrorKind::Timeout,
            format!("`{name}` timed out waiting for the request (HTTP 408)"),
            "this is usually temporary; try again in a moment".to_owned(),
        ),
        409 => (
            ProviderErrorKind::Server,
            format!("`{name}` reported a conflict with another request (HTTP 409)"),
            "this is usually temporary; try again in a moment".to_owned(),
        ),
        529 => (
            ProviderErrorKind::Server,
            format!("`{name}` is overloaded (HTTP 529)"),
            "this is usually temporary; try again in a moment, or set `providers.fallback`"
                .to_owned(),
        ),
        500..=599 => (
            ProviderErrorKind::Server,
            format!("`{name}` failed with a server error (HTTP {status})"),
            "this is usually temporary; try again in a moment, or set `providers.fallback`"
                .to_owned(),
        ),
        404 => (
            ProviderErrorKind::BadRequest,
            format!("`{name}` does not know the endpoint or the model (HTTP 404)"),
            format!(
                "check the model name, and that the base URL ({}) is the API's root, which usually ends in /v1",
                settings.base_url
            ),
        ),
        _ => (
            ProviderErrorKind::BadRequest,
            format!("`{name}` refused the request (HTTP {status})"),
            format!(
                "check the model name and the settings of `providers.{name}` against what the server says"
            ),
        ),
    };
    ProviderError::new(kind, name, with_detail(message, &detail.message))
        .with_status(status)
        .with_hint(hint)
}

/// The request was longer than the model's context window. The engine compacts the context
/// and retries once; the hint is for when that was not enough.
pub(crate) fn context_too_long(
    settings: &ProviderSettings,
    what: &str,
    detail: &str,
) -> ProviderError {
    let name = &settings.name;
    ProviderError::new(
        ProviderErrorKind::ContextTooLong,
        name,
        with_detail(
            format!(
                "`{name}` refused the request as longer than the model's context window ({what})"
            ),
            detail,
        ),
    )
    .with_hint(
        "start a new session, or set `[memory] max_context_size` to the model's real window so \
         the context is compacted in time",
    )
}

/// An `{"error": ...}` payload inside a stream (OpenRouter, vLLM) or a 200 JSON body.
pub(crate) fn in_band(settings: &ProviderSettings, detail: &ErrorDetail) -> ProviderError {
    let name = &settings.name;
    if detail.is_context_overflow() {
        return context_too_long(settings, "an error in the stream", &detail.message);
    }
    let (kind, hint) = match detail.status() {
        Some(401 | 403) => (ProviderErrorKind::Auth, settings.key_hint()),
        Some(429) if !detail.is_quota() => (
            ProviderErrorKind::RateLimited,
            "wait a little and try again, or run fewer agents at once".to_owned(),
        ),
        Some(status) if (400..500).contains(&status) && status != 429 => (
            ProviderErrorKind::BadRequest,
            format!("check the model name and the settings of `providers.{name}`"),
        ),
        _ if detail.is_quota() => (
            ProviderErrorKind::RateLimited,
            "this is a quota or billing problem, not a rate limit: add credit or use another provider"
                .to_owned(),
        ),
        _ if detail.looks_rate_limited() => (
            ProviderErrorKind::RateLimited,
            "wait a little and try again, or run fewer agents at once".to_owned(),
        ),
        _ => (
            ProviderErrorKind::Server,
            "this is usually temporary; try again in a moment".to_owned(),
        ),
    };
    if detail.is_quota() {
        retry::advise_no_retry();
    }
    let message = with_detail(format!("`{name}` reported an error"), &detail.message);
    let error = ProviderError::new(kind, name, message).with_hint(hint);
    match detail.status() {
        Some(status) => error.with_status(status),
        None => error,
    }
}

/// `300 s`, or `250 ms` below a second.
fn human_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs())
    }
}

/// The innermost cause of a transport error, in words a user recognizes.
fn root_cause(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    let mut innermost = None;
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => return "connection timed out".to_owned(),
                _ => {}
            }
        }
        innermost = Some(current);
        source = current.source();
    }
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    match innermost {
        Some(cause) => cause.to_string(),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn openai_error_body_is_read() {
        let body = include_str!("../tests/fixtures/openai-chat/error_429_insufficient_quota.json");
        assert_eq!(
            ErrorDetail::from_body(body),
            ErrorDetail {
                message:
                    "You exceeded your current quota, please check your plan and billing details."
                        .into(),
                kind: Some("insufficient_quota".into()),
                code: Some("insufficient_quota".into()),
            }
        );
    }

    #[test]
    fn compatible_error_shapes_are_read() {
        let gemini = r#"[{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}]"#;
        let detail = ErrorDetail::from_body(gemini);
        assert_eq!(detail.message, "Resource exhausted");
        assert_eq!(detail.code.as_deref(), Some("429"));
        assert_eq!(detail.kind.as_deref(), Some("RESOURCE_EXHAUSTED"));

        let ollama = r#"{"error":"model \"nope\" not found, try pulling it first"}"#;
        assert_eq!(
            ErrorDetail::from_body(ollama).message,
            "model \"nope\" not found, try pulling it first"
        );
        let vllm = r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","code":404}"#;
        assert_eq!(
            ErrorDetail::from_body(vllm).message,
            "The model `x` does not exist."
        );
        assert_eq!(
            ErrorDetail::from_body("  Bad Gateway\n\n ").message,
            "Bad Gateway"
        );
    }

    #[test]
    fn long_details_are_shortened() {
        let long = "x".repeat(1000);
        let detail = ErrorDetail::from_body(&long);
        assert_eq!(detail.message.chars().count(), MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn requests_longer_than_the_window_are_recognised() {
        let settings = ProviderSettings::new("openai", "http://localhost/v1");
        let bodies = [
            r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
            r#"[{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}]"#,
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
        ];
        for body in bodies {
            let error = http_status(&settings, 400, "application/json", body, None);
            assert_eq!(error.kind, ProviderErrorKind::ContextTooLong, "{body}");
            assert!(
                error
                    .message
                    .contains("longer than the model's context window"),
                "{error}"
            );
            assert!(!crate::fails_over(&error));
        }
        let other = http_status(
            &settings,
            400,
            "application/json",
            r#"{"error":{"message":"Invalid value for 'temperature'","code":"invalid_value"}}"#,
            None,
        );
        assert_eq!(other.kind, ProviderErrorKind::BadRequest);
        let streamed = in_band(
            &settings,
            &ErrorDetail::from_body(
                r#"{"error":{"message":"context length exceeded","code":400}}"#,
            ),
        );
        assert_eq!(streamed.kind, ProviderErrorKind::ContextTooLong);
    }
}
