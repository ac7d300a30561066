//! Mesh messaging between real sessions: each agent is its own session with the mesh tools
//! and the inbox hook, all on one bus.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::mesh::{MeshBus, MeshInbox, Timer, mesh_tools};
use code_mesh_core::{
    ModelRequest, SessionHandle, SessionStart, SessionState, Store, Tool, ToolContext, ToolError,
    ToolOutput, ToolRegistry,
};
use code_mesh_protocol::{AgentId, EventKind, Message, Part, Role, ToolKind, ToolSpec};
use futures::FutureExt;
use futures::future::BoxFuture;
use pretty_assertions::assert_eq;
use serde_json::json;
use tokio::sync::Notify;

use crate::support::*;

struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(duration).boxed()
    }
}

fn id(name: &str) -> AgentId {
    AgentId(name.into())
}

/// A read tool that waits until the test opens it, to hold an agent mid-turn.
struct Gate(Arc<Notify>);

#[async_trait]
impl Tool for Gate {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "gate".into(),
            description: "waits".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "wait".into()
    }
    async fn call(&self, _: serde_json::Value, _: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.0.notified().await;
        Ok(ToolOutput::from("opened".to_string()))
    }
}

/// One agent: a session on the bus with the mesh tools and the inbox hook.
struct Agent {
    provider: Arc<ScriptedProvider>,
    handle: SessionHandle,
}

async fn agent(
    store: &Arc<dyn Store>,
    bus: &MeshBus,
    name: &str,
    profile: &str,
    steps: Vec<Step>,
    extra: Option<Arc<dyn Tool>>,
) -> Agent {
    bus.register(id(name), profile).unwrap();
    let mut registry = ToolRegistry::new();
    for tool in mesh_tools(bus, &id(name)) {
        registry.register(tool);
    }
    if let Some(tool) = extra {
        registry.register(tool);
    }
    let provider = ScriptedProvider::new(steps);
    let mut config = config(provider.clone(), false);
    config.agent = profile.into();
    config.hooks.push(MeshInbox::new(bus.clone(), id(name)));
    let handle = open(store.clone(), registry, config, SessionStart::New).await;
    Agent { provider, handle }
}

impl Agent {
    async fn turn(&mut self, text: &str) -> Vec<code_mesh_protocol::Event> {
        self.handle
            .submit(code_mesh_protocol::Op::UserTurn { text: text.into() })
            .unwrap();
        until_turn_finished(&mut self.handle).await
    }

    fn request(&self, index: usize) -> ModelRequest {
        self.provider.requests()[index].clone()
    }
}

