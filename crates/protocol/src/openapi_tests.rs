//! The OpenAPI schemas must describe the JSON serde actually writes: every sample below is
//! serialized and checked against the generated document with a small JSON Schema validator.

use std::collections::BTreeSet;

use pretty_assertions::assert_eq;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::*;
use crate::config::{PermissionAction, PermissionRule};

#[derive(OpenApi)]
#[openapi(components(schemas(
    Event,
    SessionInfo,
    Message,
    Op,
    RunAgents,
    ModelListing,
    ContextState,
    PermissionRule
)))]
struct ApiDoc;

fn doc() -> Value {
    let text = ApiDoc::openapi().to_json().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc.pointer(&format!("/components/schemas/{name}"))
        .unwrap_or_else(|| panic!("no schema {name}"))
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => schema,
    }
}

/// Checks `value` against `schema` for the keywords utoipa writes; any other keyword fails the
/// check, so a schema feature this validator does not understand cannot pass unnoticed.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    let object = schema
        .as_object()
        .ok_or_else(|| format!("{at}: schema is not an object"))?;
    for (keyword, rule) in object {
        match keyword.as_str() {
            "description" | "format" | "default" | "examples" | "title" => {}
            "type" => {
                let allowed: Vec<&str> = match rule {
                    Value::String(name) => vec![name.as_str()],
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    _ => return Err(format!("{at}: odd type {rule}")),
                };
                let actual = match value {
                    Value::Null => "null",
                    Value::Bool(_) => "boolean",
                    Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                let fits = allowed.contains(&actual)
                    || (actual == "integer" && allowed.contains(&"number"));
                if !fits {
                    return Err(format!("{at}: {actual} where {allowed:?} expected"));
                }
            }
            "enum" => {
                let options = rule.as_array().cloned().unwrap_or_default();
                if !options.contains(value) {
                    return Err(format!("{at}: {value} not in {rule}"));
                }
            }
            "minimum" => {
                if let (Some(min), Some(number)) = (rule.as_f64(), value.as_f64())
                    && number < min
                {
                    return Err(format!("{at}: {number} below {min}"));
                }
            }
            "required" => {
                for name in rule.as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap_or_default();
                    if value.get(name).is_none() {
                        return Err(format!("{at}: required `{name}` missing"));
                    }
                }
            }
            "properties" => {
                if let (Some(properties), Some(fields)) = (rule.as_object(), value.as_object()) {
                    for (name, field) in fields {
                        if let Some(property) = properties.get(name) {
                            validate(doc, property, field, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if rule == &Value::Bool(false) {
                    let known = object.get("properties").and_then(Value::as_object);
                    for name in value.as_object().into_iter().flat_map(|o| o.keys()) {
                        if !known.is_some_and(|known| known.contains_key(name)) {
                            return Err(format!("{at}: unexpected `{name}`"));
                        }
                    }
                }
            }
            "items" => {
                for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                    validate(doc, rule, item, &format!("{at}[{index}]"))?;
                }
            }
            "allOf" => {
                for part in rule.as_array().into_iter().flatten() {
                    validate(doc, part, value, at)?;
                }
            }
            "oneOf" => {
                let matches = rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|option| validate(doc, option, value, at).is_ok())
                    .count();
                if matches != 1 {
                    return Err(format!("{at}: {value} matches {matches} of oneOf"));
                }
            }
            other => return Err(format!("{at}: keyword `{other}` not understood")),
        }
    }
    Ok(())
}

fn assert_fits(doc: &Value, name: &str, sample: &impl Serialize) {
    let value = serde_json::to_value(sample).unwrap();
    if let Err(error) = validate(doc, schema(doc, name), &value, name) {
        panic!("{name} sample does not fit its schema: {error}\n{value:#}");
    }
}

fn usage(tokens: u64, cost: Option<f64>) -> Usage {
    Usage {
        input_tokens: tokens,
        output_tokens: tokens / 2,
        cost_usd: cost,
        ..Usage::default()
    }
}

fn message() -> Message {
    Message {
        seq: 4,
        role: Role::Assistant,
        parts: vec![
            Part::Reasoning {
                text: String::new(),
                signature: Some("sig".into()),
                id: Some("rs_1".into()),
                redacted: true,
            },
            Part::Reasoning {
                text: "think".into(),
                signature: None,
                id: None,
                redacted: false,
            },
            Part::Text { text: "ok".into() },
            Part::ToolCall(ToolCall {
                signature: Some("t".into()),
                ..ToolCall::new("call_1", "read", "{}")
            }),
            Part::ToolCall(ToolCall::new("call_2", "bash", "not json")),
            Part::ToolResult(ToolResult {
                call_id: "call_1".into(),
                name: "read".into(),
                output: "text".into(),
                is_error: true,
            }),
            Part::ToolResult(ToolResult {
                call_id: "call_2".into(),
                name: "bash".into(),
                output: String::new(),
                is_error: false,
            }),
        ],
        model: Some("openai/gpt".into()),
        usage: Some(usage(10, Some(0.5))),
        interrupted: true,
        created_at: 1,
    }
}

fn agent_info(parent: Option<&str>) -> AgentInfo {
    AgentInfo {
        id: AgentId("agent_2".into()),
        profile: "coder".into(),
        parent: parent.map(|p| AgentId(p.into())),
        session_id: SessionId::from("ses_c"),
        model: "openai/m".into(),
    }
}

fn task_info(dependencies: Vec<TaskId>) -> TaskInfo {
    TaskInfo {
        id: TaskId("task_1".into()),
        description: "do it".into(),
        agent: "coder".into(),
        dependencies,
    }
}

fn outcome() -> AgentOutcome {
    AgentOutcome {
        summary: "done".into(),
        usage: usage(3, None),
    }
}

/// At least one sample of every kind, with optional fields both present and absent.
fn event_kinds() -> Vec<EventKind> {
    vec![
        EventKind::SessionStarted {
            cwd: "/p".into(),
            workspace: "/p".into(),
            model: "openai/m".into(),
            resumed: false,
        },
        EventKind::SessionForked {
            parent_id: SessionId::from("ses_p"),
            through_seq: 3,
        },
        EventKind::MessageAdded { message: message() },
        EventKind::TurnStarted { turn: TurnId(1) },
        EventKind::RequestStarted {
            turn: TurnId(1),
            step: 2,
            model: "openai/m".into(),
        },
        EventKind::TextDelta { delta: "Hi".into() },
        EventKind::ReasoningDelta { delta: "hm".into() },
        EventKind::ToolOutputDelta {
            call_id: "call_1".into(),
            delta: "out".into(),
        },
        EventKind::ToolCallStarted {
            call_id: "call_1".into(),
            name: "bash".into(),
            arguments: "{}".into(),
        },
        EventKind::PermissionRequested {
            request_id: "perm_1".into(),
            call_id: "call_1".into(),
            tool: "bash".into(),
            kind: ToolKind::Execute,
            summary: "run `ls`".into(),
        },
        EventKind::PermissionDecided {
            request_id: "perm_1".into(),
            call_id: "call_1".into(),
            decision: PermissionDecision::AllowAlways,
            source: PermissionSource::User,
            rule: None,
            remembered: vec![
                PermissionRule {
                    tool: "bash".into(),
                    pattern: Some("ls *".into()),
                    action: PermissionAction::Allow,
                },
                PermissionRule {
                    tool: "read".into(),
                    pattern: None,
                    action: PermissionAction::Ask,
                },
            ],
        },
        EventKind::PermissionDecided {
            request_id: "perm_2".into(),
            call_id: "call_2".into(),
            decision: PermissionDecision::Deny,
            source: PermissionSource::Policy,
            rule: Some("default".into()),
            remembered: Vec::new(),
        },
        EventKind::ToolCallFinished {
            call_id: "call_1".into(),
            name: "bash".into(),
            output: "ok".into(),
            is_error: false,
            duration_ms: 12,
        },
        EventKind::UsageUpdated {
            usage: usage(5, None),
            session_total: usage(50, Some(0.01)),
        },
        EventKind::Error {
            code: ErrorCode::ProviderAuth,
            message: "401".into(),
            hint: Some("set the key".into()),
        },
        EventKind::Error {
            code: ErrorCode::Internal,
            message: "boom".into(),
            hint: None,
        },
        EventKind::Warning {
            message: "careful".into(),
        },
        EventKind::ProviderRetry {
            provider: "openai".into(),
            attempt: 1,
            delay_ms: 500,
            message: "429".into(),
        },
        EventKind::ProviderFailover {
            from: "openai/a".into(),
            to: "anthropic/b".into(),
            message: "down".into(),
        },
        EventKind::ResponseCacheHit {
            model: "openai/m".into(),
        },
        EventKind::ContextCompacted {
            mode: CompactionMode::Summarized,
            through_seq: 7,
            summary: Some("## Goal".into()),
            pruned_outputs: 2,
            tokens_before: 900,
            tokens_after: 300,
        },
        EventKind::ContextCompacted {
            mode: CompactionMode::Pruned,
            through_seq: 7,
            summary: None,
            pruned_outputs: 0,
            tokens_before: 900,
            tokens_after: 600,
        },
        EventKind::TaskOutcomeRecorded {
            outcome: TaskOutcome {
                task: "fix".into(),
                succeeded: true,
                test_commands: vec!["cargo test".into()],
                build_commands: Vec::new(),
                files: vec!["src/lib.rs".into()],
                fixes: vec![ErrorFix {
                    command: "cargo test".into(),
                    error: "E0308".into(),
                    fix: "edited src/lib.rs".into(),
                }],
            },
            lessons: vec![Lesson {
                key: "test-command".into(),
                content: "cargo test".into(),
            }],
        },
        EventKind::TaskOutcomeRecorded {
            outcome: TaskOutcome::default(),
            lessons: Vec::new(),
        },
        EventKind::AgentSpawned {
            agent: agent_info(Some("agent_1")),
        },
        EventKind::AgentSpawned {
            agent: agent_info(None),
        },
        EventKind::AgentTerminated {
            agent: AgentId("agent_2".into()),
            succeeded: true,
            outcome: outcome(),
        },
        EventKind::TaskCreated {
            task: task_info(vec![TaskId("task_0".into())]),
        },
        EventKind::TaskCreated {
            task: task_info(Vec::new()),
        },
        EventKind::TaskStarted {
            task: TaskId("task_1".into()),
            agent: AgentId("agent_2".into()),
        },
        EventKind::TaskCompleted {
            task: TaskId("task_1".into()),
            outcome: outcome(),
        },
        EventKind::TaskFailed {
            task: TaskId("task_1".into()),
            reason: "timed out".into(),
        },
        EventKind::AgentMessage {
            from: AgentId("agent_1".into()),
            to: Some(AgentId("agent_2".into())),
            topic: None,
            text: "hi".into(),
        },
        EventKind::AgentMessage {
            from: AgentId("agent_1".into()),
            to: None,
            topic: Some("api".into()),
            text: "changed".into(),
        },
        EventKind::TurnFinished {
            turn: TurnId(1),
            reason: TurnEndReason::MaxTurns,
            steps: 3,
            usage: usage(9, None),
        },
    ]
}

fn run_agents() -> RunAgents {
    RunAgents {
        agents: vec![
            AgentNode {
                info: agent_info(None),
                succeeded: None,
                usage: Usage::default(),
            },
            AgentNode {
                info: agent_info(Some("agent_1")),
                succeeded: Some(false),
                usage: usage(4, Some(0.2)),
            },
        ],
        tasks: vec![
            TaskNode {
                info: task_info(Vec::new()),
                state: TaskState::Waiting,
                agents: Vec::new(),
                failure: None,
                usage: Usage::default(),
            },
            TaskNode {
                info: task_info(vec![TaskId("task_0".into())]),
                state: TaskState::Failed,
                agents: vec![AgentId("agent_2".into())],
                failure: Some("timed out".into()),
                usage: usage(4, None),
            },
        ],
    }
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_event_kind_schema_names_every_kind_and_requires_its_type() {
    let doc = doc();
    let variants = schema(&doc, "EventKind")["oneOf"].as_array().unwrap();
    let mut in_schema = BTreeSet::new();
    for variant in variants {
        let types = variant["properties"]["type"]["enum"].as_array().unwrap();
        assert_eq!(types.len(), 1, "{variant}");
        in_schema.insert(types[0].as_str().unwrap().to_owned());
        assert!(required(variant).contains("type"), "{variant}");
    }
    let serialized: BTreeSet<String> = event_kinds()
        .iter()
        .map(|kind| {
            let value = serde_json::to_value(kind).unwrap();
            assert_eq!(value["type"], kind.name());
            value["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(in_schema, serialized);
    assert_eq!(in_schema.len(), variants.len());
}

#[test]
fn an_event_requires_its_envelope_beside_the_flattened_kind() {
    let doc = doc();
    let parts = schema(&doc, "Event")["allOf"].as_array().unwrap();
    assert!(
        parts
            .iter()
            .any(|part| part["$ref"] == "#/components/schemas/EventKind")
    );
    let envelope: BTreeSet<String> = parts.iter().flat_map(required).collect();
    for field in ["seq", "session_id", "at"] {
        assert!(envelope.contains(field), "{field} not required");
    }
    assert_eq!(schema(&doc, "SessionId")["type"], "string");
    assert_eq!(schema(&doc, "AgentId")["type"], "string");
    assert_eq!(schema(&doc, "TaskId")["type"], "string");
    assert_eq!(schema(&doc, "TurnId")["type"], "integer");
}

#[test]
fn fields_left_out_when_empty_are_not_required_and_nulls_are_allowed_where_sent() {
    let doc = doc();
    let session = required(schema(&doc, "SessionInfo"));
    assert!(!session.contains("parent_id") && !session.contains("agent"));
    assert!(session.contains("id") && session.contains("usage"));
    let message = required(schema(&doc, "Message"));
    for optional in ["model", "usage", "interrupted"] {
        assert!(!message.contains(optional), "{optional}");
    }
    assert!(required(schema(&doc, "Usage")).is_empty());
    let listing = required(schema(&doc, "ModelListing"));
    assert_eq!(
        listing,
        BTreeSet::from(["model".into(), "provider".into(), "source".into()])
    );
    // The run tree's nodes send their unknowns as null: present, and nullable.
    let agent = schema(&doc, "AgentNode");
    assert!(required(agent).contains("succeeded"));
    assert_eq!(
        agent["properties"]["succeeded"]["type"],
        json!(["boolean", "null"])
    );
    let task = schema(&doc, "TaskNode");
    assert!(required(task).contains("failure"));
    assert_eq!(
        task["properties"]["failure"]["type"],
        json!(["string", "null"])
    );
}

#[test]
fn every_sample_fits_its_schema() {
    let doc = doc();
    for (seq, kind) in event_kinds().into_iter().enumerate() {
        let event = Event {
            seq: seq as u64 + 1,
            session_id: SessionId::from("ses_1"),
            at: 1_764_245_000_000,
            kind,
        };
        assert_fits(&doc, "Event", &event);
    }
    assert_fits(&doc, "Message", &message());
    let mut session = SessionInfo {
        id: SessionId::from("ses_1"),
        usage: usage(10, Some(0.1)),
        ..SessionInfo::default()
    };
    assert_fits(&doc, "SessionInfo", &session);
    session.parent_id = Some(SessionId::from("ses_0"));
    session.agent = Some("tester".into());
    assert_fits(&doc, "SessionInfo", &session);
    for op in [
        Op::UserTurn { text: "go".into() },
        Op::PermissionReply {
            request_id: "perm_1".into(),
            decision: PermissionDecision::AllowOnce,
        },
        Op::Cancel,
        Op::Compact,
        Op::Shutdown,
    ] {
        assert_fits(&doc, "Op", &op);
    }
    assert_fits(&doc, "RunAgents", &run_agents());
    assert_fits(&doc, "RunAgents", &RunAgents::default());
    assert_fits(&doc, "ContextState", &ContextState::default());
    assert_fits(
        &doc,
        "ContextState",
        &ContextState {
            pruned_through: 3,
            summary: Some(ContextSummary {
                through_seq: 3,
                text: "## Goal".into(),
            }),
        },
    );
    let bare = ModelListing {
        model: "ollama/llama".into(),
        provider: "ollama".into(),
        source: "ollama".into(),
        ..ModelListing::default()
    };
    assert_fits(&doc, "ModelListing", &bare);
    let full = ModelListing {
        context: Some(272_000),
        max_output: Some(4096),
        input_price: Some(1.25),
        output_price: Some(10.0),
        cache_read_price: Some(0.125),
        cache_write_price: Some(0.0),
        tools: Some(true),
        images: Some(false),
        reasoning: Some(true),
        role: Some("default".into()),
        ..bare
    };
    assert_fits(&doc, "ModelListing", &full);
}

#[test]
fn the_validator_rejects_json_that_breaks_a_schema() {
    let doc = doc();
    let check = |name: &str, value: Value| validate(&doc, schema(&doc, name), &value, name);
    let event =
        json!({"seq": 1, "session_id": "ses_1", "at": 2, "type": "text_delta", "delta": "x"});
    assert_eq!(check("Event", event.clone()), Ok(()));
    let mut unknown_kind = event.clone();
    unknown_kind["type"] = json!("text_deltas");
    assert!(check("Event", unknown_kind).is_err());
    let mut no_seq = event.clone();
    no_seq.as_object_mut().unwrap().remove("seq");
    assert!(check("Event", no_seq).is_err());
    let mut null_session = event;
    null_session["session_id"] = Value::Null;
    assert!(check("Event", null_session).is_err());
    let mut node = serde_json::to_value(run_agents()).unwrap();
    node["agents"][0]
        .as_object_mut()
        .unwrap()
        .remove("succeeded");
    assert!(check("RunAgents", node).is_err());
    let rule = json!({"tool": "bash", "action": "allow", "extra": 1});
    assert!(check("PermissionRule", rule).is_err());
}
