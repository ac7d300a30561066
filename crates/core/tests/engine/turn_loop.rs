use std::sync::{Arc, Mutex};

use code_mesh_core::{ProviderError, ProviderErrorKind, SessionStart};
use code_mesh_protocol::{
    ErrorCode, EventKind, Op, Part, PermissionDecision, Role, TurnEndReason, TurnId,
};
use pretty_assertions::assert_eq;

use crate::support::*;

fn reason(events: &[code_mesh_protocol::Event]) -> TurnEndReason {
    match &events.last().unwrap().kind {
        EventKind::TurnFinished { reason, .. } => *reason,
        other => panic!("last event is {other:?}"),
    }
}

#[tokio::test]
async fn tool_results_are_fed_back_until_the_model_stops() {
    let provider = ScriptedProvider::new(vec![
        step(vec![
            text("Looking."),
            call("c1", "probe", r#"{"a":1}"#),
            call("c2", "probe", r#"{"a":2}"#),
            finish(),
        ]),
        step(vec![text("All done."), finish()]),
    ]);
    let store = memory_store();
    let log = Arc::default();
    let mut handle = open(
        store.clone(),
        tools(None, log),
        config(provider.clone(), false),
        SessionStart::New,
    )
    .await;
    handle
        .submit(Op::UserTurn {
            text: "probe twice".into(),
        })
        .unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Completed);
    assert_eq!(
        names(&events),
        [
            "session_started",
            "turn_started",
            "message_added",
            "request_started",
            "text_delta",
            "message_added",
            "tool_call_started",
            "permission_decided",
            "tool_call_started",
            "permission_decided",
            "tool_call_finished",
            "tool_call_finished",
            "message_added",
            "request_started",
            "text_delta",
            "message_added",
            "turn_finished"
        ]
    );
    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    let second = &requests[1].messages;
    assert_eq!(second.len(), 3, "user, assistant with calls, tool results");
    let outputs: Vec<_> = second[2].tool_results().map(|r| r.output.clone()).collect();
    assert_eq!(outputs, [r#"probed {"a":1}"#, r#"probed {"a":2}"#]);

    let stored = store.messages(handle.id()).await.unwrap();
    let roles: Vec<_> = stored.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    assert_eq!(stored[3].text(), "All done.");
    let seqs: Vec<_> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
}

#[tokio::test]
async fn consecutive_reads_run_concurrently() {
    // Both calls wait at a two-party barrier: run one after the other, they would never pass.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let provider = ScriptedProvider::new(vec![
        step(vec![
            call("c1", "probe", "{}"),
            call("c2", "probe", "{}"),
            finish(),
        ]),
        step(vec![text("ok"), finish()]),
    ]);
    let mut handle = open(
        memory_store(),
        tools(Some(barrier), Arc::default()),
        config(provider, false),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Completed);
}

#[tokio::test]
async fn writes_run_alone_in_the_models_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let provider = ScriptedProvider::new(vec![
        step(vec![
            call("w1", "log", r#"{"entry":"first"}"#),
            call("r1", "probe", "{}"),
            call("w2", "log", r#"{"entry":"second"}"#),
            call("w3", "log", r#"{"entry":"third"}"#),
            finish(),
        ]),
        step(vec![text("ok"), finish()]),
    ]);
    let mut handle = open(
        memory_store(),
        tools(None, log.clone()),
        config(provider, true),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Completed);
    assert_eq!(*log.lock().unwrap(), ["first", "second", "third"]);
    let auto: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::PermissionDecided {
                    source: code_mesh_protocol::PermissionSource::AutoApprove,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(auto.len(), 3, "each write's auto-approval is recorded");
}

#[tokio::test]
async fn malformed_arguments_and_unknown_tools_go_back_to_the_model() {
    let provider = ScriptedProvider::new(vec![
        step(vec![
            call("c1", "probe", r#"{"path": "a.rs""#),
            call("c2", "teleport", "{}"),
            call("c3", "probe", "[1,2]"),
            finish(),
        ]),
        step(vec![text("recovered"), finish()]),
    ]);
    let mut handle = open(
        memory_store(),
        tools(None, Arc::default()),
        config(provider.clone(), false),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Completed);
    let results: Vec<_> = provider.requests()[1].messages[2]
        .tool_results()
        .cloned()
        .collect();
    assert!(results.iter().all(|r| r.is_error));
    assert!(
        results[0].output.contains("not valid JSON"),
        "{}",
        results[0].output
    );
    assert!(results[0].output.contains(r#"{"path": "a.rs""#));
    assert!(results[1].output.contains("unknown tool `teleport`"));
    assert!(results[1].output.contains("probe, log, forever"));
    assert!(results[2].output.contains("must be a JSON object"));
}

#[tokio::test]
async fn permission_requests_wait_for_the_answer() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let provider = ScriptedProvider::new(vec![
        step(vec![
            call("w1", "log", r#"{"entry":"denied"}"#),
            call("w2", "log", r#"{"entry":"allowed"}"#),
            call("w3", "log", r#"{"entry":"remembered"}"#),
            finish(),
        ]),
        step(vec![text("ok"), finish()]),
    ]);
    let mut handle = open(
        memory_store(),
        tools(None, log.clone()),
        config(provider.clone(), false),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    for decision in [PermissionDecision::Deny, PermissionDecision::AllowAlways] {
        let events = collect_until(&mut handle, |e| {
            matches!(e.kind, EventKind::PermissionRequested { .. })
        })
        .await;
        let EventKind::PermissionRequested {
            request_id,
            summary,
            ..
        } = &events.last().unwrap().kind
        else {
            unreachable!()
        };
        assert!(summary.starts_with("log "), "{summary}");
        handle
            .submit(Op::PermissionReply {
                request_id: request_id.clone(),
                decision,
            })
            .unwrap();
    }
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Completed);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PermissionRequested { .. })),
        "allow-always covers the third call"
    );
    assert_eq!(*log.lock().unwrap(), ["allowed", "remembered"]);
    let results: Vec<_> = provider.requests()[1].messages[2]
        .tool_results()
        .cloned()
        .collect();
    assert!(results[0].is_error && results[0].output.contains("permission denied"));
}

#[tokio::test]
async fn cancel_mid_stream_keeps_the_partial_answer_and_the_session_resumes() {
    let provider = ScriptedProvider::new(vec![
        Step {
            events: vec![text("Half an ans")],
            hang: true,
        },
        step(vec![text("Continuing."), finish()]),
    ]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider.clone(), false),
        SessionStart::New,
    )
    .await;
    handle
        .submit(Op::UserTurn {
            text: "explain".into(),
        })
        .unwrap();
    collect_until(&mut handle, |e| {
        matches!(e.kind, EventKind::TextDelta { .. })
    })
    .await;
    handle.submit(Op::Cancel).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Cancelled);

    let id = handle.id().clone();
    let stored = store.messages(&id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[1].interrupted);
    assert_eq!(stored[1].text(), "Half an ans");

    let mut resumed = open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider.clone(), false),
        SessionStart::Resume(id.clone()),
    )
    .await;
    resumed
        .submit(Op::UserTurn {
            text: "go on".into(),
        })
        .unwrap();
    let events = until_turn_finished(&mut resumed).await;
    assert_eq!(reason(&events), TurnEndReason::Completed);
    // The history is read when the conversation goes on: turns are numbered after the earlier
    // ones and the request carries them.
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::TurnStarted { turn: TurnId(2) }),
        "{events:?}"
    );
    let sent = &provider.requests()[1].messages;
    let texts: Vec<_> = sent.iter().map(|m| m.text()).collect();
    assert_eq!(texts, ["explain", "Half an ans", "go on"]);
    // Event numbers continue across the resumption.
    let stored_events = store.events(&id).await.unwrap();
    let seqs: Vec<_> = stored_events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn cancel_during_a_tool_call_answers_it_as_cancelled() {
    let provider = ScriptedProvider::new(vec![
        step(vec![
            call("f1", "forever", "{}"),
            call("p1", "probe", "{}"),
            finish(),
        ]),
        step(vec![text("ok"), finish()]),
    ]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    collect_until(&mut handle, |e| {
        matches!(e.kind, EventKind::ToolCallStarted { .. })
    })
    .await;
    handle.submit(Op::Cancel).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Cancelled);
    let stored = store.messages(handle.id()).await.unwrap();
    let results: Vec<_> = stored[2].tool_results().cloned().collect();
    assert_eq!(results.len(), 2, "every call has a result");
    assert!(results[0].output.contains("cancelled"));
    assert!(results[1].output.contains("cancelled"));
    assert!(stored[2].interrupted);
}

#[tokio::test]
async fn a_stream_that_ends_before_finishing_is_an_error() {
    let provider = ScriptedProvider::new(vec![step(vec![text("Partial")])]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        tools(None, Arc::default()),
        config(provider, false),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Failed);
    let error = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Error { code, .. } => Some(*code),
            _ => None,
        })
        .unwrap();
    assert_eq!(error, ErrorCode::ProviderStreamCut);
    let stored = store.messages(handle.id()).await.unwrap();
    assert!(stored[1].interrupted, "the partial text is kept, marked");
}

