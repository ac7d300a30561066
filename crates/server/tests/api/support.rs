//! A real server for the tests: engine sessions on the scripted model server, a SQLite store
//! in a temporary directory, the built-in tools on a temporary workspace, and small clients
//! for its REST routes, Server-Sent Events and WebSocket.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{
    NewSession, RecordedEvent, SandboxPolicy, Session, SessionConfig, SessionStart, Store,
    StoreError, ToolLimits,
};
use code_mesh_protocol::config::Strategy;
use code_mesh_protocol::{
    ContextState, Event, EventKind, Message, ModelListing, SandboxMode, SessionId, SessionInfo,
};
use code_mesh_providers::{OpenAiChatProvider, ProviderSettings};
use code_mesh_server::{HostError, HostErrorKind, OpenRequest, OpenedSession, SessionHost};
use code_mesh_store::SqliteStore;
pub use code_mesh_testkit::{Script, ScriptedServer, Turn};
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The server's token in every test.
pub const TOKEN: &str = "test-token";
/// The one model the test host offers.
pub const MODEL: &str = "openai/test-model";
/// The longest any single wait may take before the test fails instead of hanging.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Opens engine sessions as the binary would, on the scripted model server.
struct TestHost {
    store: SqliteStore,
    model_base_url: String,
    workspace: PathBuf,
}

fn host_error(kind: HostErrorKind) -> impl Fn(String) -> HostError {
    move |message| HostError::new(kind, message)
}

#[async_trait]
impl SessionHost for TestHost {
    async fn open(&self, request: OpenRequest) -> Result<OpenedSession, HostError> {
        if let Some(model) = request.model.as_deref().filter(|model| *model != MODEL) {
            return Err(HostError::new(
                HostErrorKind::BadRequest,
                format!("`{model}` is not a model of this setup"),
            )
            .with_hint(format!("use {MODEL}")));
        }
        if request
            .strategy
            .is_some_and(|strategy| strategy != Strategy::Single)
        {
            return Err(HostError::new(
                HostErrorKind::BadRequest,
                "the test host runs the single agent only",
            ));
        }
        let provider =
            OpenAiChatProvider::new(ProviderSettings::new("openai", self.model_base_url.clone()))
                .map_err(|err| host_error(HostErrorKind::Unavailable)(err.to_string()))?;
        let tools = code_mesh_tools::builtin_tools_with(&code_mesh_tools::ToolSettings {
            cwd: Some(self.workspace.clone()),
            ..code_mesh_tools::ToolSettings::default()
        });
        let config = SessionConfig {
            provider: Arc::new(provider),
            model: MODEL.into(),
            provider_model: "test-model".into(),
            workspace: self.workspace.clone(),
            cwd: self.workspace.clone(),
            allowed_paths: Vec::new(),
            max_turns: 10,
            temperature: None,
            max_tokens: None,
            auto_approve: false,
            limits: ToolLimits::default(),
            system_prompt: code_mesh_core::base_system_prompt().into(),
            instructions: Vec::new(),
            sandbox: SandboxPolicy {
                mode: SandboxMode::Off,
                ..SandboxPolicy::default()
            },
            hooks: Vec::new(),
            permissions: Default::default(),
            memory: None,
            agent: "coder".into(),
            context: Default::default(),
        };
        let start = match request.resume {
            Some(id) => SessionStart::Resume(id),
            None => SessionStart::New,
        };
        let store: Arc<dyn Store> = Arc::new(self.store.clone());
        let (handle, driver) = Session::open(store, tools, config, start)
            .await
            .map_err(|err| host_error(HostErrorKind::Unavailable)(err.to_string()))?;
        Ok(OpenedSession {
            handle,
            driver: tokio::spawn(driver.run()),
        })
    }

    /// A session holding copies of the parent's messages through `through_seq`, as
    /// `sessions fork` makes it.
    async fn fork(
        &self,
        id: &SessionId,
        through_seq: Option<u64>,
    ) -> Result<SessionInfo, HostError> {
        let internal = host_error(HostErrorKind::Internal);
        let parent = self
            .store
            .session(id)
            .await
            .map_err(|err| internal(err.to_string()))?
            .ok_or_else(|| HostError::new(HostErrorKind::NotFound, format!("no session `{id}`")))?;
        let events = self
            .store
            .events(id)
            .await
            .map_err(|err| internal(err.to_string()))?;
        let last = events
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::MessageAdded { message } => Some(message.seq),
                _ => None,
            })
            .max()
            .ok_or_else(|| {
                HostError::new(
                    HostErrorKind::BadRequest,
                    format!("session `{id}` has no messages to fork"),
                )
            })?;
        let through = through_seq.unwrap_or(last);
        if through == 0 || through > last {
            return Err(HostError::new(
                HostErrorKind::BadRequest,
                format!("its messages are 1 to {last}"),
            ));
        }
        let now = code_mesh_core::now_ms();
        let mut recorded = vec![RecordedEvent {
            at: now,
            kind: EventKind::SessionForked {
                parent_id: id.clone(),
                through_seq: through,
            },
        }];
        recorded.extend(events.into_iter().filter_map(|event| match event.kind {
            EventKind::MessageAdded { message } if message.seq <= through => Some(RecordedEvent {
                at: now,
                kind: EventKind::MessageAdded { message },
            }),
            _ => None,
        }));
        let new = NewSession {
            cwd: parent.cwd,
            workspace: parent.workspace,
            model: parent.model,
            parent_id: Some(id.clone()),
            agent: None,
        };
        self.store
            .create_session_with_events(new, recorded)
            .await
            .map_err(|err| internal(err.to_string()))
    }

    async fn models(&self) -> Result<Vec<ModelListing>, HostError> {
        Ok(vec![model_listing()])
    }

    fn config(&self) -> Value {
        config_json(&self.model_base_url)
    }
}

