//! The live event bus carries the same events as the handle and the store, in the same order.

use std::sync::Arc;

use code_mesh_core::{SessionStart, SessionState};
use code_mesh_protocol::{Event, Op};
use pretty_assertions::assert_eq;
use tokio::sync::broadcast::error::RecvError;

use crate::support::*;

/// Drains a bus receiver up to and including `turn_finished`.
async fn drain(receiver: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match receiver.recv().await {
            Ok(event) => {
                let done = event.kind.name() == "turn_finished";
                events.push(event);
                if done {
                    return events;
                }
            }
            Err(RecvError::Lagged(missed)) => panic!("the subscriber missed {missed} events"),
            Err(RecvError::Closed) => panic!("the bus closed before the turn finished"),
        }
    }
}

#[tokio::test]
async fn subscribers_see_the_handles_events_and_the_store_holds_the_persistent_ones() {
    let provider = ScriptedProvider::new(vec![
        step(vec![
            text("Looking."),
            call("c1", "probe", r#"{"a":1}"#),
            call("c2", "log", r#"{"entry":"x"}"#),
            finish(),
        ]),
        step(vec![text("Done."), finish()]),
    ]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider, true),
        SessionStart::New,
    )
    .await;
    let bus = handle.bus();
    let mut first = bus.subscribe();
    let mut second = bus.subscribe();
    handle
        .submit(Op::UserTurn {
            text: "probe and log".into(),
        })
        .unwrap();
    // The handle saw `session_started` before anyone could subscribe; the bus starts after it.
    let from_handle = until_turn_finished(&mut handle).await;
    let live = &from_handle[1..];
    assert_eq!(drain(&mut first).await, live);
    assert_eq!(drain(&mut second).await, live);

    let persistent: Vec<Event> = from_handle
        .iter()
        .filter(|event| !event.kind.is_transient())
        .cloned()
        .collect();
    let stored = store.events(handle.id()).await.unwrap();
    assert_eq!(stored, persistent);
    let seqs: Vec<u64> = from_handle.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=from_handle.len() as u64).collect::<Vec<_>>());

    // And the stored session is exactly what its events rebuild.
    let info = store.session(handle.id()).await.unwrap().unwrap();
    let messages = store.messages(handle.id()).await.unwrap();
    let context = store.context_state(handle.id()).await.unwrap();
    let differences = SessionState::replay(&stored).differences(&info, &messages, &context);
    assert!(differences.is_empty(), "{differences:?}");
}

#[tokio::test]
async fn the_handle_sees_the_end_of_the_events_once_the_driver_stops() {
    let provider = ScriptedProvider::new(vec![]);
    let mut handle = open(
        memory_store(),
        tools(None, Arc::default()),
        config(provider, true),
        SessionStart::New,
    )
    .await;
    let _bus = handle.bus();
    handle.submit(Op::Shutdown).unwrap();
    let mut seen = 0;
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(20), handle.next_event())
            .await
            .expect("the event stream did not end after shutdown: something keeps it open");
        match next {
            Some(_) => seen += 1,
            None => break,
        }
    }
    assert_eq!(seen, 1, "only `session_started`");
}