#[tokio::test]
async fn provider_errors_end_the_turn_with_their_hint() {
    let provider = ScriptedProvider::new(vec![step(vec![Err(ProviderError::new(
        ProviderErrorKind::Auth,
        "scripted",
        "`scripted` rejected the API key (HTTP 401)",
    )
    .with_hint("set SCRIPTED_KEY"))])]);
    let mut handle = open(
        memory_store(),
        tools(None, Arc::default()),
        config(provider, false),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Failed);
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Error { code: ErrorCode::ProviderAuth, hint: Some(h), .. } if h == "set SCRIPTED_KEY"
    )));
}

#[tokio::test]
async fn the_turn_limit_stops_a_model_that_never_finishes() {
    let steps = (0..3)
        .map(|i| step(vec![call(&format!("c{i}"), "probe", "{}"), finish()]))
        .collect();
    let provider = ScriptedProvider::new(steps);
    let mut cfg = config(provider.clone(), false);
    cfg.max_turns = 3;
    let mut handle = open(
        memory_store(),
        tools(None, Arc::default()),
        cfg,
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::MaxTurns);
    assert_eq!(provider.requests().len(), 3);
}

#[tokio::test]
async fn a_second_prompt_during_a_turn_is_refused() {
    let provider = ScriptedProvider::new(vec![Step {
        events: vec![text("thinking")],
        hang: true,
    }]);
    let mut handle = open(
        memory_store(),
        tools(None, Arc::default()),
        config(provider, false),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "one".into() }).unwrap();
    collect_until(&mut handle, |e| {
        matches!(e.kind, EventKind::TextDelta { .. })
    })
    .await;
    handle.submit(Op::UserTurn { text: "two".into() }).unwrap();
    let events = collect_until(&mut handle, |e| matches!(e.kind, EventKind::Error { .. })).await;
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::Error {
            code: ErrorCode::Busy,
            ..
        }
    ));
    handle.submit(Op::Cancel).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert_eq!(reason(&events), TurnEndReason::Cancelled);
    let _ = Part::Text {
        text: String::new(),
    };
}

