//! The `POST /v1beta/models/{model}:streamGenerateContent` request body.
//!
//! Gemini has no tool call ids: a `functionCall` part in a `model` turn is answered by a
//! `functionResponse` part with the same name, in the same order, in the next `user` turn.
//! A call's `thoughtSignature` is sent back exactly as it came, beside the call.

use code_mesh_core::ModelRequest;
use code_mesh_protocol::{Message, Part, Role};
use serde_json::{Map, Value, json};

use crate::body_stream::{arguments_object, shortest_f64};

/// The JSON body for `request`.
pub(crate) fn body(request: &ModelRequest) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Map::new();
    if !request.system.is_empty() {
        body.insert(
            "systemInstruction".into(),
            json!({ "parts": [{ "text": request.system }] }),
        );
    }
    body.insert("contents".into(), Value::Array(contents(&request.messages)));
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let mut declaration = Map::new();
                declaration.insert("name".into(), Value::String(tool.name.clone()));
                declaration.insert(
                    "description".into(),
                    Value::String(tool.description.clone()),
                );
                if let Some(parameters) = parameters(&tool.parameters) {
                    declaration.insert("parameters".into(), parameters);
                }
                Value::Object(declaration)
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
    }
    let mut config = Map::new();
    if let Some(temperature) = request.temperature {
        config.insert("temperature".into(), json!(shortest_f64(temperature)));
    }
    if let Some(max_tokens) = request.max_tokens {
        config.insert("maxOutputTokens".into(), json!(max_tokens));
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    serde_json::to_vec(&Value::Object(body))
}

/// The conversation as Gemini `contents`: `user` and `model` turns, consecutive messages of
/// the same role merged (tool results and the user's next words share one `user` turn).
fn contents(messages: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut push = |role: &'static str, part: Value| match turns.last_mut() {
        Some((last, parts)) if *last == role => parts.push(part),
        _ => turns.push((role, vec![part])),
    };
    for message in messages {
        match message.role {
            Role::User | Role::Tool => {
                // Results first: they answer the preceding model turn.
                for result in message.tool_results() {
                    let response = if result.is_error {
                        json!({ "error": result.output })
                    } else {
                        json!({ "output": result.output })
                    };
                    push(
                        "user",
                        json!({ "functionResponse": { "name": result.name, "response": response } }),
                    );
                }
                for part in &message.parts {
                    if let Part::Text { text } = part
                        && !text.is_empty()
                    {
                        push("user", json!({ "text": text }));
                    }
                }
            }
            Role::Assistant => {
                for part in &message.parts {
                    match part {
                        Part::Text { text } if !text.is_empty() => {
                            push("model", json!({ "text": text }));
                        }
                        Part::ToolCall(call) => {
                            let mut part = Map::new();
                            part.insert(
                                "functionCall".into(),
                                json!({ "name": call.name, "args": arguments_object(&call.arguments) }),
                            );
                            if let Some(signature) = &call.signature {
                                part.insert(
                                    "thoughtSignature".into(),
                                    Value::String(signature.clone()),
                                );
                            }
                            push("model", Value::Object(part));
                        }
                        // Thought summaries are not sent back; signatures ride on the calls.
                        _ => {}
                    }
                }
            }
        }
    }
    turns
        .into_iter()
        .map(|(role, parts)| json!({ "role": role, "parts": parts }))
        .collect()
}

/// A tool's parameters in Gemini's schema dialect (an OpenAPI 3.0 subset), or `None` for a
/// tool without parameters: Gemini refuses an object schema with no properties.
pub(crate) fn parameters(schema: &Value) -> Option<Value> {
    let sanitized = sanitize_schema(schema);
    let has_properties = sanitized
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| !properties.is_empty());
    has_properties.then_some(sanitized)
}

