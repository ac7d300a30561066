//! The mesh strategy end to end in process: member agents in child sessions talking over the
//! run's bus, against a provider that routes each request to its agent's script by the agent
//! line of the system prompt. Scripts react to what a request holds (a step may wait until
//! other agents have made their requests, or answer only a request that carries a given
//! message), so the tests hold whatever order the agents' futures are polled in.

use std::sync::Arc;
use std::time::Duration;

use code_mesh_core::SessionStart;
use code_mesh_core::orchestra::{MeshRun, MeshSettings, OrchestraSettings};
use code_mesh_protocol::{Event, EventKind, Message, Op, TurnEndReason};
use pretty_assertions::assert_eq;

use crate::routed::*;
use crate::support::*;

/// A provider routed by agent; an agent whose script has no entry for a request says it has
/// nothing to add (a mesh agent may be woken more or fewer times as messages bunch up).
fn mesh_script(scripts: Vec<(&str, Vec<Reply>)>) -> Arc<RoutedProvider> {
    let script = scripts
        .into_iter()
        .flat_map(|(agent, replies)| replies.into_iter().map(move |reply| (agent, reply)));
    Arc::new(RoutedProvider::new(script).out_of_script(OutOfScript::NothingToAdd))
}

impl RoutedProvider {
    /// Whether a request of `agent` had `text` in its newest message: the message reached
    /// that agent's model.
    fn delivered(&self, agent: &str, text: &str) -> bool {
        self.requests_of(agent)
            .iter()
            .any(|request| newest(request).contains(text))
    }
}

/// Settings for members with these profiles, which have no tools of their own.
fn settings_of(profiles: &[&str], max_count: usize, timer: Arc<ManualTimer>) -> OrchestraSettings {
    settings(
        profiles
            .iter()
            .map(|name| profile(name, Some(&[]), None))
            .collect(),
        max_count,
        timer,
    )
}

fn mesh(members: &[&str], rounds: u32) -> MeshSettings {
    MeshSettings {
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        rounds,
    }
}

/// Starts a mesh of `members`, all running at once, each with at most `rounds` turns.
async fn start(
    provider: Arc<RoutedProvider>,
    members: &[&str],
    rounds: u32,
    timer: Arc<ManualTimer>,
) -> Run {
    let store = memory_store();
    let opened = MeshRun::open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider, true),
        SessionStart::New,
        settings_of(members, members.len(), timer),
        mesh(members, rounds),
    )
    .await
    .unwrap();
    Run::spawn(store, opened)
}

/// The run's `agent_message` events as short lines, in order.
fn messages(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::AgentMessage {
                from,
                to,
                topic,
                text,
            } => Some(match (to, topic) {
                (Some(to), _) => format!("{from} -> {to}: {text}"),
                (None, Some(topic)) => format!("{from} on {topic}: {text}"),
                (None, None) => format!("{from} to all: {text}"),
            }),
            _ => None,
        })
        .collect()
}

fn task_ends(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskCompleted { task, .. } => Some(format!("{task} done")),
            EventKind::TaskFailed { task, reason } => Some(format!("{task} failed: {reason}")),
            _ => None,
        })
        .collect()
}

/// The run's answer: its session's last assistant message.
async fn run_answer(run: &Run) -> String {
    let messages = run.store.messages(run.handle.id()).await.unwrap();
    messages
        .iter()
        .rev()
        .find(|m| m.role == code_mesh_protocol::Role::Assistant)
        .map(Message::text)
        .unwrap_or_default()
}

const FOUR: [&str; 4] = ["coordinator", "coder", "tester", "reviewer"];
const PAIR: [&str; 2] = ["coordinator", "coder"];

