//! The checked-in OpenAPI description (`openapi.json`, what clients generate code from) must be
//! the one the code generates. After changing a route or a protocol type, regenerate it with
//! `UPDATE_OPENAPI=1 cargo test -p code-mesh-server --test openapi`, then rebuild the web page,
//! whose API types are generated from it (`cd crates/server/web && npm run build`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn the_checked_in_openapi_json_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = code_mesh_server::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "crates/server/openapi.json differs from what the code generates; regenerate it with \
         UPDATE_OPENAPI=1 cargo test -p code-mesh-server --test openapi, review the diff, and \
         rebuild the page's types (cd crates/server/web && npm run build)"
    );
}

#[test]
fn the_description_is_openapi_3_1_and_names_every_route() {
    let doc: serde_json::Value = serde_json::from_str(code_mesh_server::openapi_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/api/sessions",
        "/api/sessions/{id}",
        "/api/sessions/{id}/fork",
        "/api/sessions/{id}/messages",
        "/api/sessions/{id}/events",
        "/api/sessions/{id}/stream",
        "/api/sessions/{id}/ws",
        "/api/sessions/{id}/abort",
        "/api/sessions/{id}/permissions/{request_id}",
        "/api/sessions/{id}/agents",
        "/api/events",
        "/api/models",
        "/api/config",
        "/api/health",
        "/openapi.json",
    ] {
        assert!(paths.contains(&route), "{route} is not described");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
