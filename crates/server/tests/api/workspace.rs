//! A session of another workspace in the same store is out of the server's reach.

use code_mesh_core::{NewSession, Store};
use reqwest::Method;
use serde_json::json;

use crate::support::{MODEL, Script, TOKEN, TestServer, problem, send, session_ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_workspaces_session_is_not_found_on_every_route() {
    let server = TestServer::start(Script::new()).await;
    let mine = server.create_session().await;
    let other = server
        .store
        .create_session(NewSession {
            cwd: "/elsewhere".into(),
            workspace: "/elsewhere".into(),
            model: MODEL.into(),
            parent_id: None,
            agent: None,
        })
        .await
        .unwrap();
    let other = other.id.0;

    let listed = server.get_json("/api/sessions").await;
    assert_eq!(session_ids(&listed), [mine.as_str()]);

    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/sessions/{other}"), None),
        (Method::DELETE, format!("/api/sessions/{other}"), None),
        (
            Method::POST,
            format!("/api/sessions/{other}/fork"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/sessions/{other}/messages"), None),
        (
            Method::POST,
            format!("/api/sessions/{other}/messages"),
            Some(json!({"text": "hi"})),
        ),
        (Method::GET, format!("/api/sessions/{other}/events"), None),
        (Method::GET, format!("/api/sessions/{other}/stream"), None),
        (Method::GET, format!("/api/sessions/{other}/ws"), None),
        (Method::POST, format!("/api/sessions/{other}/abort"), None),
        (
            Method::POST,
            format!("/api/sessions/{other}/permissions/req_1"),
            Some(json!({"decision": "deny"})),
        ),
        (Method::GET, format!("/api/sessions/{other}/agents"), None),
    ];
    for (method, path, body) in routes {
        let mut request = server.request(method, &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        problem(send(request).await, 404, "session_not_found").await;
    }
    let ws = server.ws_url(&format!("/api/sessions/{other}/ws?token={TOKEN}"));
    match tokio_tungstenite::connect_async(ws).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404);
        }
        other => panic!("the handshake was not refused: {other:?}"),
    }

    // Still there, untouched: nothing was deleted, opened or prompted.
    let stored = server
        .store
        .session(&code_mesh_protocol::SessionId(other.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_event_seq, 0);
    assert_eq!(server.model_server.requests().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_agents_session_is_readable_but_only_its_run_drives_it() {
    let server = TestServer::start(Script::new()).await;
    let run = server.create_session().await;
    let workspace = server.workspace.display().to_string();
    let agent = server
        .store
        .create_session(NewSession {
            cwd: workspace.clone(),
            workspace,
            model: MODEL.into(),
            parent_id: Some(code_mesh_protocol::SessionId(run.clone())),
            agent: Some("tester".into()),
        })
        .await
        .unwrap()
        .id
        .0;

    let view = server.get_json(&format!("/api/sessions/{agent}")).await;
    assert_eq!(view["session"]["agent"], "tester", "{view}");
    let listed = server.get_json("/api/sessions").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    let refused: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::DELETE, format!("/api/sessions/{agent}"), None),
        (
            Method::POST,
            format!("/api/sessions/{agent}/fork"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/sessions/{agent}/messages"),
            Some(json!({"text": "hi"})),
        ),
        (Method::POST, format!("/api/sessions/{agent}/abort"), None),
        (
            Method::POST,
            format!("/api/sessions/{agent}/permissions/req_1"),
            Some(json!({"decision": "deny"})),
        ),
    ];
    for (method, path, body) in refused {
        let mut request = server.request(method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let body = problem(send(request).await, 409, "agent_session").await;
        assert!(
            body["hint"].as_str().unwrap().contains(&run),
            "{method} {path}: {body}"
        );
    }
    // Nothing was opened or deleted: the model was never asked, the session is still there.
    assert!(server.model_server.requests().is_empty());
    let view = server.get_json(&format!("/api/sessions/{agent}")).await;
    assert_eq!(view["live"], false, "{view}");
}