/// The lead sends the coder `message` once the coder has asked its model, then answers
/// `lead`; the coder answers `coder`.
fn lead_messages_coder(message: &str, lead: &str, coder: &str) -> Arc<RoutedProvider> {
    let args = format!(r#"{{"to":"coder","text":"{message}"}}"#);
    mesh_script(vec![
        (
            "coordinator",
            vec![
                calls(&[("l1", "send_message", &args)]).after(|p| p.count("coder") >= 1),
                says(lead),
            ],
        ),
        ("coder", vec![says(coder)]),
    ])
}

#[tokio::test]
async fn a_mesh_delivers_direct_broadcast_topic_and_ask_messages_and_the_lead_finishes() {
    let provider = mesh_script(vec![
        (
            "coordinator",
            vec![
                // Once the tester listens on `api` and everyone has taken its first turn.
                calls(&[
                    (
                        "l1",
                        "send_message",
                        r#"{"to":"coder","text":"implement the flag"}"#,
                    ),
                    ("l2", "broadcast", r#"{"text":"we start now"}"#),
                    (
                        "l3",
                        "publish",
                        r#"{"topic":"api","text":"the API is /v2"}"#,
                    ),
                ])
                .after(|p| {
                    p.count("tester") >= 2 && p.count("coder") >= 1 && p.count("reviewer") >= 1
                }),
                calls(&[(
                    "l4",
                    "ask",
                    r#"{"to":"agent_3","question":"which port do the tests use?","timeout_s":60}"#,
                )]),
                // Once every message has reached its recipients' models.
                calls(&[(
                    "l5",
                    "finish_run",
                    r#"{"answer":"The flag is done; the tests use port 8080."}"#,
                )])
                .on("agent_3 (tester) answered q_1: 8080")
                .after(|p| {
                    p.delivered("coder", "[from agent_1 (coordinator)] implement the flag")
                        && p.delivered(
                            "coder",
                            "[broadcast from agent_1 (coordinator)] we start now",
                        )
                        && p.delivered(
                            "reviewer",
                            "[broadcast from agent_1 (coordinator)] we start now",
                        )
                        && p.delivered(
                            "tester",
                            "[topic api from agent_1 (coordinator)] the API is /v2",
                        )
                }),
                says("Finished."),
            ],
        ),
        ("coder", vec![says("Coder ready.")]),
        (
            "tester",
            vec![
                calls(&[("t1", "subscribe", r#"{"topic":"api"}"#)]),
                says("Tester ready."),
                calls(&[("t2", "reply", r#"{"request_id":"q_1","text":"8080"}"#)])
                    .on("[question q_1 from agent_1 (coordinator)] which port do the tests use?"),
            ],
        ),
        ("reviewer", vec![says("Reviewer ready.")]),
    ]);
    let mut run = start(provider.clone(), &FOUR, 8, ManualTimer::new()).await;
    let events = run.turn("add a --verbose flag").await;

    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(
        run_answer(&run).await,
        "The flag is done; the tests use port 8080."
    );
    assert!(warnings(&events).is_empty(), "{:?}", warnings(&events));
    // Every delivery is an event of the run, the question before its answer.
    let lines = messages(&events);
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "agent_1 -> agent_2: implement the flag",
            "agent_1 -> agent_3: question q_1: which port do the tests use?",
            "agent_1 on api: the API is /v2",
            "agent_1 to all: we start now",
            "agent_3 -> agent_1: answer to q_1: 8080",
        ]
    );
    let at = |line: &str| lines.iter().position(|l| l == line).unwrap();
    assert!(
        at("agent_1 -> agent_3: question q_1: which port do the tests use?")
            < at("agent_3 -> agent_1: answer to q_1: 8080")
    );
    assert!(events.iter().all(|e| &e.session_id == run.handle.id()));

    // Each recipient's model got exactly what was meant for it, in a request of its own.
    assert!(provider.delivered("tester", "[question q_1 from agent_1 (coordinator)]"));
    assert!(
        provider
            .requests_of("coordinator")
            .iter()
            .any(|r| newest(r).contains("agent_3 (tester) answered q_1: 8080"))
    );
    for other in ["coder", "reviewer"] {
        assert!(
            !provider
                .requests_of(other)
                .iter()
                .any(|r| newest(r).contains("[topic api")),
            "{other} heard a topic it does not subscribe to"
        );
    }
    assert!(!provider.delivered("coordinator", "we start now"));

    // The team section and the tools: the lead alone can finish.
    for (agent, id) in [("coordinator", "agent_1"), ("coder", "agent_2")] {
        let request = &provider.requests_of(agent)[0];
        assert!(request.system.contains("# The mesh"), "{}", request.system);
        assert!(request.system.contains(&format!("- {id} ({agent})")));
        assert!(request.system.contains("- agent_4 (reviewer)"));
        let tools: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
        for tool in [
            "send_message",
            "broadcast",
            "publish",
            "subscribe",
            "ask",
            "reply",
        ] {
            assert!(tools.contains(&tool), "{agent}: {tools:?}");
        }
        assert_eq!(tools.contains(&"finish_run"), agent == "coordinator");
    }

    // One task and one child session per member; the lead's task is done, the others
    // either finished their turn or were stopped by the finish.
    let created: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskCreated { task } => Some(format!("{} {}", task.id, task.agent)),
            _ => None,
        })
        .collect();
    assert_eq!(
        created,
        [
            "task_1 coordinator",
            "task_2 coder",
            "task_3 tester",
            "task_4 reviewer"
        ]
    );
    let ends = task_ends(&events);
    assert_eq!(ends.len(), 4, "{ends:?}");
    assert!(ends.contains(&"task_1 done".to_owned()), "{ends:?}");
    for end in &ends {
        assert!(
            end.ends_with(" done")
                || end.ends_with(
                    "failed: stopped: the lead agent_1 (coordinator) declared the run done"
                ),
            "{end}"
        );
    }
    let spawned = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::AgentSpawned { agent } if agent.session_id != *run.handle.id()))
        .count();
    assert_eq!(spawned, 4);
    let terminated = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AgentTerminated { .. }))
        .count();
    assert_eq!(terminated, 4);
    assert_eq!(run.child_ends().await.len(), 4);
    run.finish().await;
}

