//! The web page: `web/` compiled ahead of time (`npm ci && npm run build`) and embedded, so the
//! binary serves it with no files beside it.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// Embeds the compiled scripts of `web/dist` by name.
macro_rules! scripts {
    ($($name:literal),* $(,)?) => {
        &[$(($name, JAVASCRIPT, include_str!(concat!("../web/dist/", $name)))),*]
    };
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's files: name under `/assets/`, content type, content. A test checks that every
/// file of `web/dist` is here.
const ASSETS: &[(&str, &str, &str)] = &[(
    "style.css",
    "text/css; charset=utf-8",
    include_str!("../web/style.css"),
)];

const SCRIPTS: &[(&str, &str, &str)] = scripts![
    "agents.js",
    "api.js",
    "app.js",
    "conversation.js",
    "dom.js",
    "markdown.js",
    "stream.js",
];

const INDEX: &str = include_str!("../web/index.html");

/// Scripts and styles only from this server; no inline code, no frames, no other origins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        // Browsers ask for it on their own; there is no icon, and a 404 would be logged.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
}

async fn index() -> Response {
    with_headers(INDEX, "text/html; charset=utf-8")
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .chain(SCRIPTS)
        .find(|(name, _, _)| *name == file)
        .map(|(_, content_type, body)| with_headers(body, content_type))
        .ok_or_else(|| ApiError::not_found(format!("there is no asset `{file}`")))
}

fn with_headers(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_script_is_embedded() {
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dist)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SCRIPTS
            .iter()
            .map(|(name, _, _)| (*name).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "list web/dist's files in SCRIPTS (src/web.rs)"
        );
    }
}
