//! The context manager in the turn loop, with a window of a few thousand tokens: pruning,
//! summaries, the overflow error, provider rejections and `Op::Compact`.

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::{
    ContextSettings, ModelRequest, NOTHING_TO_COMPACT, ProviderError, ProviderErrorKind,
    SessionConfig, SessionStart, Tool, ToolContext, ToolError, ToolOutput, ToolRegistry,
};
use code_mesh_protocol::{
    CompactionMode, ErrorCode, Event, EventKind, Op, Role, ToolKind, ToolSpec, TurnEndReason,
};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::*;

/// A read tool answering `{"bytes": n}` with n bytes of text.
struct Big;

#[async_trait]
impl Tool for Big {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "big".into(),
            description: "prints a lot".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "big".into()
    }
    async fn call(
        &self,
        args: serde_json::Value,
        _: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let bytes = args["bytes"].as_u64().unwrap_or(10) as usize;
        let tag = args["tag"].as_str().unwrap_or("out");
        Ok(ToolOutput::from(format!("{tag}:{}", "x".repeat(bytes))))
    }
}

fn registry() -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry.register(Arc::new(Big));
    registry
}

/// A 6,000-token limit with 500 kept for the answer: 5,500 for each request.
fn small_window(provider: Arc<ScriptedProvider>, auto_summarize: bool) -> SessionConfig {
    let mut config = config(provider, true);
    config.limits.max_output_bytes = 1 << 20;
    config.context = ContextSettings {
        window_tokens: Some(6000),
        max_context_size: 100_000,
        auto_summarize,
        reserve_output_tokens: Some(500),
        ..ContextSettings::default()
    };
    config
}

fn big_call(id: &str, bytes: usize) -> Step {
    step(vec![
        call(id, "big", &json!({"bytes": bytes, "tag": id}).to_string()),
        finish(),
    ])
}

fn reply(text_: &str) -> Step {
    step(vec![text(text_), finish()])
}

fn result_output<'a>(request: &'a ModelRequest, call_id: &str) -> &'a str {
    request
        .messages
        .iter()
        .flat_map(|m| m.tool_results())
        .find(|r| r.call_id == call_id)
        .map(|r| r.output.as_str())
        .unwrap_or_else(|| panic!("no result for {call_id}"))
}

fn compactions(events: &[Event]) -> Vec<(CompactionMode, u64, u32)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ContextCompacted {
                mode,
                through_seq,
                pruned_outputs,
                tokens_before,
                tokens_after,
                ..
            } => {
                // Automatic compactions shrink the request; `/compact` of a short history
                // may not.
                assert!(
                    tokens_after < tokens_before || *mode == CompactionMode::Summarized,
                    "{e:?}"
                );
                Some((*mode, *through_seq, *pruned_outputs))
            }
            _ => None,
        })
        .collect()
}

fn finished(events: &[Event]) -> TurnEndReason {
    match &events.last().unwrap().kind {
        EventKind::TurnFinished { reason, .. } => *reason,
        other => panic!("last event is {other:?}"),
    }
}

fn error_code(events: &[Event]) -> Option<(ErrorCode, String, Option<String>)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Error {
            code,
            message,
            hint,
        } => Some((*code, message.clone(), hint.clone())),
        _ => None,
    })
}

async fn turn(handle: &mut code_mesh_core::SessionHandle, text_: &str) -> Vec<Event> {
    handle.submit(Op::UserTurn { text: text_.into() }).unwrap();
    until_turn_finished(handle).await
}

const PRUNED: &str = "[output pruned to fit the context window: 8,003 bytes of `big` output; run the call again if you need it]";