#[tokio::test]
async fn a_quiet_mesh_ends_with_a_warning_and_the_leads_last_answer() {
    let provider = lead_messages_coder(
        "please add tests",
        "Asked the coder for tests.",
        "Coder ready.",
    );
    let mut run = start(provider.clone(), &PAIR, 8, ManualTimer::new()).await;
    let events = run.turn("add tests").await;

    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(run_answer(&run).await, "Asked the coder for tests.");
    assert_eq!(
        warnings(&events),
        [
            "the lead agent_1 (coordinator) did not declare the run done with `finish_run` before \
          the mesh went quiet; its last answer is the run's answer"
        ]
    );
    // The message woke the idle coder for a turn of its own.
    let coder = provider.requests_of("coder");
    assert_eq!(coder.len(), 2);
    assert!(
        newest(&coder[1]).contains("[from agent_1 (coordinator)] please add tests"),
        "{}",
        newest(&coder[1])
    );
    let mut ends = task_ends(&events);
    ends.sort();
    assert_eq!(ends, ["task_1 done", "task_2 done"]);
    assert_eq!(
        run.child_ends().await,
        [
            ("coder".to_owned(), Some(TurnEndReason::Completed)),
            ("coordinator".to_owned(), Some(TurnEndReason::Completed)),
        ]
    );
    run.finish().await;
}

