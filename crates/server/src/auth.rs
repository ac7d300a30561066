//! Who may call the API: a bearer token on every `/api` route, and CORS only for the origins
//! the user configured.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::ServerError;
use crate::error::ApiError;
use crate::state::AppState;

/// Refuses a request without the server's token. The token comes in `Authorization: Bearer`,
/// or, for the streams a browser opens with `EventSource` or `WebSocket` (which cannot set
/// headers), in a `token` query parameter.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.method() == Method::OPTIONS {
        return Ok(next.run(request).await);
    }
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
        });
    let given = match from_header {
        Some(Some(token)) => Some(token.to_owned()),
        Some(None) => {
            return Err(ApiError::unauthorized(
                "the Authorization header is not a bearer token",
            ));
        }
        None if is_stream(request.uri().path()) => query_token(request.uri().query()),
        None => None,
    };
    match given {
        Some(token) if same(token.as_bytes(), state.token().as_bytes()) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError::unauthorized("the token is not this server's")),
        None => Err(ApiError::unauthorized("this API needs a token")),
    }
}

/// The routes a browser opens without being able to set headers.
fn is_stream(path: &str) -> bool {
    if path == "/api/events" {
        return true;
    }
    let Some(rest) = path.strip_prefix("/api/sessions/") else {
        return false;
    };
    matches!(rest.split_once('/'), Some((id, "stream" | "ws")) if !id.is_empty())
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "token").then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes (a token is URL-safe, but a client may escape it anyway).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                index += 1;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares in time independent of where the first difference is, so the token cannot be
/// guessed a byte at a time from response times.
fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// The CORS layer for the configured origins; `None` (no CORS headers, so browsers refuse
/// cross-origin calls) when there are none.
pub(crate) fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, ServerError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(origins.len());
    for origin in origins {
        let trimmed = origin.trim_end_matches('/');
        let valid_scheme = trimmed.starts_with("http://") || trimmed.starts_with("https://");
        let value = HeaderValue::from_str(trimmed).ok().filter(|_| valid_scheme);
        match value {
            Some(value) => values.push(value),
            None => {
                return Err(ServerError::BadCorsOrigin {
                    origin: origin.clone(),
                    reason: "an origin is a scheme and a host, like https://example.com:8080"
                        .into(),
                });
            }
        }
    }
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_every_byte() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abd", b"abc"));
        assert!(!same(b"ab", b"abc"));
    }

    #[test]
    fn the_token_is_read_from_the_query() {
        assert_eq!(query_token(Some("after=3&token=a%2Db")), Some("a-b".into()));
        assert_eq!(query_token(Some("after=3")), None);
        assert_eq!(query_token(None), None);
    }

    #[test]
    fn only_streams_take_a_token_in_the_query() {
        assert!(is_stream("/api/events"));
        assert!(is_stream("/api/sessions/ses_1/stream"));
        assert!(is_stream("/api/sessions/ses_1/ws"));
        assert!(!is_stream("/api/sessions/ses_1/messages"));
        assert!(!is_stream("/api/stream"));
        assert!(!is_stream("/api/sessions/ses_1/x/stream"));
        assert!(!is_stream("/api/sessions//ws"));
    }

    #[test]
    fn cors_origins_must_be_origins() {
        assert!(cors_layer(&[]).unwrap().is_none());
        assert!(
            cors_layer(&["https://example.com".into()])
                .unwrap()
                .is_some()
        );
        assert!(cors_layer(&["example.com".into()]).is_err());
    }
}