#[tokio::test]
async fn old_tool_outputs_are_pruned_oldest_first_and_the_latest_stay_whole() {
    let provider = ScriptedProvider::new(vec![
        big_call("c1", 8000),
        big_call("c2", 8000),
        big_call("c3", 8000),
        big_call("c4", 8000),
        reply("done"),
        reply("again"),
    ]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    let events = turn(&mut handle, "look at everything").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    // Request 4 does not fit with three outputs: the oldest goes; request 5 likewise.
    assert_eq!(
        compactions(&events),
        [
            (CompactionMode::Pruned, 3, 1),
            (CompactionMode::Pruned, 5, 1)
        ]
    );
    let requests = provider.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(
        result_output(&requests[2], "c1"),
        format!("c1:{}", "x".repeat(8000))
    );
    assert_eq!(result_output(&requests[3], "c1"), PRUNED);
    for id in ["c2", "c3"] {
        assert!(
            result_output(&requests[3], id).ends_with(&"x".repeat(8000)),
            "{id}"
        );
    }
    assert_eq!(result_output(&requests[4], "c2"), PRUNED);
    assert!(result_output(&requests[4], "c4").ends_with(&"x".repeat(8000)));
    // The stored history is untouched; the store keeps what was pruned.
    let id = handle.id().clone();
    let stored = store.messages(&id).await.unwrap();
    let whole = stored
        .iter()
        .flat_map(|m| m.tool_results())
        .all(|r| r.output.len() == 8003);
    assert!(whole);
    assert_eq!(store.context_state(&id).await.unwrap().pruned_through, 5);

    // A resumed session sends the same view.
    handle.submit(Op::Shutdown).unwrap();
    let mut resumed = open(
        store.clone(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::Resume(id),
    )
    .await;
    let events = turn(&mut resumed, "once more").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    assert_eq!(compactions(&events), []);
    let last = provider.requests().pop().unwrap();
    assert_eq!(result_output(&last, "c1"), PRUNED);
    assert_eq!(result_output(&last, "c2"), PRUNED);
    assert!(result_output(&last, "c3").ends_with(&"x".repeat(8000)));
}

const INSTRUCTIONS: &str = "Remember: the answer is 42.\nNever touch README.md — not even a typo!";

const MODEL_SUMMARY: &str = "## Goal\nFind the answer.\n\n## Discoveries\n- c1 printed a lot\n\n\
                             ## Done\n- ran big once\n\n## Open items\n- look at c2";

#[tokio::test]
async fn a_summary_replaces_older_history_keeps_the_users_words_and_survives_resume() {
    let provider = ScriptedProvider::new(vec![
        big_call("c1", 14_000),
        big_call("c2", 14_000),
        reply(MODEL_SUMMARY),
        reply("The answer is 42."),
        reply("Next is nothing."),
        reply("Still 42."),
    ]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    let events = turn(&mut handle, INSTRUCTIONS).await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    // Both outputs are the latest two: nothing to prune, so the history up to c1's result is
    // summarised.
    assert_eq!(compactions(&events), [(CompactionMode::Summarized, 3, 0)]);
    let requests = provider.requests();
    assert_eq!(requests.len(), 4, "two steps, the summary, the step again");
    let summariser = &requests[2];
    assert!(summariser.tools.is_empty());
    assert!(summariser.system.starts_with("You summarise"));
    assert!(summariser.messages[0].text().contains(INSTRUCTIONS));

    let after = &requests[3];
    assert_eq!(after.messages.len(), 3, "{:#?}", after.messages);
    let summary = after.messages[0].text();
    assert_eq!(after.messages[0].role, Role::User);
    assert!(summary.starts_with("[Context summary]"), "{summary}");
    assert!(summary.contains("lossy"), "{summary}");
    assert!(
        summary.contains(&format!("### User message 1\n{INSTRUCTIONS}\n")),
        "{summary}"
    );
    assert!(
        summary.contains("## Discoveries\n- c1 printed a lot"),
        "{summary}"
    );
    assert!(summary.contains("## Open items\n- look at c2"), "{summary}");
    assert_eq!(after.messages[1].role, Role::Assistant);
    assert!(result_output(after, "c2").ends_with(&"x".repeat(14_000)));

    // The next turn goes on from the summary.
    let events = turn(&mut handle, "what next?").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    let next = provider.requests().pop().unwrap();
    assert!(next.messages[0].text().starts_with("[Context summary]"));
    assert_eq!(next.messages.last().unwrap().text(), "what next?");

    // Resuming rebuilds the same view from the stored events.
    let id = handle.id().clone();
    let state = store.context_state(&id).await.unwrap();
    assert_eq!(state.summary.as_ref().unwrap().through_seq, 3);
    handle.submit(Op::Shutdown).unwrap();
    let mut resumed = open(
        store.clone(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::Resume(id),
    )
    .await;
    let events = turn(&mut resumed, "and now?").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    let resumed_request = provider.requests().pop().unwrap();
    assert_eq!(resumed_request.messages[0], next.messages[0]);
    assert_eq!(
        resumed_request.messages[..next.messages.len()],
        next.messages[..]
    );
}

#[tokio::test]
async fn a_prompt_larger_than_the_window_fails_with_context_overflow_and_no_request() {
    let provider = ScriptedProvider::new(vec![reply("hi")]);
    let mut handle = open(
        memory_store(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    let events = turn(&mut handle, "hello").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    let huge = "word ".repeat(10_000);
    let events = turn(&mut handle, &huge).await;
    assert_eq!(finished(&events), TurnEndReason::Failed);
    let (code, message, hint) = error_code(&events).unwrap();
    assert_eq!(code, ErrorCode::ContextOverflow);
    assert!(
        message.contains("does not fit the context window"),
        "{message}"
    );
    assert!(hint.unwrap().contains("start a new session"));
    // No summary was attempted: keeping the prompt whole cannot fit whatever the summary.
    assert_eq!(compactions(&events), []);
    assert_eq!(provider.requests().len(), 1);
    assert!(!names(&events).contains(&"request_started"));
}

#[tokio::test]
async fn with_summaries_off_pruning_still_happens_and_then_overflow_is_an_error() {
    let provider = ScriptedProvider::new(vec![big_call("c1", 14_000), big_call("c2", 14_000)]);
    let mut handle = open(
        memory_store(),
        registry(),
        small_window(provider.clone(), false),
        SessionStart::New,
    )
    .await;
    let events = turn(&mut handle, INSTRUCTIONS).await;
    assert_eq!(finished(&events), TurnEndReason::Failed);
    let (code, _, hint) = error_code(&events).unwrap();
    assert_eq!(code, ErrorCode::ContextOverflow);
    assert!(hint.unwrap().contains("auto_summarize"));
    assert_eq!(provider.requests().len(), 2, "no summary request");
}

fn rejection() -> Step {
    step(vec![Err(ProviderError::new(
        ProviderErrorKind::ContextTooLong,
        "scripted",
        "`scripted` refused the request as longer than the model's context window (HTTP 400)",
    )
    .with_status(400))])
}

#[tokio::test]
async fn a_provider_rejection_compacts_and_retries_once() {
    let provider = ScriptedProvider::new(vec![
        big_call("c1", 4000),
        big_call("c2", 4000),
        big_call("c3", 4000),
        rejection(),
        reply("done"),
    ]);
    let mut handle = open(
        memory_store(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    let events = turn(&mut handle, "go").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    assert_eq!(compactions(&events), [(CompactionMode::Pruned, 3, 1)]);
    let requests = provider.requests();
    assert_eq!(requests.len(), 5);
    assert!(result_output(&requests[3], "c1").ends_with("xxxx"));
    assert!(result_output(&requests[4], "c1").starts_with("[output pruned"));
}

#[tokio::test]
async fn a_second_rejection_ends_the_turn_instead_of_looping() {
    let provider = ScriptedProvider::new(vec![
        big_call("c1", 4000),
        big_call("c2", 4000),
        big_call("c3", 4000),
        rejection(),
        rejection(),
    ]);
    let mut handle = open(
        memory_store(),
        registry(),
        small_window(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    let events = turn(&mut handle, "go").await;
    assert_eq!(finished(&events), TurnEndReason::Failed);
    let (code, message, _) = error_code(&events).unwrap();
    assert_eq!(code, ErrorCode::ContextOverflow);
    assert!(
        message.contains("longer than the model's context window"),
        "{message}"
    );
    assert_eq!(provider.requests().len(), 5);
}

#[tokio::test]
async fn compact_on_request_summarises_between_turns() {
    let provider = ScriptedProvider::new(vec![reply("hi"), reply(MODEL_SUMMARY), reply("ok")]);
    let store = memory_store();
    let mut handle = open(
        store.clone(),
        registry(),
        config(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    turn(&mut handle, INSTRUCTIONS).await;
    handle.submit(Op::Compact).unwrap();
    let events = collect_until(&mut handle, |e| {
        matches!(
            e.kind,
            EventKind::ContextCompacted { .. } | EventKind::Error { .. }
        )
    })
    .await;
    assert_eq!(compactions(&events), [(CompactionMode::Summarized, 2, 0)]);
    let events = turn(&mut handle, "continue").await;
    assert_eq!(finished(&events), TurnEndReason::Completed);
    let last = provider.requests().pop().unwrap();
    assert_eq!(last.messages.len(), 1);
    let text = last.messages[0].text();
    assert!(text.starts_with("[Context summary]"), "{text}");
    assert!(text.contains(INSTRUCTIONS), "{text}");
    assert!(text.ends_with("\n\ncontinue"), "{text}");
}

#[tokio::test]
async fn compacting_an_empty_session_is_a_warning_without_a_request() {
    let provider = ScriptedProvider::new(vec![]);
    let mut handle = open(
        memory_store(),
        registry(),
        config(provider.clone(), true),
        SessionStart::New,
    )
    .await;
    handle.submit(Op::Compact).unwrap();
    let events = collect_until(&mut handle, |e| matches!(e.kind, EventKind::Warning { .. })).await;
    let EventKind::Warning { message } = &events.last().unwrap().kind else {
        unreachable!()
    };
    assert!(message.starts_with(NOTHING_TO_COMPACT), "{message}");
    assert!(provider.requests().is_empty());
}

/// Estimates like the default until asked to load, then counts every byte as a token (three
/// to four times the estimate), recording when it was asked.
#[derive(Default)]
struct LoadableCounter {
    loaded: std::sync::atomic::AtomicBool,
    load_requests: std::sync::Mutex<u32>,
}

impl code_mesh_core::TokenCounter for LoadableCounter {
    fn count(&self, text: &str) -> u64 {
        if self.is_exact() {
            text.len() as u64
        } else {
            code_mesh_core::Estimator.count(text)
        }
    }
    fn is_exact(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn load_exact(&self) -> bool {
        *self.load_requests.lock().unwrap() += 1;
        self.loaded.store(true, std::sync::atomic::Ordering::SeqCst);
        true
    }
    fn name(&self) -> &str {
        "loadable"
    }
}

#[tokio::test]
async fn the_exact_tokenizer_loads_only_past_half_the_window_and_recounts_everything() {
    let counter = Arc::new(LoadableCounter::default());
    // Request 1 is small: estimated well under half of the 5,500 available, so no load.
    // Request 2 carries 12,000 more bytes: estimated ~3,000 tokens more, past half, so the
    // tokenizer loads, and its count (a token per byte) no longer fits. The latest output is
    // never pruned and summaries are off, so the turn overflows instead of sending it; with
    // the estimate alone it would have been sent.
    let provider = ScriptedProvider::new(vec![big_call("c1", 12_000), reply("done")]);
    let mut config = small_window(provider.clone(), false);
    config.context.tokenizer = counter.clone();
    let mut handle = open(memory_store(), registry(), config, SessionStart::New).await;
    let events = turn(&mut handle, "look").await;
    assert_eq!(*counter.load_requests.lock().unwrap(), 1);
    assert_eq!(provider.requests().len(), 1);
    assert_eq!(finished(&events), TurnEndReason::Failed);
    let (code, _, _) = error_code(&events).unwrap();
    assert_eq!(code, ErrorCode::ContextOverflow);
}