#[tokio::test]
async fn an_agent_out_of_rounds_leaves_the_mesh_with_a_warning() {
    let provider = lead_messages_coder("one more thing", "Lead done.", "Coder done.");
    let mut run = start(provider.clone(), &PAIR, 1, ManualTimer::new()).await;
    let events = run.turn("go").await;

    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(run_answer(&run).await, "Lead done.");
    let warnings = warnings(&events);
    assert_eq!(
        warnings[0],
        "agent_2 (coder) reached its limit of 1 turn(s) (`[agents] mesh_rounds`) and left the \
         mesh with 1 message(s) unread"
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(provider.count("coder"), 1);
    run.finish().await;
}

#[tokio::test]
async fn an_unanswered_ask_times_out_and_the_leads_finish_stops_the_busy_agent() {
    let timer = ManualTimer::new();
    let provider = mesh_script(vec![
        (
            "coordinator",
            vec![
                calls(&[(
                    "l1",
                    "ask",
                    r#"{"to":"coder","question":"are you there?","timeout_s":5}"#,
                )])
                .after(|p| p.count("coder") >= 1),
                calls(&[(
                    "l2",
                    "finish_run",
                    r#"{"answer":"The coder did not answer; stopping."}"#,
                )])
                .on("did not answer question q_1 within 5 s"),
                says("Stopped."),
            ],
        ),
        ("coder", vec![Reply::hang()]),
    ]);
    let mut run = start(provider.clone(), &PAIR, 8, timer.clone()).await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    let mut events = run
        .until(|e| {
            matches!(&e.kind, EventKind::AgentMessage { text, .. } if text.starts_with("question q_1"))
        })
        .await;
    // The question is out; its five seconds pass (the agents' 300 s never do).
    timer.fire(Duration::from_secs(5));
    events.extend(
        run.until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
            .await,
    );

    assert_eq!(turn_end(&events), Some(TurnEndReason::Completed));
    assert_eq!(
        run_answer(&run).await,
        "The coder did not answer; stopping."
    );
    let lead = provider.requests_of("coordinator");
    assert_eq!(
        newest(&lead[1]),
        "agent_2 (coder) did not answer question q_1 within 5 s; carry on without the answer \
         or ask again"
    );
    let mut ends = task_ends(&events);
    ends.sort();
    assert_eq!(
        ends,
        [
            "task_1 done",
            "task_2 failed: stopped: the lead agent_1 (coordinator) declared the run done"
        ]
    );
    assert_eq!(
        run.child_ends().await,
        [
            ("coder".to_owned(), Some(TurnEndReason::Cancelled)),
            ("coordinator".to_owned(), Some(TurnEndReason::Completed)),
        ]
    );
    run.finish().await;
}

#[tokio::test]
async fn cancelling_a_mesh_run_stops_every_agent() {
    let provider = mesh_script(vec![
        ("coordinator", vec![Reply::hang()]),
        ("coder", vec![Reply::hang()]),
        ("tester", vec![Reply::hang()]),
    ]);
    let members = ["coordinator", "coder", "tester"];
    let mut run = start(provider.clone(), &members, 8, ManualTimer::new()).await;
    run.handle
        .submit(Op::UserTurn { text: "go".into() })
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        for agent in members {
            provider.wait_for(agent, 1).await;
        }
    })
    .await
    .expect("the agents did not all start within 20 s");
    run.handle.submit(Op::Cancel).unwrap();
    let events = run
        .until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;

    assert_eq!(turn_end(&events), Some(TurnEndReason::Cancelled));
    let mut ends = task_ends(&events);
    ends.sort();
    assert_eq!(
        ends,
        [
            "task_1 failed: cancelled",
            "task_2 failed: cancelled",
            "task_3 failed: cancelled"
        ]
    );
    assert_eq!(
        run.child_ends().await,
        [
            ("coder".to_owned(), Some(TurnEndReason::Cancelled)),
            ("coordinator".to_owned(), Some(TurnEndReason::Cancelled)),
            ("tester".to_owned(), Some(TurnEndReason::Cancelled)),
        ]
    );
    run.finish().await;
}

#[tokio::test]
async fn a_failed_lead_fails_the_run_and_stops_the_others() {
    let provider = mesh_script(vec![
        (
            "coordinator",
            vec![Reply::fail(overloaded()).after(|p| p.count("coder") >= 1)],
        ),
        ("coder", vec![Reply::hang()]),
    ]);
    let mut run = start(provider.clone(), &PAIR, 8, ManualTimer::new()).await;
    let events = run.turn("go").await;

    assert_eq!(turn_end(&events), Some(TurnEndReason::Failed));
    let error = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .expect("no error event");
    assert!(
        error.starts_with("the mesh's lead agent_1 (coordinator) failed: "),
        "{error}"
    );
    assert!(error.contains("overloaded"), "{error}");
    let ends = task_ends(&events);
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert!(ends[0].starts_with("task_1 failed: "), "{ends:?}");
    assert_eq!(
        ends[1],
        "task_2 failed: stopped: the lead agent_1 (coordinator) failed"
    );
    run.finish().await;
}

#[tokio::test]
async fn a_mesh_that_cannot_run_is_refused_at_open_with_a_hint() {
    let cases = [
        (
            mesh(&[], 8),
            2,
            "the mesh has no agents",
            "list agent profiles in `[agents] mesh`",
        ),
        (
            mesh(&["coordinator", "designer"], 8),
            2,
            "the mesh names `designer`, but there is no such agent profile",
            "`[agents.profiles.designer]`",
        ),
        (
            mesh(&["coordinator", "coder", "tester"], 8),
            2,
            "the mesh has 3 agents but at most 2 may run at once, and mesh agents must all run \
             at once to talk",
            "raise `[agents] max_count` to 3 or shorten `[agents] mesh`",
        ),
    ];
    for (mesh, max_count, message, hint) in cases {
        let err = MeshRun::open(
            memory_store(),
            tools(None, Arc::default()),
            config(Arc::new(ScriptedProvider::default()), true),
            SessionStart::New,
            settings_of(
                &["coordinator", "coder", "tester"],
                max_count,
                ManualTimer::new(),
            ),
            mesh,
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), message);
        let given = err.hint().unwrap();
        assert!(given.contains(hint), "{given}");
    }
}
