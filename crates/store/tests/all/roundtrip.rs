//! What goes in comes back out, after reopening the database.

use std::sync::Arc;

use code_mesh_core::Store;
use code_mesh_protocol::{
    Event, EventKind, Message, Part, PermissionDecision, PermissionSource, Role, SessionInfo,
    ToolCall, ToolResult, TurnEndReason, TurnId, Usage,
};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::{event, message_added, new_session, temp_db, text_message};

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: input / 2,
        cache_write_tokens: 3,
        reasoning_tokens: output / 4,
        cost_usd: Some(0.25),
    }
}

#[tokio::test]
async fn a_session_reads_back_exactly_as_appended_after_reopening() {
    let (_dir, path) = temp_db();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let created = store
        .create_session(new_session("/repo/src"))
        .await
        .unwrap();
    assert!(created.id.as_str().starts_with("ses_"), "{}", created.id);
    let id = created.id.clone();
    let t0 = created.created_at;

    let user = text_message(1, Role::User, "List the files\nand say hello", t0 + 2);
    let assistant = Message {
        seq: 2,
        role: Role::Assistant,
        parts: vec![
            Part::Reasoning {
                text: "I should look.".to_owned(),
                signature: Some("sig-1".to_owned()),
                id: None,
                redacted: false,
            },
            Part::Text {
                text: "Let me look.".to_owned(),
            },
            Part::ToolCall(ToolCall {
                call_id: "call_1".to_owned(),
                name: "shell".to_owned(),
                arguments: r#"{"command":"ls"}"#.to_owned(),
                signature: None,
            }),
            Part::ToolCall(ToolCall {
                call_id: "call_2".to_owned(),
                name: "read".to_owned(),
                arguments: "{not json".to_owned(),
                signature: None,
            }),
        ],
        model: Some("anthropic/claude-sonnet-4-5".to_owned()),
        usage: Some(usage(100, 20)),
        interrupted: false,
        created_at: t0 + 5,
    };
    let tool = Message {
        seq: 3,
        role: Role::Tool,
        parts: vec![
            Part::ToolResult(ToolResult {
                call_id: "call_1".to_owned(),
                name: "shell".to_owned(),
                output: "Cargo.toml\nsrc\n".to_owned(),
                is_error: false,
            }),
            Part::ToolResult(ToolResult {
                call_id: "call_2".to_owned(),
                name: "read".to_owned(),
                output: "the arguments are not valid JSON".to_owned(),
                is_error: true,
            }),
        ],
        model: None,
        usage: None,
        interrupted: false,
        created_at: t0 + 9,
    };
    let mut final_answer = text_message(4, Role::Assistant, "Hello! Two entries. ✓", t0 + 12);
    final_answer.model = Some("anthropic/claude-sonnet-4-5".to_owned());
    final_answer.usage = Some(usage(150, 10));
    final_answer.interrupted = true;

    let kinds = vec![
        EventKind::SessionStarted {
            cwd: "/repo/src".to_owned(),
            workspace: "/repo".to_owned(),
            model: "openai/gpt-5".to_owned(),
            resumed: false,
        },
        EventKind::TurnStarted { turn: TurnId(1) },
        message_added(user.clone()),
        EventKind::RequestStarted {
            turn: TurnId(1),
            step: 1,
            model: "openai/gpt-5".to_owned(),
        },
        EventKind::TextDelta {
            delta: "Let me".to_owned(),
        },
        message_added(assistant.clone()),
        EventKind::UsageUpdated {
            usage: usage(100, 20),
            session_total: usage(100, 20),
        },
        EventKind::ToolCallStarted {
            call_id: "call_1".to_owned(),
            name: "shell".to_owned(),
            arguments: r#"{"command":"ls"}"#.to_owned(),
        },
        EventKind::PermissionDecided {
            request_id: "perm_1".to_owned(),
            call_id: "call_1".to_owned(),
            decision: PermissionDecision::AllowOnce,
            source: PermissionSource::AutoApprove,
            rule: None,
            remembered: Vec::new(),
        },
        EventKind::ToolCallFinished {
            call_id: "call_1".to_owned(),
            name: "shell".to_owned(),
            output: "Cargo.toml\nsrc\n".to_owned(),
            is_error: false,
            duration_ms: 4,
        },
        message_added(tool.clone()),
        EventKind::ReasoningDelta {
            delta: "hm".to_owned(),
        },
        message_added(final_answer.clone()),
        EventKind::UsageUpdated {
            usage: usage(150, 10),
            session_total: usage(250, 30),
        },
        EventKind::Warning {
            message: "context is 80% full".to_owned(),
        },
        EventKind::TurnFinished {
            turn: TurnId(1),
            reason: TurnEndReason::Completed,
            steps: 2,
            usage: usage(250, 30),
        },
    ];
    let events: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(index, kind)| event(&id, index as u64 + 1, t0 + 1 + index as u64, kind))
        .collect();
    for event in &events {
        store.append_event(event).await.unwrap();
    }
    drop(store);

    let reopened = SqliteStore::open(&path).unwrap();
    let stored: Vec<Event> = events
        .iter()
        .filter(|event| !event.kind.is_transient())
        .cloned()
        .collect();
    let last = events.last().unwrap();
    let expected_info = SessionInfo {
        id: id.clone(),
        cwd: "/repo/src".to_owned(),
        workspace: "/repo".to_owned(),
        title: "List the files".to_owned(),
        model: "openai/gpt-5".to_owned(),
        created_at: t0,
        updated_at: last.at,
        message_count: 4,
        last_event_seq: last.seq,
        usage: usage(250, 30),
        parent_id: None,
        agent: None,
    };
    let expected_messages = vec![user, assistant, tool, final_answer];

    // Through the async trait...
    let store: Arc<dyn Store> = Arc::new(reopened.clone());
    assert_eq!(
        store.session(&id).await.unwrap(),
        Some(expected_info.clone())
    );
    assert_eq!(store.messages(&id).await.unwrap(), expected_messages);
    assert_eq!(store.events(&id).await.unwrap(), stored);
    // ... read a page at a time, pages joined give the same events.
    let mut paged = Vec::new();
    loop {
        let after = paged.last().map_or(0, |event: &Event| event.seq);
        let page = store.events_after(&id, after, 3).await.unwrap();
        assert!(page.len() <= 3, "a page holds at most its limit");
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, stored);
    assert_eq!(store.events_after(&id, last.seq, 10).await.unwrap(), vec![]);
    assert_eq!(
        store.list_sessions(10).await.unwrap(),
        vec![expected_info.clone()]
    );
    assert_eq!(
        store.latest_session("/repo/src").await.unwrap(),
        Some(expected_info.clone())
    );

    // ...and through the synchronous API the CLI uses.
    assert_eq!(reopened.session_blocking(&id).unwrap(), Some(expected_info));
    assert_eq!(reopened.messages_blocking(&id).unwrap(), expected_messages);
    assert_eq!(reopened.events_blocking(&id).unwrap(), stored);
}

#[test]
fn a_new_session_is_empty_and_untitled() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let created = store.create_session_blocking(new_session("/w")).unwrap();
    let expected = SessionInfo {
        id: created.id.clone(),
        cwd: "/w".to_owned(),
        workspace: "/repo".to_owned(),
        title: String::new(),
        model: "anthropic/claude-sonnet-4-5".to_owned(),
        created_at: created.created_at,
        updated_at: created.created_at,
        message_count: 0,
        last_event_seq: 0,
        usage: Usage::default(),
        parent_id: None,
        agent: None,
    };
    assert_eq!(created, expected);
    assert_eq!(store.session_blocking(&created.id).unwrap(), Some(expected));
    assert_eq!(store.messages_blocking(&created.id).unwrap(), vec![]);
    assert_eq!(store.events_blocking(&created.id).unwrap(), vec![]);
}

#[test]
fn session_ids_are_unique_and_ordered_by_creation() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let ids: Vec<String> = (0..50)
        .map(|_| {
            store
                .create_session_blocking(new_session("/w"))
                .unwrap()
                .id
                .0
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids);
}