/// What `GET /api/models` must return.
pub fn model_listing() -> ModelListing {
    ModelListing {
        model: MODEL.into(),
        provider: "openai".into(),
        context: Some(128_000),
        input_price: Some(0.25),
        output_price: Some(2.0),
        source: "config".into(),
        role: Some("default".into()),
        ..ModelListing::default()
    }
}

/// What `GET /api/config` must return.
pub fn config_json(model_base_url: &str) -> Value {
    json!({
        "providers": {
            "model": MODEL,
            "openai": {"base_url": model_base_url, "api_key": "********"},
        },
        "tools": {"sandbox": "off"},
    })
}

/// The server's store, remembering every session id it was asked about, so a test can prove
/// a request never reached it.
pub struct RecordingStore {
    inner: SqliteStore,
    ids: Mutex<Vec<String>>,
}

impl RecordingStore {
    fn saw(&self, id: &SessionId) {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(id.0.clone());
    }

    /// Every session id asked about so far.
    pub fn ids_seen(&self) -> Vec<String> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Store for RecordingStore {
    async fn create_session(&self, new: NewSession) -> Result<SessionInfo, StoreError> {
        self.inner.create_session(new).await
    }
    async fn session(&self, id: &SessionId) -> Result<Option<SessionInfo>, StoreError> {
        self.saw(id);
        self.inner.session(id).await
    }
    async fn latest_session(&self, cwd: &str) -> Result<Option<SessionInfo>, StoreError> {
        self.inner.latest_session(cwd).await
    }
    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.list_sessions(limit).await
    }
    async fn user_sessions_in(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.user_sessions_in(workspace, limit).await
    }
    async fn messages(&self, id: &SessionId) -> Result<Vec<Message>, StoreError> {
        self.saw(id);
        self.inner.messages(id).await
    }
    async fn events(&self, id: &SessionId) -> Result<Vec<Event>, StoreError> {
        self.saw(id);
        self.inner.events(id).await
    }
    async fn events_after(
        &self,
        id: &SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.saw(id);
        self.inner.events_after(id, after_seq, limit).await
    }
    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        self.inner.append_event(event).await
    }
    async fn create_session_with_events(
        &self,
        new: NewSession,
        events: Vec<RecordedEvent>,
    ) -> Result<SessionInfo, StoreError> {
        self.inner.create_session_with_events(new, events).await
    }
    async fn delete_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.saw(id);
        self.inner.delete_session(id).await
    }
    async fn child_sessions(&self, id: &SessionId) -> Result<Vec<SessionInfo>, StoreError> {
        self.saw(id);
        self.inner.child_sessions(id).await
    }
    async fn context_state(&self, id: &SessionId) -> Result<ContextState, StoreError> {
        self.saw(id);
        self.inner.context_state(id).await
    }
}

