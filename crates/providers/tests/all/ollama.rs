//! Asking a local Ollama for its models.

use code_mesh_core::ProviderErrorKind;
use code_mesh_providers::ollama_first_model;
use pretty_assertions::assert_eq;

use crate::server::{Reply, refused_base_url, serve};

#[tokio::test]
async fn first_model_comes_from_api_tags() {
    let body = r#"{"models":[{"name":"qwen3:8b","model":"qwen3:8b","size":5},{"name":"llama3.2:latest","model":"llama3.2:latest"}]}"#;
    let server = serve(vec![Reply::new(
        200,
        "application/json; charset=utf-8",
        body,
    )])
    .await;
    let root = server.base_url.trim_end_matches("/v1").to_owned();
    assert_eq!(
        ollama_first_model(&root).await.unwrap().as_deref(),
        Some("qwen3:8b")
    );
    let mut requests = server.requests;
    let captured = requests.recv().await.unwrap();
    assert_eq!(
        (captured.method.as_str(), captured.path.as_str()),
        ("GET", "/api/tags")
    );
}

#[tokio::test]
async fn no_models_is_none() {
    let server = serve(vec![Reply::new(
        200,
        "application/json",
        r#"{"models":[]}"#,
    )])
    .await;
    assert_eq!(ollama_first_model(&server.base_url).await.unwrap(), None);
}

#[tokio::test]
async fn ollama_not_running_is_unreachable() {
    let base_url = refused_base_url().await;
    let root = base_url.trim_end_matches("/v1");
    let error = ollama_first_model(root).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unreachable);
    assert!(error.hint.unwrap().contains("ollama serve"));
}
