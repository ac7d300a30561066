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