/// A running API server with its model server, store and workspace.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<RecordingStore>,
    /// The canonical workspace directory the sessions work in.
    pub workspace: PathBuf,
    pub model_server: ScriptedServer,
    pub state: code_mesh_server::AppState,
    _data: tempfile::TempDir,
    _workspace_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts the model server with `script`, then the API server over it.
    pub async fn start(script: Script) -> TestServer {
        let model_server = ScriptedServer::start(script).await.unwrap();
        let data = tempfile::tempdir().unwrap();
        let workspace_dir = tempfile::tempdir().unwrap();
        let workspace = workspace_dir.path().canonicalize().unwrap();
        let sqlite = SqliteStore::open(data.path().join("code-mesh.db")).unwrap();
        let store = Arc::new(RecordingStore {
            inner: sqlite.clone(),
            ids: Mutex::default(),
        });
        let host = Arc::new(TestHost {
            store: sqlite,
            model_base_url: model_server.base_url(),
            workspace: workspace.clone(),
        });
        let (router, state) = code_mesh_server::router(
            host,
            store.clone(),
            code_mesh_server::ServerOptions {
                token: TOKEN.into(),
                cors_origins: vec![],
                workspace: workspace.display().to_string(),
            },
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(code_mesh_server::serve(listener, router, state.stopped()));
        TestServer {
            state,
            base,
            client: reqwest::Client::new(),
            store,
            workspace,
            model_server,
            _data: data,
            _workspace_dir: workspace_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `ws://` for `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws{}", self.url(path).trim_start_matches("http"))
    }

    /// A request to `path` carrying the token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
            .timeout(DEADLINE)
    }

    /// A GET of `path` without the token; the caller adds any other credentials.
    pub fn without_token(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// Creates a session and returns its id.
    pub async fn create_session(&self) -> String {
        let response = self.post("/api/sessions", json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let view: Value = response.json().await.unwrap();
        view["session"]["id"].as_str().unwrap().to_owned()
    }

    /// Posts a prompt, which must be accepted.
    pub async fn prompt(&self, id: &str, text: &str) {
        let response = self
            .post(
                &format!("/api/sessions/{id}/messages"),
                json!({"text": text}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "POST a prompt");
    }

    /// Opens session `id`'s event stream, replaying from `after`.
    pub async fn stream(&self, id: &str, after: u64) -> SseReader {
        let response = send(
            self.without_token(&format!("/api/sessions/{id}/stream?after={after}"))
                .bearer_auth(TOKEN),
        )
        .await;
        SseReader::new(response)
    }

    /// Runs one turn on a new session and returns the session's id and the turn's events.
    pub async fn session_with_turn(&self, prompt: &str) -> (String, Vec<Value>) {
        let id = self.create_session().await;
        let mut stream = self.stream(&id, 0).await;
        self.prompt(&id, prompt).await;
        let events = stream.until_type("turn_finished").await;
        (id, events)
    }
}

/// Sends `request`, which must get an answer.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.unwrap()
}

/// The `Content-Type` of `response`, empty when it has none.
fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts `response` is a problem with this status and code, and returns its body.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let url = response.url().clone();
    assert_eq!(response.status().as_u16(), status, "status of {url}");
    let content_type = content_type(&response);
    assert_eq!(
        content_type, "application/problem+json",
        "content type of {url}"
    );
    let body: Value = response.json().await.unwrap();
    assert_problem(&body, status, code);
    body
}

/// Asserts `body` is a problem body with this status and code.
pub fn assert_problem(body: &Value, status: u16, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("urn:code-mesh:problem:{code}"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
}

/// One Server-Sent Events message.
#[derive(Debug, Clone, Default)]
pub struct SseMessage {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseMessage {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|err| panic!("`{}` is not JSON: {err}", self.data))
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;

/// Reads an event stream a message at a time; comments (keep-alives) are skipped.
pub struct SseReader {
    pub status: StatusCode,
    pub content_type: String,
    body: ByteStream,
    buffer: Vec<u8>,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        let content_type = content_type(&response);
        SseReader {
            status: response.status(),
            content_type,
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The next message; fails the test when none comes within [`DEADLINE`].
    pub async fn next(&mut self) -> SseMessage {
        assert_eq!(self.status, StatusCode::OK, "the stream was refused");
        assert!(
            self.content_type.starts_with("text/event-stream"),
            "the stream is `{}`",
            self.content_type
        );
        tokio::time::timeout(DEADLINE, self.read_message())
            .await
            .expect("no event within the deadline")
    }

    async fn read_message(&mut self) -> SseMessage {
        loop {
            while let Some(end) = find_blank_line(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end.0 + end.1).collect();
                let text = String::from_utf8(block[..end.0].to_vec()).unwrap();
                if let Some(message) = parse_block(&text) {
                    return message;
                }
            }
            let chunk = self
                .body
                .next()
                .await
                .expect("the stream ended")
                .expect("reading the stream failed");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The next message, which must be an event (`id:` its seq, default type).
    pub async fn next_event(&mut self) -> Value {
        let message = self.next().await;
        assert_eq!(message.event, None, "{message:?}");
        let event = message.json();
        let id = message.id.as_deref().expect("an event without an id");
        assert_eq!(
            id,
            event["seq"].to_string(),
            "the SSE id is the event's seq"
        );
        event
    }

    /// Events up to and including the first of type `kind`.
    pub async fn until_type(&mut self, kind: &str) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let event = self.next_event().await;
            let done = event["type"] == kind;
            events.push(event);
            if done {
                return events;
            }
        }
    }
}

/// Where the first message of `buffer` ends: the offset of its blank line and that line
/// break's length.
fn find_blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .map(|at| (at, 2));
    let crlf = buffer
        .windows(4)
        .position(|quad| quad == b"\r\n\r\n")
        .map(|at| (at, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse_block(block: &str) -> Option<SseMessage> {
    let mut message = SseMessage::default();
    let mut data = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => message.id = Some(value.to_owned()),
            "event" => message.event = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            _ => {}
        }
    }
    if data.is_empty() && message.id.is_none() {
        return None;
    }
    message.data = data.join("\n");
    Some(message)
}

/// The `type`s of `events`, in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap_or("?"))
        .collect()
}

/// The first event of type `kind`.
pub fn first<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|event| event["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} among {:?}", types(events)))
}

/// The `text_delta`s of `events` joined: the streamed reply.
pub fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter(|event| event["type"] == "text_delta")
        .map(|event| event["delta"].as_str().unwrap())
        .collect()
}

/// The ids of a session listing.
pub fn session_ids(listed: &Value) -> Vec<&str> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|info| info["id"].as_str().unwrap())
        .collect()
}

/// The `seq`s of `events`, in order.
pub fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect()
}
