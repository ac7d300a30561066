//! Anthropic's errors as [`ProviderError`]s.
//!
//! The API answers failures with `{"type":"error","error":{"type","message"},"request_id"}`,
//! as an HTTP error body or, once a stream has started, as an `error` event under HTTP 200.
//! Both map through the same table, keyed by the HTTP status or the status the error type
//! stands for (`overloaded_error` is 529, `rate_limit_error` 429, ...), so an overloaded
//! error is retryable whether it came as a status or mid-stream.

use code_mesh_core::{ProviderError, ProviderErrorKind};

use crate::error::ErrorDetail;
use crate::registry::ProviderSettings;

use super::decode::{DecodeError, request_id_of};

/// The HTTP status an Anthropic error type stands for.
fn status_of_type(kind: &str) -> Option<u16> {
    Some(match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => return None,
    })
}

/// `message`, then ` (request req_…)` and `: detail` when known.
fn sentence(message: String, request_id: Option<&str>, detail: &ErrorDetail) -> String {
    let mut sentence = message;
    if let Some(id) = request_id {
        sentence.push_str(&format!(" (request {id})"));
    }
    if !detail.message.is_empty() {
        sentence.push_str(": ");
        sentence.push_str(&detail.message);
    }
    sentence
}

/// Kind, what happened (without the detail) and hint for an error of `status`. A billing
/// failure is reported as a rate limit that retrying cannot fix (see [`crate::retry`]).
fn classify(
    settings: &ProviderSettings,
    status: u16,
    what: &str,
    retry_after: Option<&str>,
) -> (ProviderErrorKind, String, String) {
    let name = &settings.name;
    if status == 402 {
        crate::retry::advise_no_retry();
    }
    match status {
        401 => (
            ProviderErrorKind::Auth,
            if settings.api_key.is_some() {
                format!("`{name}` rejected the API key ({what})")
            } else {
                format!("`{name}` needs an API key ({what})")
            },
            settings.key_hint(),
        ),
        403 => (
            ProviderErrorKind::Auth,
            format!("`{name}` refused the key access to this model or feature ({what})"),
            format!(
                "check that the key's workspace may use this model in the Anthropic console; {}",
                settings.key_hint()
            ),
        ),
        402 => (
            ProviderErrorKind::RateLimited,
            format!("`{name}` refused the request for a billing reason ({what})"),
            "this is a billing problem, so waiting will not help: add credit in the Anthropic \
             console, or use another provider"
                .to_owned(),
        ),
        404 => (
            ProviderErrorKind::BadRequest,
            format!("`{name}` does not know the model or the endpoint ({what})"),
            format!(
                "check the model name (e.g. `{name}/claude-sonnet-4-5`; `code-mesh models` lists \
                 known ones), and that the base URL ({}) is the API's root, without /v1",
                settings.base_url
            ),
        ),
        408 => (
            ProviderErrorKind::Timeout,
            format!("`{name}` timed out waiting for the request ({what})"),
            "this is usually temporary; try again in a moment".to_owned(),
        ),
        409 => (
            ProviderErrorKind::Server,
            format!("`{name}` reported a conflict with another request ({what})"),
            "this is usually temporary; try again in a moment".to_owned(),
        ),
        413 => (
            ProviderErrorKind::BadRequest,
            format!("`{name}` refused the request as too large ({what})"),
            "the conversation is too long for one request; start a new session".to_owned(),
        ),
        429 => (
            ProviderErrorKind::RateLimited,
            format!("`{name}` is rate limiting requests ({what})"),
            match retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
                Some(seconds) => {
                    format!("wait {seconds} s and try again, or run fewer agents at once")
                }
                None => "wait a little and try again, or run fewer agents at once".to_owned(),
            },
        ),
        529 => (
            ProviderErrorKind::Server,
            format!("`{name}` is overloaded ({what})"),
            "the API is under heavy load; this is temporary: try again in a moment, or set \
             `providers.fallback`"
                .to_owned(),
        ),
        500..=599 => (
            ProviderErrorKind::Server,
            format!("`{name}` failed with a server error ({what})"),
            "this is usually temporary; try again in a moment, or set `providers.fallback`"
                .to_owned(),
        ),
        _ => (
            ProviderErrorKind::BadRequest,
            format!("`{name}` refused the request ({what})"),
            format!(
                "check the model name and the settings of `providers.{name}` against what the API says"
            ),
        ),
    }
}

/// A non-2xx answer. `header_request_id` is the `request-id` response header, used when
/// the body has none.
pub(crate) fn http_status(
    settings: &ProviderSettings,
    status: u16,
    content_type: &str,
    body: &str,
    retry_after: Option<&str>,
    header_request_id: Option<&str>,
) -> ProviderError {
    let is_html = content_type.contains("html") || body.trim_start().starts_with('<');
    if is_html && !matches!(status, 401 | 403 | 429 | 500..=599) {
        return not_the_api(settings, status, content_type);
    }
    let detail = if is_html {
        ErrorDetail::default()
    } else {
        ErrorDetail::from_body(body)
    };
    let request_id = request_id_of(body).or_else(|| header_request_id.map(str::to_owned));
    let what = format!("HTTP {status}");
    if matches!(status, 400 | 413) && detail.is_context_overflow() {
        return crate::error::context_too_long(settings, &what, &detail.message)
            .with_status(status);
    }
    let (kind, message, hint) = classify(settings, status, &what, retry_after);
    ProviderError::new(
        kind,
        &settings.name,
        sentence(message, request_id.as_deref(), &detail),
    )
    .with_status(status)
    .with_hint(hint)
}