struct NoticingHook {
    after: Arc<Mutex<Vec<u32>>>,
}

#[async_trait::async_trait]
impl code_mesh_core::TurnHooks for NoticingHook {
    async fn before_turn(&self, context: &code_mesh_core::TurnHookContext) -> Vec<String> {
        vec![format!(
            "notes.txt changed outside the session (turn {})",
            context.turn
        )]
    }
    async fn after_turn(&self, context: &code_mesh_core::TurnHookContext) {
        self.after.lock().unwrap().push(context.turn.0);
    }
}

#[tokio::test]
async fn hook_notices_reach_the_model_and_the_events() {
    let provider = ScriptedProvider::new(vec![step(vec![text("noted"), finish()])]);
    let after = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(provider.clone(), false);
    cfg.hooks = vec![Arc::new(NoticingHook {
        after: after.clone(),
    })];
    let mut handle = open(
        memory_store(),
        tools(None, Arc::default()),
        cfg,
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "hi".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Warning { message } if message.contains("notes.txt changed")
    )));
    let sent = provider.requests()[0].messages[0].text();
    assert!(sent.starts_with("hi"), "{sent}");
    assert!(
        sent.contains("notes.txt changed outside the session (turn 1)"),
        "{sent}"
    );
    assert_eq!(*after.lock().unwrap(), [1]);
}

#[tokio::test]
async fn tool_output_is_streamed_as_transient_events() {
    let provider = ScriptedProvider::new(vec![
        step(vec![call("s1", "chatty", "{}"), finish()]),
        step(vec![text("ok"), finish()]),
    ]);
    let store = memory_store();
    let mut registry = tools(None, Arc::default());
    registry.register(Arc::new(Chatty));
    let mut handle = open(
        store.clone(),
        registry,
        config(provider, true),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::UserTurn { text: "go".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    let deltas: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolOutputDelta { call_id, delta } if call_id == "s1" => {
                Some(delta.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["line 1\n", "line 2\n"]);
    let stored = store.events(handle.id()).await.unwrap();
    assert!(
        !stored
            .iter()
            .any(|e| matches!(e.kind, EventKind::ToolOutputDelta { .. }))
    );
}

struct Chatty;

#[async_trait::async_trait]
impl code_mesh_core::Tool for Chatty {
    fn spec(&self) -> code_mesh_protocol::ToolSpec {
        code_mesh_protocol::ToolSpec {
            name: "chatty".into(),
            description: "talks".into(),
            parameters: serde_json::json!({"type": "object"}),
        }
    }
    fn kind(&self) -> code_mesh_protocol::ToolKind {
        code_mesh_protocol::ToolKind::Execute
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "talk".into()
    }
    async fn call(
        &self,
        _: serde_json::Value,
        ctx: &code_mesh_core::ToolContext,
    ) -> Result<code_mesh_core::ToolOutput, code_mesh_core::ToolError> {
        ctx.output.send("line 1\n").await;
        ctx.output.send("line 2\n").await;
        Ok("line 1\nline 2\n".to_string().into())
    }
}
