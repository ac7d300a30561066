//! `web_fetch` against a local HTTP server the test runs: conversion, size cap, refusals,
//! the host allow-list and the sandbox's network switch.

use code_mesh_core::Tool;
use code_mesh_protocol::SandboxMode;
use code_mesh_tools::WebFetchTool;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::Workspace;

const PAGE: &str = "<!doctype html><html><head><title>T</title><script>var x = 1;</script></head>\
<body><h1>Guide</h1><p>See <a href=\"/api\">the API</a> &amp; more.</p><ul><li>one</li><li>two</li></ul></body></html>";

/// Serves a few fixed responses on 127.0.0.1; returns the port.
async fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(count) => request.extend_from_slice(&buffer[..count]),
                    }
                }
                let request = String::from_utf8_lossy(&request).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, headers, body): (&str, String, Vec<u8>) = match path.as_str() {
                    "/page" => (
                        "200 OK",
                        "Content-Type: text/html; charset=utf-8\r\n".into(),
                        PAGE.into(),
                    ),
                    "/data.json" => (
                        "200 OK",
                        "Content-Type: application/json\r\n".into(),
                        b"{\"a\": 1}".to_vec(),
                    ),
                    "/big" => (
                        "200 OK",
                        "Content-Type: text/plain\r\n".into(),
                        vec![b'x'; 6 * 1024 * 1024],
                    ),
                    "/logo.png" => (
                        "200 OK",
                        "Content-Type: image/png\r\n".into(),
                        vec![0x89, b'P', b'N', b'G', 0, 0],
                    ),
                    "/elsewhere" => (
                        "302 Found",
                        format!("Location: http://localhost:{port}/page\r\n"),
                        Vec::new(),
                    ),
                    _ => (
                        "404 Not Found",
                        "Content-Type: text/plain\r\n".into(),
                        b"no".to_vec(),
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

async fn fetch(
    tool: &WebFetchTool,
    workspace: &Workspace,
    arguments: Value,
) -> Result<String, String> {
    tool.call(arguments, &workspace.context)
        .await
        .map(|output| output.text)
        .map_err(|error| error.message)
}

#[tokio::test]
async fn html_comes_back_as_markdown_or_text() {
    let port = serve().await;
    let workspace = Workspace::new();
    let tool = WebFetchTool::new(Vec::new());
    let url = format!("http://127.0.0.1:{port}/page");
    let markdown = fetch(&tool, &workspace, json!({"url": url})).await.unwrap();
    assert_eq!(
        markdown,
        format!(
            "{url} (text/html; charset=utf-8, {} B)\n\n# Guide\n\nSee [the API](http://127.0.0.1:{port}/api) & more.\n\n- one\n- two\n",
            PAGE.len()
        )
    );
    let text = fetch(&tool, &workspace, json!({"url": url, "format": "text"}))
        .await
        .unwrap();
    assert!(
        text.ends_with("\n\nGuide\n\nSee the API & more.\n\n- one\n- two\n"),
        "{text}"
    );
    let json = fetch(
        &tool,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/data.json")}),
    )
    .await
    .unwrap();
    assert!(json.ends_with("\n\n{\"a\": 1}"), "{json}");
}

#[tokio::test]
async fn big_bodies_are_capped_and_binary_ones_refused() {
    let port = serve().await;
    let workspace = Workspace::new();
    let tool = WebFetchTool::new(Vec::new());
    let big = fetch(
        &tool,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/big")}),
    )
    .await
    .unwrap();
    assert!(
        big.contains("(text/plain, 5.0 MiB)\n[only the first 5.0 MiB of the response was read]\n"),
        "{}",
        &big[..200]
    );
    assert!(
        big.len() <= workspace.context.limits.max_output_bytes + 200,
        "{}",
        big.len()
    );
    assert!(
        big.ends_with("more left out; fetch a more specific URL for the rest …]"),
        "{}",
        &big[big.len() - 200..]
    );
    let error = fetch(
        &tool,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/logo.png")}),
    )
    .await
    .unwrap_err();
    assert!(error.contains("is `image/png`, not text"), "{error}");
    let error = fetch(
        &tool,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/missing")}),
    )
    .await
    .unwrap_err();
    assert!(error.contains("answered HTTP 404 Not Found"), "{error}");
    let error = fetch(&tool, &workspace, json!({"url": "file:///etc/passwd"}))
        .await
        .unwrap_err();
    assert!(
        error.contains("fetches http and https URLs only"),
        "{error}"
    );
}

#[tokio::test]
async fn only_allowed_hosts_are_fetched_and_redirects_stay_on_them() {
    let port = serve().await;
    let workspace = Workspace::new();
    let docs_only = WebFetchTool::new(vec!["docs.rs".into(), "*.python.org".into()]);
    let error = fetch(
        &docs_only,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/page")}),
    )
    .await
    .unwrap_err();
    assert!(
        error.starts_with(
            "`127.0.0.1` is not in the hosts `[tools] web_allow` permits (docs.rs, *.python.org)"
        ),
        "{error}"
    );
    let local = WebFetchTool::new(vec!["127.0.0.1".into()]);
    assert!(
        fetch(
            &local,
            &workspace,
            json!({"url": format!("http://127.0.0.1:{port}/page")})
        )
        .await
        .is_ok()
    );
    let error = fetch(
        &local,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/elsewhere")}),
    )
    .await
    .unwrap_err();
    assert!(
        error.contains(&format!("redirects to `http://localhost:{port}/page`")),
        "{error}"
    );
    let both = WebFetchTool::new(vec!["127.0.0.1".into(), "localhost".into()]);
    let followed = fetch(
        &both,
        &workspace,
        json!({"url": format!("http://127.0.0.1:{port}/elsewhere")}),
    )
    .await
    .unwrap();
    assert!(
        followed.starts_with(&format!("http://localhost:{port}/page (")),
        "{followed}"
    );
}

#[tokio::test]
async fn a_sandbox_without_network_denies_fetching() {
    let port = serve().await;
    let mut workspace = Workspace::new();
    workspace.context.sandbox.mode = SandboxMode::WorkspaceWrite;
    workspace.context.sandbox.network = false;
    let tool = WebFetchTool::new(Vec::new());
    let url = format!("http://127.0.0.1:{port}/page");
    let error = fetch(&tool, &workspace, json!({"url": url}))
        .await
        .unwrap_err();
    assert!(
        error.starts_with("web_fetch is denied: the sandbox forbids network access"),
        "{error}"
    );
    assert!(error.contains("`[tools] network = true`"), "{error}");
    workspace.context.sandbox.network = true;
    assert!(fetch(&tool, &workspace, json!({"url": url})).await.is_ok());
    workspace.context.sandbox.network = false;
    workspace.context.sandbox.mode = SandboxMode::Off;
    assert!(fetch(&tool, &workspace, json!({"url": url})).await.is_ok());
}
