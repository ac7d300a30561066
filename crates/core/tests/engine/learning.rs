//! The learning engine and memory in the engine: a finished turn records what it taught, the
//! store keeps the lessons, and the next session's system prompt carries them.

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::{
    MemoryBank, MemoryStore, SessionStart, StoreError, Tool, ToolContext, ToolError, ToolOutput,
    ToolRegistry,
};
use code_mesh_protocol::{
    EventKind, MemoryEntry, MemoryHit, MemoryKind, MemoryQuery, MemoryScope, NewMemory, Op,
    ToolKind, ToolSpec,
};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::support::*;

/// A `bash` stand-in answering like the real one: the output, then the exit code.
struct FakeShell;

#[async_trait]
impl Tool for FakeShell {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "bash".into(),
            description: "runs".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Execute
    }
    fn summarize(&self, args: &serde_json::Value) -> String {
        format!("run {args}")
    }
    async fn call(
        &self,
        args: serde_json::Value,
        _: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let command = args["command"].as_str().unwrap_or("");
        let code = if command.contains("fail") { 1 } else { 0 };
        Ok(ToolOutput::from(format!(
            "ran {command}\nexit code: {code}"
        )))
    }
}

fn shell() -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry.register(Arc::new(FakeShell));
    registry
}

fn note(scope: MemoryScope, kind: MemoryKind, project: Option<&str>, content: &str) -> NewMemory {
    NewMemory {
        scope,
        kind,
        project: project.map(str::to_owned),
        agent: (scope == MemoryScope::Agent).then(|| "coder".to_owned()),
        content: content.into(),
        key: None,
        source_session: None,
        expires_at: None,
    }
}

#[tokio::test]
async fn a_passing_test_run_becomes_a_lesson_the_next_session_is_told() {
    let store = Arc::new(MemoryStore::new());
    store
        .remember(note(
            MemoryScope::Global,
            MemoryKind::Preference,
            None,
            "Answer tersely.",
        ))
        .await
        .unwrap();
    store
        .remember(note(
            MemoryScope::Project,
            MemoryKind::Fact,
            Some("/elsewhere"),
            "Other repo fact.",
        ))
        .await
        .unwrap();
    store
        .remember(note(
            MemoryScope::Agent,
            MemoryKind::Fact,
            Some("/workspace"),
            "Coder note.",
        ))
        .await
        .unwrap();

    let provider = ScriptedProvider::new(vec![
        step(vec![
            call("c1", "bash", r#"{"command":"pytest -q"}"#),
            finish(),
        ]),
        step(vec![text("Tests pass."), finish()]),
    ]);
    let mut config = config(provider.clone(), true);
    config.memory = Some(store.clone());
    let mut handle = open(store.clone(), shell(), config.clone(), SessionStart::New).await;
    handle
        .submit(Op::UserTurn {
            text: "run the tests".into(),
        })
        .unwrap();
    let events = until_turn_finished(&mut handle).await;
    let kinds = names(&events);
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["task_outcome_recorded", "turn_finished"]
    );
    let EventKind::TaskOutcomeRecorded { outcome, lessons } = &events[events.len() - 2].kind else {
        unreachable!()
    };
    assert!(outcome.succeeded);
    assert_eq!(outcome.task, "run the tests");
    assert_eq!(outcome.test_commands, ["pytest -q"]);
    assert_eq!(lessons.len(), 1);
    assert_eq!(lessons[0].key, "test-command");

    let first_system = &provider.requests()[0].system;
    assert!(first_system.contains("# Memory from earlier sessions"));
    assert!(first_system.contains("- Answer tersely."));
    assert!(first_system.contains("## Notes of the coder agent\n- Coder note."));
    assert!(!first_system.contains("Other repo fact."), "{first_system}");
    assert!(
        !first_system.contains("pytest"),
        "no lesson before it was learned"
    );

    let stored = store
        .recall(&MemoryQuery {
            kinds: vec![MemoryKind::Lesson],
            ..MemoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].entry.memory.project.as_deref(),
        Some("/workspace")
    );
    assert_eq!(
        stored[0].entry.memory.source_session.as_ref(),
        Some(handle.id())
    );

    let next = ScriptedProvider::new(vec![step(vec![text("ok"), finish()])]);
    let mut next_config = config.clone();
    next_config.provider = next.clone();
    let mut handle = open(store.clone(), shell(), next_config, SessionStart::New).await;
    handle.submit(Op::UserTurn { text: "hi".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert!(
        !names(&events).contains(&"task_outcome_recorded"),
        "nothing learned from `hi`"
    );
    let system = &next.requests()[0].system;
    assert!(
        system.contains(&format!(
            "## Lessons from earlier tasks in this repository\n- {}",
            lessons[0].content
        )),
        "{system}"
    );
}

#[tokio::test]
async fn a_repeated_lesson_replaces_the_older_one() {
    let store = Arc::new(MemoryStore::new());
    for command in ["pytest -q", "python3 -m pytest"] {
        let provider = ScriptedProvider::new(vec![
            step(vec![
                call("c1", "bash", &json!({"command": command}).to_string()),
                finish(),
            ]),
            step(vec![text("done"), finish()]),
        ]);
        let mut config = config(provider, true);
        config.memory = Some(store.clone());
        let mut handle = open(store.clone(), shell(), config, SessionStart::New).await;
        handle
            .submit(Op::UserTurn {
                text: "test".into(),
            })
            .unwrap();
        until_turn_finished(&mut handle).await;
    }
    let lessons: Vec<String> = store
        .recall(&MemoryQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.entry.memory.content)
        .collect();
    assert_eq!(lessons.len(), 1, "{lessons:?}");
    assert!(lessons[0].starts_with("Run the tests with `python3 -m pytest`"));
}

/// A bank whose every call fails.
struct BrokenBank;

#[async_trait]
impl MemoryBank for BrokenBank {
    async fn remember(&self, _: NewMemory) -> Result<MemoryEntry, StoreError> {
        Err(StoreError::new("disk gone"))
    }
    async fn recall(&self, _: &MemoryQuery) -> Result<Vec<MemoryHit>, StoreError> {
        Err(StoreError::new("disk gone"))
    }
    async fn forget(&self, _: u64) -> Result<bool, StoreError> {
        Err(StoreError::new("disk gone"))
    }
}

#[tokio::test]
async fn a_failing_memory_bank_is_a_warning_not_a_failed_session() {
    let provider = ScriptedProvider::new(vec![step(vec![text("ok"), finish()])]);
    let mut config = config(provider.clone(), true);
    config.memory = Some(Arc::new(BrokenBank));
    let mut handle = open(memory_store(), shell(), config, SessionStart::New).await;
    handle.submit(Op::UserTurn { text: "hi".into() }).unwrap();
    let events = until_turn_finished(&mut handle).await;
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::Warning { message } if message
            == "memory from earlier sessions is left out of this one: session store: disk gone"
    )));
    assert!(!provider.requests()[0].system.contains("# Memory"));
}