/// Every text part of the request's messages of `role`, in order.
fn texts_of(request: &ModelRequest, role: Role) -> String {
    request
        .messages
        .iter()
        .filter(|message| message.role == role)
        .map(Message::text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The output of the tool result named `name` in the request.
fn result_of(request: &ModelRequest, name: &str) -> String {
    request
        .messages
        .iter()
        .flat_map(|message| message.parts.iter())
        .find_map(|part| match part {
            Part::ToolResult(result) if result.name == name => Some(result.output.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `{name}` result in the request"))
}

fn finished_ok(events: &[code_mesh_protocol::Event]) {
    let failed: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ToolCallFinished {
                name,
                output,
                is_error: true,
                ..
            } => Some(format!("{name}: {output}")),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "failed tool calls: {failed:?}");
}

async fn replays(store: &Arc<dyn Store>, handle: &SessionHandle) {
    let stored = store.events(handle.id()).await.unwrap();
    let info = store.session(handle.id()).await.unwrap().unwrap();
    let messages = store.messages(handle.id()).await.unwrap();
    let context = store.context_state(handle.id()).await.unwrap();
    let differences = SessionState::replay(&stored).differences(&info, &messages, &context);
    assert!(differences.is_empty(), "{differences:?}");
}

#[tokio::test]
async fn direct_broadcast_and_topic_messages_reach_the_right_agents_next_requests() {
    let store = memory_store();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let bus = MeshBus::builder(Arc::new(TokioTimer))
        .observer(move |event| seen.lock().unwrap().push(event))
        .build();
    let mut a = agent(
        &store,
        &bus,
        "agent_1",
        "coordinator",
        vec![
            step(vec![
                call(
                    "c1",
                    "send_message",
                    r#"{"to":"tester","text":"run the tests"}"#,
                ),
                call("c2", "broadcast", r#"{"text":"we start now"}"#),
                call(
                    "c3",
                    "publish",
                    r#"{"topic":"api","text":"the API is /v2"}"#,
                ),
                finish(),
            ]),
            step(vec![text("sent"), finish()]),
        ],
        None,
    )
    .await;
    let mut b = agent(
        &store,
        &bus,
        "agent_2",
        "tester",
        vec![
            step(vec![
                call("s1", "subscribe", r#"{"topic":"api"}"#),
                finish(),
            ]),
            step(vec![text("subscribed"), finish()]),
            step(vec![text("on it"), finish()]),
        ],
        None,
    )
    .await;
    let mut c = agent(
        &store,
        &bus,
        "agent_3",
        "coder",
        vec![step(vec![text("heard"), finish()])],
        None,
    )
    .await;

    finished_ok(&b.turn("listen for API news").await);
    let events = a.turn("coordinate").await;
    finished_ok(&events);
    assert_eq!(
        result_of(&a.request(1), "send_message"),
        "Sent to agent_2 (tester)."
    );
    assert_eq!(
        result_of(&a.request(1), "broadcast"),
        "Sent to agent_2 (tester), agent_3 (coder)."
    );
    assert_eq!(
        result_of(&a.request(1), "publish"),
        "Published on topic api to agent_2 (tester)."
    );

    finished_ok(&b.turn("go on").await);
    finished_ok(&c.turn("go on").await);
    // B's next request carries all three, with its own words first.
    let b_user = texts_of(&b.request(2), Role::User);
    assert!(
        b_user.ends_with(
            "go on\n\n[Messages from other agents]\n\
             [from agent_1 (coordinator)] run the tests\n\
             [broadcast from agent_1 (coordinator)] we start now\n\
             [topic api from agent_1 (coordinator)] the API is /v2"
        ),
        "{b_user}"
    );
    // C subscribes to nothing: it hears the broadcast only.
    let c_user = texts_of(&c.request(0), Role::User);
    assert_eq!(
        c_user,
        "go on\n\n[Messages from other agents]\n\
         [broadcast from agent_1 (coordinator)] we start now"
    );
    // A sent; it received nothing.
    assert!(!texts_of(&a.request(1), Role::User).contains("[Messages"));
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .map(|event| match event {
                EventKind::AgentMessage {
                    from,
                    to,
                    topic,
                    text,
                } => format!("{from} -> {to:?} {topic:?}: {text}"),
                other => panic!("unexpected {other:?}"),
            })
            .collect::<Vec<_>>(),
        vec![
            r#"agent_1 -> Some(AgentId("agent_2")) None: run the tests"#,
            "agent_1 -> None None: we start now",
            r#"agent_1 -> None Some("api"): the API is /v2"#,
        ]
    );
    for agent in [&a, &b, &c] {
        replays(&store, &agent.handle).await;
    }
}

#[tokio::test]
async fn a_message_arriving_mid_turn_reaches_the_next_request_beside_the_tool_results() {
    let store = memory_store();
    let bus = MeshBus::new(Arc::new(TokioTimer));
    bus.register(id("agent_1"), "coordinator").unwrap();
    let gate = Arc::new(Notify::new());
    let mut b = agent(
        &store,
        &bus,
        "agent_2",
        "tester",
        vec![
            step(vec![call("g1", "gate", "{}"), finish()]),
            step(vec![text("noted"), finish()]),
        ],
        Some(Arc::new(Gate(gate.clone()))),
    )
    .await;
    b.handle
        .submit(code_mesh_protocol::Op::UserTurn {
            text: "work".into(),
        })
        .unwrap();
    // The gate call has started: the message arrives while the agent works.
    collect_until(
        &mut b.handle,
        |event| matches!(&event.kind, EventKind::ToolCallStarted { name, .. } if name == "gate"),
    )
    .await;
    bus.send(&id("agent_1"), "agent_2", "stop, the spec changed")
        .unwrap();
    gate.notify_one();
    finished_ok(&until_turn_finished(&mut b.handle).await);

    let second = b.request(1);
    let tool_message = second
        .messages
        .iter()
        .rfind(|message| message.role == Role::Tool)
        .unwrap();
    assert_eq!(
        tool_message.text(),
        "[Messages from other agents]\n[from agent_1 (coordinator)] stop, the spec changed"
    );
    assert_eq!(result_of(&second, "gate"), "opened");
    assert_eq!(bus.unread(&id("agent_2")), 0);
    replays(&store, &b.handle).await;
}

#[tokio::test]
async fn an_ask_is_answered_through_the_reply_tool_of_the_asked_agent() {
    let store = memory_store();
    let bus = MeshBus::new(Arc::new(TokioTimer));
    let mut a = agent(
        &store,
        &bus,
        "agent_1",
        "coordinator",
        vec![
            step(vec![
                call(
                    "a1",
                    "ask",
                    r#"{"to":"tester","question":"which port do the tests use?","timeout_s":60}"#,
                ),
                finish(),
            ]),
            step(vec![text("port known"), finish()]),
        ],
        None,
    )
    .await;
    let mut b = agent(
        &store,
        &bus,
        "agent_2",
        "tester",
        vec![
            step(vec![
                call("r1", "reply", r#"{"request_id":"q_1","text":"8080"}"#),
                finish(),
            ]),
            step(vec![text("answered"), finish()]),
        ],
        None,
    )
    .await;

    a.handle
        .submit(code_mesh_protocol::Op::UserTurn {
            text: "find the port".into(),
        })
        .unwrap();
    // B starts once the question is in its inbox, as an orchestrator waking it would.
    bus.wait_for_message(&id("agent_2")).await.unwrap();
    let b_events = b.turn("answer what you are asked").await;
    finished_ok(&b_events);
    let a_events = until_turn_finished(&mut a.handle).await;
    finished_ok(&a_events);

    assert!(texts_of(&b.request(0), Role::User).contains(
        "[question q_1 from agent_1 (coordinator)] which port do the tests use? — answer \
             with reply"
    ));
    assert_eq!(
        result_of(&b.request(1), "reply"),
        "Answered q_1; agent_1 (coordinator) has your answer."
    );
    assert_eq!(
        result_of(&a.request(1), "ask"),
        "agent_2 (tester) answered q_1: 8080"
    );
    replays(&store, &a.handle).await;
    replays(&store, &b.handle).await;
}

#[tokio::test]
async fn an_ask_of_an_unknown_agent_fails_back_to_the_model() {
    let store = memory_store();
    let bus = MeshBus::new(Arc::new(TokioTimer));
    let mut a = agent(
        &store,
        &bus,
        "agent_1",
        "coordinator",
        vec![
            step(vec![
                call("a1", "ask", r#"{"to":"designer","question":"colours?"}"#),
                call("a2", "read_inbox", "{}"),
                finish(),
            ]),
            step(vec![text("nobody to ask"), finish()]),
        ],
        None,
    )
    .await;
    a.turn("ask around").await;
    let second = a.request(1);
    assert_eq!(
        result_of(&second, "ask"),
        "no agent `designer` is on the mesh; address one of: agent_1 (coordinator)"
    );
    assert_eq!(result_of(&second, "read_inbox"), "No new messages.");
}