/// An `error` event in the stream (HTTP status 200) or an error body sent with 200.
pub(crate) fn in_band(
    settings: &ProviderSettings,
    detail: &ErrorDetail,
    request_id: Option<&str>,
) -> ProviderError {
    let error_type = detail.kind.as_deref().unwrap_or("unknown error");
    let status = detail
        .kind
        .as_deref()
        .and_then(status_of_type)
        .unwrap_or(500);
    let what = format!("`{error_type}` in the stream");
    if detail.is_context_overflow() {
        return crate::error::context_too_long(settings, &what, &detail.message);
    }
    let (kind, message, hint) = classify(settings, status, &what, None);
    ProviderError::new(kind, &settings.name, sentence(message, request_id, detail)).with_hint(hint)
}

/// A body that was not the API at all (HTML from a proxy or a web server).
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
            "`{}` answered with {what} instead of the Messages API (HTTP {status}, {content_type}); is the base URL right? It is the API's root, without /v1",
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
        "`{}` may not speak the Anthropic Messages API; check `providers.{}.base_url` and `providers.{}.wire`",
        settings.name, settings.name, settings.name
    ))
}

/// A decoding failure as the error the stream ends with.
pub(crate) fn decode_error(settings: &ProviderSettings, error: DecodeError) -> ProviderError {
    match error {
        DecodeError::Malformed(what) => malformed(settings, &what),
        DecodeError::Remote { detail, request_id } => {
            in_band(settings, &detail, request_id.as_deref())
        }
        DecodeError::Cut => crate::error::stream_cut(settings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn anthropic() -> ProviderSettings {
        let mut settings =
            ProviderSettings::new("anthropic", "https://api.anthropic.com").with_api_key("k");
        settings.api_key_env = Some("ANTHROPIC_API_KEY".into());
        settings
    }

    const NOT_FOUND: &str =
        include_str!("../../tests/fixtures/anthropic/error_404_not_found_doc.json");
    const OVERLOADED: &str =
        include_str!("../../tests/fixtures/anthropic/error_event_overloaded_payload_real.json");

    #[test]
    fn not_found_body_names_the_request_and_hints_at_the_model() {
        let error = http_status(&anthropic(), 404, "application/json", NOT_FOUND, None, None);
        assert_eq!(error.kind, ProviderErrorKind::BadRequest);
        assert_eq!(error.status, Some(404));
        assert_eq!(
            error.message,
            "`anthropic` does not know the model or the endpoint (HTTP 404) (request \
             req_011CSHoEeqs5C35K2UUqR7Fy): The requested resource could not be found."
        );
        assert!(error.hint.unwrap().contains("model name"));
    }

    #[test]
    fn overloaded_payload_is_retryable_in_band() {
        let detail = ErrorDetail::from_body(OVERLOADED);
        assert_eq!(detail.kind.as_deref(), Some("overloaded_error"));
        let error = in_band(&anthropic(), &detail, request_id_of(OVERLOADED).as_deref());
        assert_eq!(error.kind, ProviderErrorKind::Server);
        assert!(error.kind.is_retryable());
        assert_eq!(error.status, None);
        assert_eq!(
            error.message,
            "`anthropic` is overloaded (`overloaded_error` in the stream): Overloaded"
        );
    }

    #[test]
    fn error_types_map_to_kinds() {
        let cases = [
            ("authentication_error", ProviderErrorKind::Auth),
            ("permission_error", ProviderErrorKind::Auth),
            ("rate_limit_error", ProviderErrorKind::RateLimited),
            ("billing_error", ProviderErrorKind::RateLimited),
            ("invalid_request_error", ProviderErrorKind::BadRequest),
            ("not_found_error", ProviderErrorKind::BadRequest),
            ("request_too_large", ProviderErrorKind::BadRequest),
            ("api_error", ProviderErrorKind::Server),
            ("timeout_error", ProviderErrorKind::Server),
            ("overloaded_error", ProviderErrorKind::Server),
            ("something_new_error", ProviderErrorKind::Server),
        ];
        for (kind, expected) in cases {
            let detail = ErrorDetail {
                message: "m".into(),
                kind: Some(kind.into()),
                code: None,
            };
            assert_eq!(
                in_band(&anthropic(), &detail, None).kind,
                expected,
                "{kind}"
            );
        }
    }

    #[test]
    fn rate_limit_hint_uses_retry_after_and_header_request_id() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
        let error = http_status(
            &anthropic(),
            429,
            "application/json",
            body,
            Some("17"),
            Some("req_header"),
        );
        assert_eq!(error.kind, ProviderErrorKind::RateLimited);
        assert!(
            error.message.contains("(request req_header)"),
            "{}",
            error.message
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("wait 17 s and try again, or run fewer agents at once")
        );
    }
}
