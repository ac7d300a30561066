use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

#[test]
fn event_json_puts_kind_fields_beside_envelope() {
    let event = Event {
        seq: 3,
        session_id: SessionId::from("ses_1"),
        at: 1_764_245_000_000,
        kind: EventKind::TextDelta { delta: "Hi".into() },
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(
        value,
        json!({"seq":3,"session_id":"ses_1","at":1764245000000u64,"type":"text_delta","delta":"Hi"})
    );
    let back: Event = serde_json::from_value(value).unwrap();
    assert_eq!(back, event);
}

#[test]
fn message_parts_round_trip_with_stable_names() {
    let message = Message {
        seq: 2,
        role: Role::Assistant,
        parts: vec![
            Part::Text { text: "ok".into() },
            Part::ToolCall(ToolCall {
                call_id: "call_1".into(),
                name: "read".into(),
                arguments: "{\"path\":\"a\"}".into(),
                signature: None,
            }),
        ],
        model: Some("openai/gpt".into()),
        usage: None,
        interrupted: false,
        created_at: 5,
    };
    let value = serde_json::to_value(&message).unwrap();
    assert_eq!(
        value,
        json!({
            "seq": 2, "role": "assistant", "model": "openai/gpt", "created_at": 5,
            "parts": [
                {"type": "text", "text": "ok"},
                {"type": "tool_call", "call_id": "call_1", "name": "read", "arguments": "{\"path\":\"a\"}"}
            ]
        })
    );
    assert_eq!(serde_json::from_value::<Message>(value).unwrap(), message);
}

#[test]
fn ops_parse_from_json() {
    let op: Op = serde_json::from_str(r#"{"type":"user_turn","text":"fix it"}"#).unwrap();
    assert_eq!(
        op,
        Op::UserTurn {
            text: "fix it".into()
        }
    );
    let op: Op = serde_json::from_str(
        r#"{"type":"permission_reply","request_id":"r1","decision":"allow_always"}"#,
    )
    .unwrap();
    assert_eq!(
        op,
        Op::PermissionReply {
            request_id: "r1".into(),
            decision: PermissionDecision::AllowAlways
        }
    );
}

#[test]
fn deltas_are_transient_and_messages_are_not() {
    assert!(
        EventKind::TextDelta {
            delta: String::new()
        }
        .is_transient()
    );
    assert!(
        !EventKind::Warning {
            message: String::new()
        }
        .is_transient()
    );
}

#[test]
fn memory_and_agent_events_keep_their_json_names() {
    let kinds = vec![
        (
            EventKind::ContextCompacted {
                mode: CompactionMode::Summarized,
                through_seq: 7,
                summary: Some("## Goal".into()),
                pruned_outputs: 2,
                tokens_before: 900,
                tokens_after: 300,
            },
            json!({"type":"context_compacted","mode":"summarized","through_seq":7,
                   "summary":"## Goal","pruned_outputs":2,"tokens_before":900,"tokens_after":300}),
        ),
        (
            EventKind::SessionForked {
                parent_id: SessionId::from("ses_p"),
                through_seq: 4,
            },
            json!({"type":"session_forked","parent_id":"ses_p","through_seq":4}),
        ),
        (
            EventKind::TaskStarted {
                task: TaskId("task_1".into()),
                agent: AgentId("agent_2".into()),
            },
            json!({"type":"task_started","task":"task_1","agent":"agent_2"}),
        ),
        (
            EventKind::AgentMessage {
                from: AgentId("agent_1".into()),
                to: None,
                topic: Some("api".into()),
                text: "schema changed".into(),
            },
            json!({"type":"agent_message","from":"agent_1","topic":"api","text":"schema changed"}),
        ),
    ];
    for (kind, expected) in kinds {
        let value = serde_json::to_value(&kind).unwrap();
        assert_eq!(value, expected);
        let back: EventKind = serde_json::from_value(value).unwrap();
        assert_eq!(back, kind);
    }
    assert_eq!(AgentType::from_name("devops"), Some(AgentType::DevOps));
    assert_eq!(AgentType::ALL.len(), 10);
    assert_eq!(MemoryScope::from_name("agent"), Some(MemoryScope::Agent));
}

#[test]
fn permission_decided_carries_remembered_rules_only_when_there_are_some() {
    use crate::config::{PermissionAction, PermissionRule};

    let decided = |remembered: Vec<PermissionRule>| EventKind::PermissionDecided {
        request_id: "perm_1_1".into(),
        call_id: "call_1".into(),
        decision: PermissionDecision::AllowAlways,
        source: PermissionSource::User,
        rule: None,
        remembered,
    };
    let rule = PermissionRule {
        tool: "bash".into(),
        pattern: Some("git status *".into()),
        action: PermissionAction::Allow,
    };
    let with = serde_json::to_value(decided(vec![rule.clone()])).unwrap();
    assert_eq!(
        with["remembered"],
        json!([{"tool": "bash", "pattern": "git status *", "action": "allow"}])
    );
    assert_eq!(
        serde_json::from_value::<EventKind>(with).unwrap(),
        decided(vec![rule])
    );
    // Events stored before the field existed read back with none.
    let without = serde_json::to_value(decided(Vec::new())).unwrap();
    assert!(without.get("remembered").is_none(), "{without}");
    assert_eq!(
        serde_json::from_value::<EventKind>(without).unwrap(),
        decided(Vec::new())
    );
}

#[test]
fn a_read_message_holds_no_room_for_parts_it_does_not_have() {
    let json = r#"{"seq":1,"role":"user","parts":[{"type":"text","text":"hi"}],"created_at":0}"#;
    let message: Message = serde_json::from_str(json).unwrap();
    assert_eq!(message.parts.len(), 1);
    assert_eq!(message.parts.capacity(), 1);
}

#[test]
fn run_nodes_send_their_unknowns_as_null_and_listings_leave_them_out() {
    let agents = RunAgents {
        agents: vec![AgentNode {
            info: AgentInfo {
                id: AgentId("agent_1".into()),
                profile: "coordinator".into(),
                parent: None,
                session_id: SessionId::from("ses_1"),
                model: "openai/m".into(),
            },
            succeeded: None,
            usage: Usage::default(),
        }],
        tasks: vec![TaskNode {
            info: TaskInfo {
                id: TaskId("task_1".into()),
                description: "do it".into(),
                agent: "coder".into(),
                dependencies: Vec::new(),
            },
            state: TaskState::Waiting,
            agents: Vec::new(),
            failure: None,
            usage: Usage::default(),
        }],
    };
    let value = serde_json::to_value(&agents).unwrap();
    assert_eq!(value["agents"][0]["succeeded"], serde_json::Value::Null);
    assert_eq!(value["tasks"][0]["failure"], serde_json::Value::Null);
    assert_eq!(value["tasks"][0]["state"], "waiting");
    assert_eq!(serde_json::from_value::<RunAgents>(value).unwrap(), agents);

    let listing = ModelListing {
        model: "openai/gpt".into(),
        provider: "openai".into(),
        context: Some(400_000),
        source: "catalogue".into(),
        role: Some("default".into()),
        ..ModelListing::default()
    };
    assert_eq!(
        serde_json::to_string(&listing).unwrap(),
        r#"{"model":"openai/gpt","provider":"openai","context":400000,"source":"catalogue","role":"default"}"#
    );
}
