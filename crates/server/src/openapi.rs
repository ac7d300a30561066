//! The API's OpenAPI 3.1 description, generated from the handlers and the protocol's types.

use std::sync::OnceLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{meta, sessions, streams};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Code Mesh",
        description = "The engine API of Code Mesh (Ops in, Events out) over HTTP: sessions, prompts, permission answers, and the engine's events over Server-Sent Events and WebSocket. Errors are application/problem+json bodies with a stable `code`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        sessions::list, sessions::create, sessions::get, sessions::delete, sessions::fork,
        sessions::messages, sessions::post_message, sessions::events, sessions::abort,
        sessions::answer_permission, sessions::agents,
        streams::session_stream, streams::global_stream, streams::session_ws,
        meta::health, meta::models, meta::config, meta::openapi,
    ),
    // The problem responses refer to `Problem` without collecting it (see `error::responses`).
    components(schemas(crate::error::Problem, crate::error::ProblemCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Sessions and multi-agent runs"),
        (name = "messages", description = "Prompts, aborts and permission answers"),
        (name = "events", description = "The engine's events, stored and live"),
        (name = "meta", description = "Health, models, configuration, this description"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document as pretty JSON (built once).
pub fn openapi_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let mut json = doc.to_pretty_json().unwrap_or_default();
        json.push('\n');
        json
    })
}
