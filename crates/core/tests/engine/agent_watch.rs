//! Watching one agent of a run live: the run's handle hands out the bus of a running agent's
//! child session (`SessionHandle::watch_session`), so a front end can show that agent's own
//! conversation as it streams, after reading what the store already holds.

use std::sync::Arc;
use std::time::Duration;

use code_mesh_core::SessionStart;
use code_mesh_core::orchestra::Hierarchical;
use code_mesh_protocol::{AgentProfile, Event, EventKind, Role, SessionId};
use pretty_assertions::assert_eq;
use tokio::sync::broadcast::error::RecvError;

use crate::routed::*;
use crate::support::*;

const ONE_TASK: &str =
    r#"{"tasks": [{"id": "b", "description": "implement the flag", "agent": "coder"}]}"#;

fn profiles() -> Vec<AgentProfile> {
    vec![
        profile("coordinator", Some(&["delegate"]), None),
        profile("coder", None, None),
    ]
}

/// The next live event, bounded so a bug fails instead of hangs.
async fn next_live(receiver: &mut tokio::sync::broadcast::Receiver<Event>) -> Option<Event> {
    match tokio::time::timeout(Duration::from_secs(20), receiver.recv())
        .await
        .expect("no live event within 20 s: the agent is stuck")
    {
        Ok(event) => Some(event),
        Err(RecvError::Closed) => None,
        Err(RecvError::Lagged(missed)) => panic!("the watcher fell {missed} events behind"),
    }
}

#[tokio::test]
async fn a_watcher_of_the_run_follows_a_running_agents_own_events_live() {
    // The coder waits inside its first tool call until the test has subscribed, so its
    // answer streams while the watcher listens.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let provider = script(vec![
        (
            "coordinator",
            Reply::stream(vec![call("d1", "delegate", ONE_TASK), finish()]),
        ),
        (
            "coder",
            Reply::stream(vec![call("p1", "probe", r#"{"who":"coder"}"#), finish()]),
        ),
        answer("coder", "coded the flag"),
        answer("coordinator", "The flag is in."),
    ]);
    let store = memory_store();
    let opened = Hierarchical::open(
        store.clone(),
        tools(Some(barrier.clone()), Arc::default()),
        config(provider, true),
        SessionStart::New,
        settings(profiles(), 2, ManualTimer::new()),
    )
    .await
    .unwrap();
    let mut run = Run::spawn(store.clone(), opened);
    run.handle
        .submit(code_mesh_protocol::Op::UserTurn {
            text: "add a flag".into(),
        })
        .unwrap();
    let events = run
        .until(|e| matches!(&e.kind, EventKind::AgentSpawned { agent } if agent.profile == "coder"))
        .await;
    let Some(EventKind::AgentSpawned { agent }) = events.last().map(|e| &e.kind) else {
        unreachable!("`until` stops at the coder's `agent_spawned`");
    };
    let child = agent.session_id.clone();
    assert_ne!(&child, run.handle.id());

    // The run's own session and its running agent are watchable; nothing else is.
    assert!(run.handle.watch_session(run.handle.id()).is_some());
    assert!(
        run.handle
            .watch_session(&SessionId("ses_unknown".into()))
            .is_none()
    );
    let mut live = run
        .handle
        .watch_session(&child)
        .expect("a running agent's session is watchable from the run's handle")
        .subscribe();
    // Subscribed first, then the stored events: nothing falls between the two.
    let stored = store.events(&child).await.unwrap();
    assert!(
        stored
            .iter()
            .any(|e| matches!(e.kind, EventKind::SessionStarted { .. })),
        "{stored:#?}"
    );
    barrier.wait().await;

    let mut seen: Vec<Event> = stored.clone();
    let mut deltas = String::new();
    let mut last_seq = stored.last().map_or(0, |e| e.seq);
    while let Some(event) = next_live(&mut live).await {
        assert_eq!(event.session_id, child, "a live event of another session");
        if event.seq <= last_seq {
            continue;
        }
        last_seq = event.seq;
        if let EventKind::TextDelta { delta } = &event.kind {
            deltas.push_str(delta);
        }
        let finished = matches!(event.kind, EventKind::TurnFinished { .. });
        seen.push(event);
        if finished {
            break;
        }
    }
    assert_eq!(deltas, "coded the flag", "the answer did not stream live");
    assert!(seen.iter().any(|e| matches!(
        &e.kind,
        EventKind::MessageAdded { message }
            if message.role == Role::Assistant && message.text() == "coded the flag"
    )));

    run.until(|e| matches!(e.kind, EventKind::TurnFinished { .. }))
        .await;
    // The agent ended: its bus left the registry, and its channel closed once its session
    // stopped, so a watcher is not kept waiting.
    assert!(run.handle.watch_session(&child).is_none());
    while let Some(event) = next_live(&mut live).await {
        assert!(event.seq > last_seq, "{event:?}");
        last_seq = event.seq;
        seen.push(event);
    }
    run.finish().await;
    // Stored, then live with duplicates dropped by `seq`: exactly the store's events.
    let persistent: Vec<Event> = seen
        .into_iter()
        .filter(|e| !e.kind.is_transient())
        .collect();
    assert_eq!(persistent, store.events(&child).await.unwrap());
}
