//! The process-wide HTTP client: one connection pool shared by every provider and agent, so
//! parallel agents reuse warm TLS connections instead of opening their own.

use std::sync::OnceLock;
use std::time::Duration;

use code_mesh_core::{ProviderError, ProviderErrorKind};

/// How long establishing a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();

/// The shared client (rustls, connect timeout, pooled). Cloning it is cheap and shares the
/// pool. There is deliberately no overall request timeout: a streamed answer may take many
/// minutes; the providers bound the time between chunks instead.
pub fn shared_client() -> Result<reqwest::Client, ProviderError> {
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("code-mesh/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT)
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .tcp_nodelay(true)
                .build()
                .map_err(|error| error.to_string())
        })
        .clone()
        .map_err(|error| {
            ProviderError::new(
                ProviderErrorKind::Config,
                "",
                format!("cannot set up the HTTP client: {error}"),
            )
            .with_hint("this is a bug or a broken TLS setup; please report it")
        })
}

/// How a wire presents the API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and compatible servers, Ollama).
    Bearer,
    /// The key as the whole value of this header (`x-api-key`, `x-goog-api-key`).
    Named(&'static str),
}

/// The headers every request of a provider carries: the JSON content type, the API key
/// (marked sensitive, so it never reaches logs) and the configured extra headers (secret-looking
/// ones marked sensitive too). Checked once, when the provider is built.
pub(crate) fn request_headers(
    settings: &crate::ProviderSettings,
    key_header: KeyHeader,
) -> Result<reqwest::header::HeaderMap, ProviderError> {
    use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

    let name = &settings.name;
    let config_error = |message: String, hint: String| {
        ProviderError::new(ProviderErrorKind::Config, name, message).with_hint(hint)
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(key) = settings.api_key.as_deref().map(str::trim) {
        let (header, text) = match key_header {
            KeyHeader::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
            KeyHeader::Named(header) => (HeaderName::from_static(header), key.to_owned()),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            config_error(
                format!("the API key of `{name}` contains characters an HTTP header cannot carry"),
                settings.key_hint(),
            )
        })?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    for (header, value) in &settings.headers {
        let bad_header = || {
            config_error(
                format!("the header `{header}` of `{name}` is not a valid HTTP header"),
                format!("fix or remove it in `providers.{name}.headers`"),
            )
        };
        let header_name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| bad_header())?;
        let mut value = HeaderValue::from_str(value).map_err(|_| bad_header())?;
        value.set_sensitive(crate::registry::is_secret_header(header));
        headers.insert(header_name, value);
    }
    Ok(headers)
}
