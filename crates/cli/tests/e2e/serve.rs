//! `code-mesh serve`: the real binary on a free port, driven over HTTP.

use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use code_mesh_testkit::Turn;
use serde_json::{Value, json};

use crate::harness::*;

/// A running `code-mesh serve --port 0`, its stderr collected; stopped with SIGTERM on drop.
pub(crate) struct Served {
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub(crate) base: String,
}

impl Served {
    pub(crate) fn start(project: &Project, base_url: Option<&str>, args: &[&str]) -> Served {
        let mut child = project
            .command(base_url)
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stderr, reader) = collect_output(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let text = stderr.lock().unwrap().clone();
            // The line after it says how to open the page: wait for the whole startup.
            if text.contains("openapi.json")
                && let Some(line) = text.lines().find(|l| l.starts_with("listening on "))
            {
                break line.trim_start_matches("listening on ").to_owned();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("serve exited with {status} before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "serve never listened:\n{text}");
            std::thread::sleep(Duration::from_millis(10));
        };
        Served {
            child: Some(child),
            stderr,
            reader: Some(reader),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client for this server that sends `token`.
    pub(crate) fn api(&self, token: &str) -> Api<'_> {
        Api {
            served: self,
            http: client(),
            token: token.to_owned(),
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and returns the exit code and the whole stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        self.terminate()
    }

    /// Sends SIGTERM (SIGKILL after 20 s) and returns the exit code and the whole stderr.
    pub(crate) fn terminate(&mut self) -> (Option<i32>, String) {
        let Some(mut child) = self.child.take() else {
            return (None, self.stderr());
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status.code(), self.stderr())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Requests to a [`Served`] with a bearer token.
pub(crate) struct Api<'a> {
    served: &'a Served,
    http: reqwest::Client,
    token: String,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.served.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    pub(crate) async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.served.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Opens a session with `body`, which must be created; its id.
    pub(crate) async fn create_session(&self, body: Value) -> String {
        let created = self.post_json("/api/sessions", body).await;
        assert_eq!(created.status(), 201, "{}", self.served.stderr());
        session_id(&created.json().await.unwrap())
    }

    /// Posts the prompt `text` to session `id`.
    async fn prompt(&self, id: &str, text: &str) -> reqwest::Response {
        self.post_json(
            &format!("/api/sessions/{id}/messages"),
            json!({"text": text}),
        )
        .await
    }

    /// Session `id`'s event stream from its first event.
    async fn stream(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/api/sessions/{id}/stream?after=0"))
            .await
    }
}

/// The session id of a session view.
fn session_id(view: &Value) -> String {
    view["session"]["id"].as_str().unwrap().to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The token of a `#token=` address in `stderr`.
fn printed_token(stderr: &str) -> Option<String> {
    let start = stderr.find("#token=")? + "#token=".len();
    let token: String = stderr[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(token)
}

/// Reads SSE `data:` events from `response` until one matches `stop`; returns them all.
async fn read_events_until(
    response: &mut reqwest::Response,
    stop: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = String::new();
    let mut events = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = seen.find("\n\n") {
                let message: String = seen.drain(..end + 2).collect();
                for line in message.lines() {
                    if let Some(data) = line.strip_prefix("data: ") {
                        let event: Value = serde_json::from_str(data).unwrap();
                        let done = stop(&event);
                        events.push(event);
                        if done {
                            return;
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("the stop event never came; got {events:?}"));
    events
}

/// A coordinator that hands "write the notes" to a coder, which answers `step1` to `step20`
/// slowly after `coder_delay_ms`, so its conversation can be watched while it works.
pub(crate) fn delegated_notes_script(coder_delay_ms: u64) -> Vec<Turn> {
    let words: Vec<String> = (1..=20).map(|n| format!("step{n}")).collect();
    vec![
        Turn::new()
            .with_tool_call(code_mesh_testkit::ToolCall::new(
                "delegate",
                json!({"tasks": [{"id": "a", "description": "write the notes", "agent": "coder"}]}),
            ))
            .for_agent("coordinator")
            .expect_last_user_contains("take notes"),
        Turn::reply(words.join(" "))
            .for_agent("coder")
            .with_delay_ms(coder_delay_ms)
            .with_chunk_delay_ms(30),
        Turn::reply("All done.").for_agent("coordinator"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_made_on_the_first_start_and_only_then_printed() {
    let project = Project::new();
    let first = Served::start(&project, None, &[]);
    let base = first.base.clone();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "the real port is printed: {base}");
    let stderr = first.stderr();
    let token = printed_token(&stderr).unwrap_or_else(|| panic!("no token printed:\n{stderr}"));
    assert_eq!(token.len(), 64, "{stderr}");
    assert!(
        stderr.contains(&format!("open {base}/#token={token}")),
        "{stderr}"
    );

    let refused = client()
        .get(first.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "unauthorized", "{problem}");
    let wrong = first.api(&"0".repeat(64)).get("/api/sessions").await;
    assert_eq!(wrong.status(), 401);
    let listed = first.api(&token).get("/api/sessions").await;
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Value>().await.unwrap(), json!([]));

    let (code, stderr) = first.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");

    // The second start reuses the stored token and does not print it.
    let second = Served::start(&project, None, &[]);
    let stderr = second.stderr();
    assert!(!stderr.contains(&token), "{stderr}");
    assert!(printed_token(&stderr).is_none(), "{stderr}");
    assert!(stderr.contains("--print-token"), "{stderr}");
    let listed = second.api(&token).get("/api/sessions").await;
    assert_eq!(listed.status(), 200);
    drop(second);

    let printed = project
        .command(None)
        .args(["serve", "--print-token"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), token);
    // Nor do provider key listings show it.
    let listed = project
        .command(None)
        .args(["auth", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("code-mesh-serve"));
}

#[tokio::test]
async fn a_given_token_replaces_the_stored_one_for_that_run() {
    let project = Project::new();
    let token = "given-token-0123456789";
    let served = Served::start(&project, None, &["--token", token]);
    assert!(
        printed_token(&served.stderr()).is_none(),
        "{}",
        served.stderr()
    );
    let listed = served.api(token).get("/api/sessions").await;
    assert_eq!(listed.status(), 200);

    let short = project
        .command(None)
        .args(["serve", "--port", "0", "--token", "short"])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than 16"));
}
#[test]
fn a_host_other_machines_can_reach_needs_allow_remote() {
    let project = Project::new();
    let outcome = Outcome::from(
        project
            .command(None)
            .args(["serve", "--port", "0", "--host", "0.0.0.0"])
            .output()
            .unwrap(),
    );
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("refusing to listen on 0.0.0.0"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("--allow-remote"),
        "{}",
        outcome.stderr
    );
    // Nothing was stored: the refusal comes before the token.
    assert!(!exists(
        &project.code_mesh_home().join("data/credentials.enc")
    ));
}

#[tokio::test]
async fn allow_remote_listens_elsewhere_with_a_warning() {
    let project = Project::new();
    let served = Served::start(&project, None, &["--host", "0.0.0.0", "--allow-remote"]);
    let stderr = served.stderr();
    assert!(stderr.contains("warning: listening on 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("run commands"), "{stderr}");
    let port = served.base.rsplit(':').next().unwrap().to_owned();
    let health = client()
        .get(format!("http://127.0.0.1:{port}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn the_config_is_shown_with_its_secrets_masked() {
    let project = Project::new();
    project.write(
        "code-mesh.toml",
        r#"
[providers.acme]
base_url = "https://bob:hunter2canary@acme.example/v1"
api_key_env = "ACME_API_KEY"
models = ["m1"]
headers = { "x-api-key" = "sk-headercanary-123", "X-Title" = "my-app" }
"#,
    );
    let token = "config-token-0123456789";
    let served = Served::start(&project, None, &["--token", token]);
    let response = served.api(token).get("/api/config").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("canary"), "{text}");
    let config: Value = serde_json::from_str(&text).unwrap();
    let acme = &config["providers"]["acme"];
    assert_eq!(
        acme["base_url"], "https://********@acme.example/v1",
        "{config}"
    );
    assert_eq!(acme["headers"]["x-api-key"], "********", "{config}");
    assert_eq!(acme["headers"]["X-Title"], "my-app", "{config}");
    assert_eq!(acme["api_key_env"], "ACME_API_KEY", "{config}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_goes_round_trip_over_the_api() {
    let project = Project::new();
    let server = serve(vec![
        Turn::reply("Hello from the scripted model").expect_last_user_contains("say hello"),
    ]);
    let token = "round-trip-token-0123456789";
    let served = Served::start(&project, Some(&server.base_url()), &["--token", token]);
    let api = served.api(token);

    let id = api.create_session(json!({})).await;

    let accepted = api.prompt(&id, "say hello").await;
    assert_eq!(accepted.status(), 202);

    // The stream replays from the start, so the turn cannot finish before it is read.
    let mut stream = api.stream(&id).await;
    assert_eq!(stream.status(), 200);
    let events = read_events_until(&mut stream, |event| event["type"] == "turn_finished").await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.last(), Some(&"turn_finished"), "{kinds:?}");
    assert_eq!(events.last().unwrap()["reason"], "completed", "{events:?}");
    assert!(kinds.contains(&"text_delta"), "{kinds:?}");
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    drop(stream);

    let messages = api.get_json(&format!("/api/sessions/{id}/messages")).await;
    let reply = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap_or_else(|| panic!("no assistant message: {messages}"));
    assert!(
        reply.to_string().contains("Hello from the scripted model"),
        "{reply}"
    );
    let (code, stderr) = served.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_verified(&server);
}

#[tokio::test]
async fn sessions_that_cannot_open_say_why() {
    let project = Project::new();
    let token = "open-errors-token-0123456789";
    // No provider key anywhere, and no Ollama (the harness points it at a closed port).
    let served = Served::start(&project, None, &["--token", token]);
    let api = served.api(token);
    let open = |body: Value| api.post_json("/api/sessions", body);

    let missing_key = open(json!({"model": "openai/gpt-5-mini"})).await;
    assert_eq!(missing_key.status(), 503);
    let problem: Value = missing_key.json().await.unwrap();
    assert_eq!(problem["code"], "session_unavailable", "{problem}");
    assert!(
        problem["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("code-mesh auth login openai"),
        "{problem}"
    );

    let unknown = open(json!({"model": "nosuchprovider/model"})).await;
    assert_eq!(unknown.status(), 400);
    let problem: Value = unknown.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchprovider"),
        "{problem}"
    );

    let nothing_configured = open(json!({})).await;
    assert_eq!(nothing_configured.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hierarchical_run_shows_its_agents_and_tasks() {
    let project = Project::new();
    let server = serve(crate::hierarchical::diamond_script());
    let token = "agents-route-token-0123456789";
    let served = Served::start(&project, Some(&server.base_url()), &["--token", token]);
    let api = served.api(token);
    let id = api
        .create_session(json!({"strategy": "hierarchical"}))
        .await;
    let accepted = api.prompt(&id, "add a flag").await;
    assert_eq!(accepted.status(), 202, "{}", served.stderr());

    // Wait for the run to end: the session reports no turn running and its reply is stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = api.get_json(&format!("/api/sessions/{id}")).await;
        if view["running"] == false && view["session"]["message_count"].as_u64() >= Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never ended: {view}\n{}",
            served.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let agents = api.get_json(&format!("/api/sessions/{id}/agents")).await;
    let mut profiles: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|agent| agent["info"]["profile"].as_str())
        .collect();
    profiles.sort_unstable();
    assert_eq!(
        profiles,
        ["architect", "coder", "coordinator", "reviewer", "tester"],
        "{agents}"
    );
    let tasks = agents["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4, "{agents}");
    assert!(tasks.iter().all(|task| task["state"] == "done"), "{agents}");
    // Sub-agents' sessions are not listed as the user's sessions.
    let listed = api.get_json("/api/sessions").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let (code, stderr) = served.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_verified(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_conversation_streams_live_while_it_works() {
    let project = Project::new();
    // The coder answers late and slowly, so its stream is watched while it works.
    let server = serve(delegated_notes_script(1500));
    let token = "agent-stream-token-0123456789";
    let served = Served::start(&project, Some(&server.base_url()), &["--token", token]);
    let api = served.api(token);
    let run = api
        .create_session(json!({"strategy": "hierarchical"}))
        .await;
    let mut run_stream = api.stream(&run).await;
    let accepted = api.prompt(&run, "take notes").await;
    assert_eq!(accepted.status(), 202);
    let spawned = read_events_until(&mut run_stream, |event| {
        event["type"] == "agent_spawned" && event["agent"]["profile"] == "coder"
    })
    .await;
    let coder = spawned.last().unwrap()["agent"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut agent_stream = api.stream(&coder).await;
    assert_eq!(agent_stream.status(), 200);
    // Deltas are never stored: seeing them proves the agent's live bus reached the stream.
    let agent_events = read_events_until(&mut agent_stream, |event| {
        event["type"] == "text_delta" && event["delta"].as_str().unwrap_or("").contains("step")
    })
    .await;
    assert!(
        agent_events
            .iter()
            .all(|event| event["session_id"] == coder.as_str()),
        "{agent_events:?}"
    );
    // The agent's session is read-only.
    let refused = api.prompt(&coder, "hi").await;
    assert_eq!(refused.status(), 409);

    let finished =
        read_events_until(&mut run_stream, |event| event["type"] == "turn_finished").await;
    assert_eq!(
        finished.last().unwrap()["reason"],
        "completed",
        "{finished:?}"
    );
    drop(agent_stream);
    drop(run_stream);
    let (code, stderr) = served.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_verified(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_streams_and_cancels_the_running_turn_which_stays_resumable() {
    let project = Project::new();
    // The model never answers in time: the turn is running when the server is stopped.
    let server = serve(vec![Turn::reply("too late").with_delay_ms(120_000)]);
    let token = "shutdown-token-0123456789";
    let mut served = Served::start(&project, Some(&server.base_url()), &["--token", token]);
    let id;
    let mut stream;
    {
        let api = served.api(token);
        id = api.create_session(json!({})).await;
        stream = api.stream(&id).await;
        assert_eq!(api.prompt(&id, "wait for it").await.status(), 202);
        read_events_until(&mut stream, |event| event["type"] == "request_started").await;
    }
    let (code, stderr) = tokio::task::block_in_place(|| served.terminate());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    // The open stream ends with the server instead of hanging.
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
        rest
    })
    .await
    .expect("the stream did not end with the server");
    assert!(!rest.contains("too late"), "{rest}");

    // The turn was cancelled and saved: a new server shows it, and the session takes prompts.
    let served = Served::start(&project, Some(&server.base_url()), &["--token", token]);
    let api = served.api(token);
    let events = api.get_json(&format!("/api/sessions/{id}/events")).await;
    let finished = events
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|event| event["type"] == "turn_finished")
        .unwrap_or_else(|| panic!("no turn_finished stored: {events}"));
    assert_eq!(finished["reason"], "cancelled", "{finished}");
    let view = api.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(view["running"], false, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_permission_question_is_answered_through_the_runs_session() {
    let project = Project::new();
    let server = serve(vec![
        Turn::new()
            .with_tool_call(code_mesh_testkit::ToolCall::new(
                "delegate",
                json!({"tasks": [{"id": "a", "description": "write the notes", "agent": "coder"}]}),
            ))
            .for_agent("coordinator"),
        Turn::new()
            .with_tool_call(code_mesh_testkit::ToolCall::new(
                "write",
                json!({"path": "notes.txt", "content": "agreed\n"}),
            ))
            .for_agent("coder"),
        Turn::reply("Wrote the notes.")
            .for_agent("coder")
            .expect_tool_result_contains("notes.txt"),
        Turn::reply("All done.").for_agent("coordinator"),
    ]);
    let token = "agent-question-token-0123456789";
    let served = Served::start(&project, Some(&server.base_url()), &["--token", token]);
    let api = served.api(token);
    let run = api
        .create_session(json!({"strategy": "hierarchical"}))
        .await;
    let mut stream = api.stream(&run).await;
    assert_eq!(api.prompt(&run, "take notes").await.status(), 202);
    let asked =
        read_events_until(&mut stream, |event| event["type"] == "permission_requested").await;
    let question = asked.last().unwrap().clone();
    let request_id = question["request_id"].as_str().unwrap().to_owned();
    assert!(
        question["summary"].as_str().unwrap().contains("(coder)"),
        "{question}"
    );
    assert!(!project.dir().join("notes.txt").exists());
    // The run's view lists the question, and answering it lets the agent write.
    let view = api.get_json(&format!("/api/sessions/{run}")).await;
    assert_eq!(
        view["pending_permissions"][0]["request_id"], request_id,
        "{view}"
    );
    let answered = api
        .post_json(
            &format!("/api/sessions/{run}/permissions/{request_id}"),
            json!({"decision": "allow_once"}),
        )
        .await;
    assert_eq!(answered.status(), 204);
    let rest = read_events_until(&mut stream, |event| event["type"] == "turn_finished").await;
    assert_eq!(rest.last().unwrap()["reason"], "completed", "{rest:?}");
    assert!(
        rest.iter()
            .any(|event| event["type"] == "permission_decided"
                && event["request_id"] == request_id.as_str()
                && event["source"] == "user"),
        "{rest:?}"
    );
    assert_eq!(
        std::fs::read_to_string(project.dir().join("notes.txt")).unwrap(),
        "agreed\n"
    );
    drop(stream);
    drop(api);
    let (code, stderr) = served.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_verified(&server);
}
