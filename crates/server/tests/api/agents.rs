//! The agents route, and the host's models and configuration.

use code_mesh_core::{NewSession, RecordedEvent, Store};
use code_mesh_protocol::EventKind;
use serde_json::{Value, json};

use crate::support::{MODEL, Script, TestServer, config_json, model_listing};

fn kind(value: Value) -> EventKind {
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_agent_session_has_no_agents() {
    let server = TestServer::start(Script::new()).await;
    let id = server.create_session().await;
    let agents = server.get_json(&format!("/api/sessions/{id}/agents")).await;
    assert_eq!(agents, json!({"agents": [], "tasks": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_agents_and_tasks_come_from_its_events() {
    let server = TestServer::start(Script::new()).await;
    let workspace = server.workspace.display().to_string();
    let usage = json!({"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 0, "cache_write_tokens": 0});
    let events = [
        json!({"type": "agent_spawned", "agent": {"id": "agt_coord", "profile": "coordinator", "session_id": "ses_run", "model": MODEL}}),
        json!({"type": "task_created", "task": {"id": "tsk_1", "description": "write the tests", "agent": "tester"}}),
        json!({"type": "agent_spawned", "agent": {"id": "agt_tester", "profile": "tester", "parent": "agt_coord", "session_id": "ses_child", "model": MODEL}}),
        json!({"type": "task_started", "task": "tsk_1", "agent": "agt_tester"}),
        json!({"type": "agent_terminated", "agent": "agt_tester", "succeeded": true, "outcome": {"summary": "done", "usage": usage}}),
        json!({"type": "task_completed", "task": "tsk_1", "outcome": {"summary": "done", "usage": usage}}),
    ];
    let recorded = events
        .into_iter()
        .map(|event| RecordedEvent {
            at: 1,
            kind: kind(event),
        })
        .collect();
    let run = server
        .store
        .create_session_with_events(
            NewSession {
                cwd: workspace.clone(),
                workspace,
                model: MODEL.into(),
                parent_id: None,
                agent: None,
            },
            recorded,
        )
        .await
        .unwrap();

    let tree = server
        .get_json(&format!("/api/sessions/{}/agents", run.id))
        .await;
    let agents = tree["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "{tree}");
    assert_eq!(agents[0]["info"]["id"], "agt_coord");
    assert_eq!(agents[0]["succeeded"], Value::Null);
    assert_eq!(agents[1]["info"]["id"], "agt_tester");
    assert_eq!(agents[1]["info"]["parent"], "agt_coord");
    assert_eq!(agents[1]["succeeded"], true);
    let tasks = tree["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{tree}");
    assert_eq!(tasks[0]["info"]["id"], "tsk_1");
    // The protocol's TaskState: waiting, running, done, failed, cancelled.
    assert_eq!(tasks[0]["state"], "done");
    assert_eq!(tasks[0]["agents"], json!(["agt_tester"]));
    assert_eq!(tasks[0]["failure"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_and_config_are_the_hosts() {
    let server = TestServer::start(Script::new()).await;
    let models = server.get_json("/api/models").await;
    assert_eq!(models, json!([model_listing()]));
    assert_eq!(models[0]["source"], "config");

    let config = server.get_json("/api/config").await;
    assert_eq!(config, config_json(&server.model_server.base_url()));
    assert_eq!(config["providers"]["openai"]["api_key"], "********");

    for path in ["/api/models", "/api/config"] {
        let anonymous = crate::support::send(server.without_token(path)).await;
        crate::support::problem(anonymous, 401, "unauthorized").await;
    }
}
