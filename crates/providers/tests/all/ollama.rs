//! Asking a local Ollama for its models.

use code_mesh_core::ProviderErrorKind;
use code_mesh_providers::{OllamaModel, ollama_first_model, ollama_models};
use code_mesh_testkit::{Script, ScriptedServer, Turn};
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

#[tokio::test]
async fn models_list_names_sizes_and_context_lengths() {
    let script = Script::new()
        .with_turn(Turn::reply("a").for_model("qwen3-coder:30b"))
        .with_turn(Turn::reply("b").for_model("llama3.2:3b"));
    let server = ScriptedServer::start(script).await.unwrap();
    let models = ollama_models(&server.root_url()).await.unwrap();
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["qwen3-coder:30b", "llama3.2:3b"]);
    assert_eq!(
        models[0],
        OllamaModel {
            name: "qwen3-coder:30b".into(),
            size: 4_683_087_332,
            parameter_size: Some("8.0B".into()),
            quantization: Some("Q4_K_M".into()),
            family: Some("testkit".into()),
            context_length: Some(32768),
            modified_at: Some("2025-07-07T20:22:19.184789Z".into()),
        }
    );
    assert_eq!(
        ollama_first_model(&server.root_url())
            .await
            .unwrap()
            .as_deref(),
        Some("qwen3-coder:30b")
    );
    // Listing takes no turn and is no violation.
    assert_eq!(server.turns_served(), 0);
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

#[tokio::test]
async fn a_model_whose_details_fail_is_listed_without_a_context_length() {
    let tags = r#"{"models":[{"name":"phi3:mini","model":"phi3:mini","size":2176178913,"details":{"parameter_size":"3.8B","quantization_level":"Q4_0","family":"phi3"}}]}"#;
    let server = serve(vec![
        Reply::new(200, "application/json; charset=utf-8", tags),
        Reply::new(500, "application/json", r#"{"error":"boom"}"#),
    ])
    .await;
    let models = ollama_models(&server.base_url).await.unwrap();
    assert_eq!(
        models,
        [OllamaModel {
            name: "phi3:mini".into(),
            size: 2_176_178_913,
            parameter_size: Some("3.8B".into()),
            quantization: Some("Q4_0".into()),
            family: Some("phi3".into()),
            context_length: None,
            modified_at: None,
        }]
    );
}

#[tokio::test]
async fn models_of_an_ollama_not_running_is_unreachable() {
    let base_url = refused_base_url().await;
    let error = ollama_models(&base_url).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unreachable);
}