/// Keys Gemini's `Schema` accepts; others (`additionalProperties`, `$schema`, `$defs`,
/// `examples`, ...) make it refuse the whole request.
const SCHEMA_KEYS: [&str; 18] = [
    "type",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// `format`s Gemini knows; it refuses others (`uri`, `email`, ...) on strings.
const FORMATS: [&str; 6] = ["date-time", "enum", "int32", "int64", "float", "double"];

/// Rewrites a JSON Schema into what Gemini accepts: unknown keys dropped, `type: [T, "null"]`
/// as `type: T, nullable: true`, `oneOf` as `anyOf`, `const` as a one-value `enum`, empty
/// `properties` removed and `required` limited to the properties that exist.
pub(crate) fn sanitize_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        // `true` (anything) and other non-object schemas carry no constraint Gemini can use.
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "type" => match value {
                Value::String(kind) => {
                    out.insert("type".into(), Value::String(kind.clone()));
                }
                Value::Array(kinds) => {
                    let mut names = kinds.iter().filter_map(Value::as_str);
                    if let Some(kind) = names.clone().find(|kind| *kind != "null") {
                        out.insert("type".into(), Value::String(kind.to_owned()));
                    }
                    if names.any(|kind| kind == "null") {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                }
                _ => {}
            },
            "properties" => {
                if let Value::Object(properties) = value
                    && !properties.is_empty()
                {
                    let properties = properties
                        .iter()
                        .map(|(name, schema)| (name.clone(), sanitize_schema(schema)))
                        .collect();
                    out.insert("properties".into(), Value::Object(properties));
                }
            }
            "items" => {
                let items = match value {
                    Value::Array(tuple) => tuple.first().map(sanitize_schema),
                    other => Some(sanitize_schema(other)),
                };
                if let Some(items) = items {
                    out.insert("items".into(), items);
                }
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(options) = value {
                    let options = options.iter().map(sanitize_schema).collect();
                    out.insert("anyOf".into(), Value::Array(options));
                }
            }
            "const" => {
                if let Value::String(only) = value {
                    out.insert("enum".into(), json!([only]));
                }
            }
            "enum" => {
                if let Value::Array(values) = value
                    && values.iter().all(Value::is_string)
                {
                    out.insert("enum".into(), value.clone());
                }
            }
            "format"
                if value
                    .as_str()
                    .is_some_and(|format| FORMATS.contains(&format)) =>
            {
                out.insert("format".into(), value.clone());
            }
            // Other formats (`uri`, `email`, ...) make Gemini refuse the request.
            "format" => {}
            key if SCHEMA_KEYS.contains(&key) => {
                out.insert(key.to_owned(), value.clone());
            }
            _ => {}
        }
    }
    let property_names: Vec<String> = out
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(Value::Array(required)) = out.get_mut("required") {
        required.retain(|name| {
            name.as_str()
                .is_some_and(|n| property_names.iter().any(|p| p == n))
        });
    }
    if out
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        out.remove("required");
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::{ToolCall, ToolResult, ToolSpec};
    use pretty_assertions::assert_eq;

    use super::*;

    fn message(role: Role, parts: Vec<Part>) -> Message {
        Message {
            seq: 1,
            role,
            parts,
            model: None,
            usage: None,
            interrupted: false,
            created_at: 0,
        }
    }

    fn text(text: &str) -> Part {
        Part::Text { text: text.into() }
    }

    #[test]
    fn conversation_maps_to_contents_with_signatures_and_responses() {
        let request = ModelRequest {
            model: "gemini-2.5-flash".into(),
            system: "You are terse.".into(),
            messages: vec![
                message(Role::User, vec![text("List files")]),
                message(
                    Role::Assistant,
                    vec![
                        Part::Reasoning {
                            text: "thinking".into(),
                            signature: None,
                            id: None,
                            redacted: false,
                        },
                        text("Looking."),
                        Part::ToolCall(ToolCall {
                            call_id: "call_cm1_0".into(),
                            name: "ls".into(),
                            arguments: r#"{"path": "."}"#.into(),
                            signature: Some("EpwICpkIAXLI2nxl+/=".into()),
                        }),
                        Part::ToolCall(ToolCall::new("call_cm1_1", "read", "{not json")),
                    ],
                ),
                message(
                    Role::Tool,
                    vec![
                        Part::ToolResult(ToolResult {
                            call_id: "call_cm1_0".into(),
                            name: "ls".into(),
                            output: "a.rs\nb.rs".into(),
                            is_error: false,
                        }),
                        Part::ToolResult(ToolResult {
                            call_id: "call_cm1_1".into(),
                            name: "read".into(),
                            output: "arguments are not JSON".into(),
                            is_error: true,
                        }),
                    ],
                ),
                message(Role::User, vec![text("And then?")]),
                message(Role::Assistant, vec![text("Two files.")]),
            ],
            tools: vec![ToolSpec {
                name: "ls".into(),
                description: "List a directory".into(),
                parameters: json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {"path": {"type": ["string", "null"], "format": "uri"}},
                    "required": ["path", "ghost"],
                    "additionalProperties": false,
                }),
            }],
            temperature: Some(0.7),
            max_tokens: Some(1000),
        };
        let body: Value = serde_json::from_slice(&body(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "systemInstruction": {"parts": [{"text": "You are terse."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "List files"}]},
                    {"role": "model", "parts": [
                        {"text": "Looking."},
                        {"functionCall": {"name": "ls", "args": {"path": "."}},
                         "thoughtSignature": "EpwICpkIAXLI2nxl+/="},
                        {"functionCall": {"name": "read", "args": {"raw_arguments": "{not json"}}},
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "ls", "response": {"output": "a.rs\nb.rs"}}},
                        {"functionResponse": {"name": "read", "response": {"error": "arguments are not JSON"}}},
                        {"text": "And then?"},
                    ]},
                    {"role": "model", "parts": [{"text": "Two files."}]},
                ],
                "tools": [{"functionDeclarations": [{
                    "name": "ls",
                    "description": "List a directory",
                    "parameters": {
                        "type": "object",
                        "properties": {"path": {"type": "string", "nullable": true}},
                        "required": ["path"],
                    },
                }]}],
                "generationConfig": {"temperature": 0.7, "maxOutputTokens": 1000},
            })
        );
    }

    #[test]
    fn a_tool_without_parameters_sends_none() {
        assert_eq!(
            parameters(&json!({"type": "object", "properties": {}})),
            None
        );
        assert_eq!(parameters(&json!({"type": "object"})), None);
    }

    #[test]
    fn nested_schemas_are_cleaned() {
        let schema = json!({
            "type": "object",
            "properties": {
                "edits": {"type": "array", "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"kind": {"const": "replace"}, "n": {"type": "integer", "examples": [1]}},
                    "required": ["kind"],
                }},
                "mode": {"oneOf": [{"type": "string"}, {"type": "null"}]},
                "opts": {"type": "object", "properties": {}, "required": []},
            },
        });
        assert_eq!(
            sanitize_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "edits": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"kind": {"enum": ["replace"]}, "n": {"type": "integer"}},
                        "required": ["kind"],
                    }},
                    "mode": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "opts": {"type": "object"},
                },
            })
        );
    }

    #[test]
    fn minimal_request_has_only_contents() {
        let request = ModelRequest {
            model: "gemini-2.5-flash".into(),
            system: String::new(),
            messages: vec![message(Role::User, vec![text("hi")])],
            tools: vec![],
            temperature: None,
            max_tokens: None,
        };
        let body: Value = serde_json::from_slice(&body(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        );
    }
}
