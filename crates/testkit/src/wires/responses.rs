//! The OpenAI Responses streaming wire (`POST /v1/responses`), byte for byte as the real API
//! writes it (compare the providers crate's `tests/fixtures/openai-responses/*.sse`): typed
//! events whose `event:` line repeats the payload's `type`, numbered by `sequence_number`,
//! deltas padded with an `obfuscation` string.
//!
//! Requests are read into the same normalized, Chat-shaped request the checks use:
//! `instructions` becomes a system message, `message` items messages, `function_call`
//! items assistant tool calls and `function_call_output` items `tool` messages, so tool
//! pairing and `expect` work unchanged. Items with no Chat equivalent (reasoning) are kept
//! verbatim, where `expect.messages_contain` sees them.
//!
//! Reasoning items carry a deterministic `encrypted_content` that differs between
//! `response.output_item.added` and `.done`, as the real API's does; a request bringing a
//! testkit reasoning item back with anything but the `.done` value is refused, as the real
//! API refuses content it cannot decrypt.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::check::ChatRequest;
use crate::plan::{PlannedCall, StreamReply};
use crate::script::Usage;
use crate::wire::{compact_json, split_chars, split_words};

/// Characters per function-arguments delta: JSON tokens get cut in the middle.
const ARGUMENT_PIECE_CHARS: usize = 6;

/// Prefix of the reasoning item ids this server issues.
const REASONING_ID_PREFIX: &str = "rs_testkit";

/// Reads a Responses request into the normalized request; anything a streaming client must
/// not send is an error naming the problem.
pub(crate) fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    if !body.is_object() {
        return Err("the request body is not a JSON object".into());
    }
    let model = body["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .ok_or("the request has no `model` string")?;
    if body["stream"] != Value::Bool(true) {
        return Err("the request does not set `stream: true`".into());
    }
    let mut messages = Vec::new();
    match &body["instructions"] {
        Value::String(instructions) => {
            messages.push(json!({"role": "system", "content": instructions}));
        }
        Value::Null => {}
        _ => return Err("`instructions` is not a string".into()),
    }
    match &body["input"] {
        Value::String(text) => messages.push(json!({"role": "user", "content": text})),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let message = normalize_item(item)
                    .map_err(|problem| format!("`input[{index}]`: {problem}"))?;
                messages.push(message);
            }
        }
        _ => return Err("the request has no `input` array".into()),
    }
    let tools = match &body["tools"] {
        Value::Array(tools) => tools.iter().map(normalize_tool).collect(),
        Value::Null => Vec::new(),
        _ => return Err("`tools` is not an array".into()),
    };
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        tools,
        // `response.completed` always carries usage.
        include_usage: true,
    })
}

/// One input item as a Chat message.
fn normalize_item(item: &Value) -> Result<Value, String> {
    let kind = item["type"].as_str();
    let string = |field: &str| -> Result<&str, String> {
        item[field]
            .as_str()
            .ok_or_else(|| format!("a `{}` item has no `{field}` string", kind.unwrap_or("?")))
    };
    match kind {
        Some("message") | None if item.get("role").is_some() => {
            let role = string("role")?;
            let content = match &item["content"] {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|part| part["text"].as_str())
                    .collect(),
                _ => return Err("a message has no `content`".into()),
            };
            Ok(json!({"role": role, "content": content}))
        }
        Some("function_call") => Ok(json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": string("call_id")?,
                "type": "function",
                "function": {"name": string("name")?, "arguments": string("arguments")?},
            }],
        })),
        Some("function_call_output") => {
            let output = match &item["output"] {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|part| part["text"].as_str())
                    .collect(),
                _ => return Err("a `function_call_output` item has no `output`".into()),
            };
            Ok(json!({"role": "tool", "tool_call_id": string("call_id")?, "content": output}))
        }
        Some("reasoning") => {
            let id = string("id")?;
            if let Some(rest) = id.strip_prefix(REASONING_ID_PREFIX) {
                let expected = encrypted_content(rest, Stage::Done);
                if item["encrypted_content"].as_str() != Some(expected.as_str()) {
                    return Err(format!(
                        "reasoning item `{id}` does not carry the `encrypted_content` of its \
                         `response.output_item.done` (the `.added` one is provisional)"
                    ));
                }
            }
            Ok(item.clone())
        }
        Some(_) => Ok(item.clone()),
        None => Err("an item has neither `type` nor `role`".into()),
    }
}

/// A Responses function tool in the Chat shape the checks read (`function.name`).
fn normalize_tool(tool: &Value) -> Value {
    if tool["type"] != "function" || tool.get("function").is_some() {
        return tool.clone();
    }
    let mut function = serde_json::Map::new();
    for field in ["name", "description", "parameters", "strict"] {
        if let Some(value) = tool.get(field) {
            function.insert(field.to_owned(), value.clone());
        }
    }
    json!({"type": "function", "function": function})
}

/// Which copy of a reasoning item's encrypted content.
#[derive(Clone, Copy)]
enum Stage {
    Added,
    Done,
}

/// Deterministic, opaque-looking encrypted content for the reasoning item
/// `rs_testkit<suffix>`: base64url-ish text that differs between the stages.
fn encrypted_content(suffix: &str, stage: Stage) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (tag, length) = match stage {
        Stage::Added => ("a", 96),
        Stage::Done => ("d", 384),
    };
    // FNV-1a over the suffix and stage, then a xorshift stream: no dependency needed.
    let mut state = 0xcbf2_9ce4_8422_2325_u64;
    for byte in suffix.bytes().chain(tag.bytes()) {
        state = (state ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut text = String::from("gAAAAABtestkit");
    for _ in 0..length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push(char::from(ALPHABET[(state % 64) as usize]));
    }
    text.push('=');
    text
}

/// Padding the API adds to deltas so their sizes leak less: deterministic here.
fn obfuscation(sequence_number: u64, delta: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let length = 16usize.saturating_sub(delta.chars().count()).max(3);
    let mut state = sequence_number.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 62) as usize])
        })
        .collect()
}

/// What the events of one reply share.
pub(crate) struct ResponseHeader<'a> {
    /// The script turn, which makes ids unique.
    pub turn: usize,
    pub created_at: u64,
    pub model: &'a str,
}

/// The events of one streamed reply.
pub(crate) struct ReplyEvents {
    pub events: Vec<Bytes>,
    /// Index of `response.completed`: once it is about to be sent, the reply's calls are
    /// issued.
    pub finish_index: usize,
}

#[derive(Serialize)]
struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    background: bool,
    error: Option<()>,
    incomplete_details: Option<IncompleteDetails>,
    instructions: Option<&'a str>,
    max_output_tokens: Option<()>,
    max_tool_calls: Option<()>,
    model: &'a str,
    output: &'a [OutputItem<'a>],
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    prompt_cache_key: Option<()>,
    reasoning: ReasoningConfig,
    safety_identifier: Option<()>,
    service_tier: &'static str,
    store: bool,
    temperature: f64,
    text: TextConfig,
    tool_choice: &'static str,
    tools: &'a [Value],
    top_logprobs: u32,
    top_p: f64,
    truncation: &'static str,
    usage: Option<UsageObject>,
    user: Option<()>,
    metadata: Empty,
}

#[derive(Serialize)]
struct IncompleteDetails {
    reason: &'static str,
}

#[derive(Serialize)]
struct ReasoningConfig {
    effort: &'static str,
    summary: Option<&'static str>,
}

#[derive(Serialize)]
struct TextConfig {
    format: TextFormat,
    verbosity: &'static str,
}

#[derive(Serialize)]
struct TextFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct UsageObject {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Serialize)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OutputDetails {
    reasoning_tokens: u64,
}

/// An output item, fields in the API's order.
#[derive(Serialize, Clone)]
#[serde(untagged)]
enum OutputItem<'a> {
    Reasoning {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        encrypted_content: String,
        summary: Vec<SummaryPart<'a>>,
    },
    Message {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        status: &'static str,
        content: Vec<OutputText<'a>>,
        role: &'static str,
    },
    FunctionCall {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        status: &'static str,
        arguments: &'a str,
        call_id: &'a str,
        name: &'a str,
    },
}

#[derive(Serialize, Clone)]
struct SummaryPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize, Clone)]
struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    annotations: [(); 0],
    logprobs: [(); 0],
    text: &'a str,
}

#[derive(Serialize)]
struct ResponseEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    response: ResponseObject<'a>,
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    output_index: usize,
    item: OutputItem<'a>,
}

#[derive(Serialize)]
struct SummaryPartEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    part: SummaryPart<'a>,
}

#[derive(Serialize)]
struct SummaryDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    delta: &'a str,
    obfuscation: String,
}

#[derive(Serialize)]
struct SummaryDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    text: &'a str,
}

#[derive(Serialize)]
struct ContentPartEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: OutputText<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    delta: &'a str,
    logprobs: [(); 0],
    obfuscation: String,
}

#[derive(Serialize)]
struct TextDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    text: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct ArgumentsDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
    obfuscation: String,
}

#[derive(Serialize)]
struct ArgumentsDone<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    arguments: &'a str,
}

/// Collects `event: <type>\ndata: <json>\n\n` frames, numbering them.
#[derive(Default)]
struct Events {
    frames: Vec<Bytes>,
}

impl Events {
    fn next_sequence_number(&self) -> u64 {
        self.frames.len() as u64
    }

    fn push<T: Serialize>(&mut self, kind: &str, payload: &T) {
        let mut frame = format!("event: {kind}\ndata: ").into_bytes();
        frame.extend_from_slice(compact_json(payload).as_bytes());
        frame.extend_from_slice(b"\n\n");
        self.frames.push(Bytes::from(frame));
    }
}

/// Ids of one reply's items.
struct ItemIds {
    response: String,
    reasoning: String,
    message: String,
    calls: Vec<String>,
}

/// Every event of a streamed reply, `response.created` to `response.completed` (or
/// `response.incomplete` when the scripted finish reason is `length` or `content_filter`).
pub(crate) fn reply_events(
    header: &ResponseHeader<'_>,
    request: &ChatRequest,
    reply: &StreamReply,
    usage: Usage,
) -> ReplyEvents {
    let turn = header.turn;
    let ids = ItemIds {
        response: format!("resp_testkit{turn}"),
        reasoning: format!("{REASONING_ID_PREFIX}{turn}"),
        message: format!("msg_testkit{turn}"),
        calls: (0..reply.calls.len())
            .map(|index| format!("fc_testkit{turn}_{index}"))
            .collect(),
    };
    let instructions = request
        .messages
        .first()
        .filter(|message| message["role"] == "system")
        .and_then(|message| message["content"].as_str());
    let tools: Vec<Value> = request.tools.iter().map(echo_tool).collect();
    let incomplete = match reply.finish_reason.as_str() {
        "length" => Some("max_output_tokens"),
        "content_filter" => Some("content_filter"),
        _ => None,
    };
    let common = Common {
        id: &ids.response,
        created_at: header.created_at,
        model: header.model,
        instructions,
        tools: &tools,
        incomplete,
    };
    let mut events = Events::default();
    for kind in ["response.created", "response.in_progress"] {
        let payload = ResponseEvent {
            kind,
            sequence_number: events.next_sequence_number(),
            response: common.object("in_progress", &[], None),
        };
        events.push(kind, &payload);
    }
    let mut output: Vec<OutputItem<'_>> = Vec::new();
    if let Some(reasoning) = &reply.reasoning {
        let suffix = &ids.reasoning[REASONING_ID_PREFIX.len()..];
        reasoning_item(&mut events, &ids.reasoning, suffix, reasoning, output.len());
        output.push(OutputItem::Reasoning {
            id: &ids.reasoning,
            kind: "reasoning",
            encrypted_content: encrypted_content(suffix, Stage::Done),
            summary: summary(reasoning),
        });
    }
    if reply.text.is_some() || reply.calls.is_empty() {
        let text = reply.text.as_deref().unwrap_or_default();
        message_item(&mut events, &ids.message, text, output.len());
        output.push(OutputItem::Message {
            id: &ids.message,
            kind: "message",
            status: "completed",
            content: vec![output_text(text)],
            role: "assistant",
        });
    }
    for (call, id) in reply.calls.iter().zip(&ids.calls) {
        function_call_item(&mut events, id, call, output.len());
        output.push(function_call(id, call, "completed"));
    }

    let finish_index = events.frames.len();
    let (kind, status) = match incomplete {
        Some(_) => ("response.incomplete", "incomplete"),
        None => ("response.completed", "completed"),
    };
    let reasoning_tokens = reply
        .reasoning
        .as_deref()
        .map_or(0, |text| (text.len() as u64).div_ceil(4))
        .min(usage.completion_tokens);
    let usage = UsageObject {
        input_tokens: usage.prompt_tokens,
        input_tokens_details: InputDetails { cached_tokens: 0 },
        output_tokens: usage.completion_tokens,
        output_tokens_details: OutputDetails { reasoning_tokens },
        total_tokens: usage.prompt_tokens + usage.completion_tokens,
    };
    let payload = ResponseEvent {
        kind,
        sequence_number: events.next_sequence_number(),
        response: common.object(status, &output, Some(usage)),
    };
    events.push(kind, &payload);
    ReplyEvents {
        events: events.frames,
        finish_index,
    }
}

/// What every copy of the response object in one reply shares.
struct Common<'a> {
    id: &'a str,
    created_at: u64,
    model: &'a str,
    instructions: Option<&'a str>,
    tools: &'a [Value],
    incomplete: Option<&'static str>,
}

impl<'a> Common<'a> {
    fn object(
        &self,
        status: &'static str,
        output: &'a [OutputItem<'a>],
        usage: Option<UsageObject>,
    ) -> ResponseObject<'a> {
        ResponseObject {
            id: self.id,
            object: "response",
            created_at: self.created_at,
            status,
            background: false,
            error: None,
            incomplete_details: self
                .incomplete
                .filter(|_| status == "incomplete")
                .map(|reason| IncompleteDetails { reason }),
            instructions: self.instructions,
            max_output_tokens: None,
            max_tool_calls: None,
            model: self.model,
            output,
            parallel_tool_calls: true,
            previous_response_id: None,
            prompt_cache_key: None,
            reasoning: ReasoningConfig {
                effort: "medium",
                summary: None,
            },
            safety_identifier: None,
            service_tier: "default",
            store: false,
            temperature: 1.0,
            text: TextConfig {
                format: TextFormat { kind: "text" },
                verbosity: "medium",
            },
            tool_choice: "auto",
            tools: self.tools,
            top_logprobs: 0,
            top_p: 1.0,
            truncation: "disabled",
            usage,
            user: None,
            metadata: Empty {},
        }
    }
}

/// A request tool as the API echoes it: `type`, `description`, `name`, `parameters`,
/// `strict`.
fn echo_tool(tool: &Value) -> Value {
    let function = &tool["function"];
    if function.is_null() {
        return tool.clone();
    }
    #[derive(Serialize)]
    struct EchoedTool<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        description: &'a Value,
        name: &'a Value,
        parameters: &'a Value,
        strict: bool,
    }
    let echoed = EchoedTool {
        kind: "function",
        description: &function["description"],
        name: &function["name"],
        parameters: &function["parameters"],
        strict: function["strict"].as_bool().unwrap_or(true),
    };
    serde_json::to_value(&echoed).unwrap_or(Value::Null)
}

fn summary(text: &str) -> Vec<SummaryPart<'_>> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![SummaryPart {
            kind: "summary_text",
            text,
        }]
    }
}

fn output_text(text: &str) -> OutputText<'_> {
    OutputText {
        kind: "output_text",
        annotations: [],
        logprobs: [],
        text,
    }
}

fn function_call<'a>(id: &'a str, call: &'a PlannedCall, status: &'static str) -> OutputItem<'a> {
    OutputItem::FunctionCall {
        id,
        kind: "function_call",
        status,
        arguments: if status == "completed" {
            &call.arguments
        } else {
            ""
        },
        call_id: &call.id,
        name: &call.name,
    }
}

/// A reasoning item: added with provisional encrypted content, its summary streamed (when
/// there is one), then done with the final encrypted content.
fn reasoning_item(events: &mut Events, id: &str, suffix: &str, text: &str, output_index: usize) {
    let added = ItemEvent {
        kind: "response.output_item.added",
        sequence_number: events.next_sequence_number(),
        output_index,
        item: OutputItem::Reasoning {
            id,
            kind: "reasoning",
            encrypted_content: encrypted_content(suffix, Stage::Added),
            summary: Vec::new(),
        },
    };
    events.push(added.kind, &added);
    if !text.is_empty() {
        let part = |kind, sequence_number, text| SummaryPartEvent {
            kind,
            sequence_number,
            item_id: id,
            output_index,
            summary_index: 0,
            part: SummaryPart {
                kind: "summary_text",
                text,
            },
        };
        let added = part(
            "response.reasoning_summary_part.added",
            events.next_sequence_number(),
            "",
        );
        events.push(added.kind, &added);
        for piece in split_words(text) {
            let sequence_number = events.next_sequence_number();
            let delta = SummaryDelta {
                kind: "response.reasoning_summary_text.delta",
                sequence_number,
                item_id: id,
                output_index,
                summary_index: 0,
                delta: piece,
                obfuscation: obfuscation(sequence_number, piece),
            };
            events.push(delta.kind, &delta);
        }
        let done = SummaryDone {
            kind: "response.reasoning_summary_text.done",
            sequence_number: events.next_sequence_number(),
            item_id: id,
            output_index,
            summary_index: 0,
            text,
        };
        events.push(done.kind, &done);
        let done = part(
            "response.reasoning_summary_part.done",
            events.next_sequence_number(),
            text,
        );
        events.push(done.kind, &done);
    }
    let done = ItemEvent {
        kind: "response.output_item.done",
        sequence_number: events.next_sequence_number(),
        output_index,
        item: OutputItem::Reasoning {
            id,
            kind: "reasoning",
            encrypted_content: encrypted_content(suffix, Stage::Done),
            summary: summary(text),
        },
    };
    events.push(done.kind, &done);
}

/// An assistant message item with one `output_text` part streamed word by word.
fn message_item(events: &mut Events, id: &str, text: &str, output_index: usize) {
    let item = |status, content| OutputItem::Message {
        id,
        kind: "message",
        status,
        content,
        role: "assistant",
    };
    let added = ItemEvent {
        kind: "response.output_item.added",
        sequence_number: events.next_sequence_number(),
        output_index,
        item: item("in_progress", Vec::new()),
    };
    events.push(added.kind, &added);
    let part = |kind, sequence_number, text| ContentPartEvent {
        kind,
        sequence_number,
        item_id: id,
        output_index,
        content_index: 0,
        part: output_text(text),
    };
    let added = part(
        "response.content_part.added",
        events.next_sequence_number(),
        "",
    );
    events.push(added.kind, &added);
    for piece in split_words(text) {
        let sequence_number = events.next_sequence_number();
        let delta = TextDelta {
            kind: "response.output_text.delta",
            sequence_number,
            item_id: id,
            output_index,
            content_index: 0,
            delta: piece,
            logprobs: [],
            obfuscation: obfuscation(sequence_number, piece),
        };
        events.push(delta.kind, &delta);
    }
    let done = TextDone {
        kind: "response.output_text.done",
        sequence_number: events.next_sequence_number(),
        item_id: id,
        output_index,
        content_index: 0,
        text,
        logprobs: [],
    };
    events.push(done.kind, &done);
    let done = part(
        "response.content_part.done",
        events.next_sequence_number(),
        text,
    );
    events.push(done.kind, &done);
    let done = ItemEvent {
        kind: "response.output_item.done",
        sequence_number: events.next_sequence_number(),
        output_index,
        item: item("completed", vec![output_text(text)]),
    };
    events.push(done.kind, &done);
}

/// A function call item: added with empty arguments, arguments streamed in pieces, the
/// whole arguments confirmed, then done.
fn function_call_item(events: &mut Events, id: &str, call: &PlannedCall, output_index: usize) {
    let added = ItemEvent {
        kind: "response.output_item.added",
        sequence_number: events.next_sequence_number(),
        output_index,
        item: function_call(id, call, "in_progress"),
    };
    events.push(added.kind, &added);
    for piece in split_chars(&call.arguments, ARGUMENT_PIECE_CHARS) {
        let sequence_number = events.next_sequence_number();
        let delta = ArgumentsDelta {
            kind: "response.function_call_arguments.delta",
            sequence_number,
            item_id: id,
            output_index,
            delta: piece,
            obfuscation: obfuscation(sequence_number, piece),
        };
        events.push(delta.kind, &delta);
    }
    let done = ArgumentsDone {
        kind: "response.function_call_arguments.done",
        sequence_number: events.next_sequence_number(),
        item_id: id,
        output_index,
        arguments: &call.arguments,
    };
    events.push(done.kind, &done);
    let done = ItemEvent {
        kind: "response.output_item.done",
        sequence_number: events.next_sequence_number(),
        output_index,
        item: function_call(id, call, "completed"),
    };
    events.push(done.kind, &done);
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    const RECORDED: &str =
        include_str!("../../tests/fixtures/openai-responses-reasoning_function_call_seq.sse");

    fn request(body: Value) -> ChatRequest {
        parse_request(&body).unwrap()
    }

    fn planned_call() -> PlannedCall {
        PlannedCall {
            id: "call_1".into(),
            name: "final_result".into(),
            arguments: r#"{"result":6666}"#.into(),
        }
    }

    fn reply(text: Option<&str>, reasoning: Option<&str>, calls: Vec<PlannedCall>) -> StreamReply {
        StreamReply {
            text: text.map(Into::into),
            reasoning: reasoning.map(Into::into),
            finish_reason: if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .into(),
            calls,
            usage: None,
        }
    }

    fn render(reply: &StreamReply) -> Vec<String> {
        let header = ResponseHeader {
            turn: 1,
            created_at: 1758034836,
            model: "gpt-5",
        };
        let request = request(json!({
            "model": "gpt-5", "stream": true, "instructions": "Be brief.",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
            "tools": [{"type": "function", "name": "final_result", "description": "The answer",
                       "parameters": {"type": "object"}, "strict": false}],
        }));
        let usage = Usage {
            prompt_tokens: 53,
            completion_tokens: 469,
        };
        reply_events(&header, &request, reply, usage)
            .events
            .iter()
            .map(|frame| String::from_utf8(frame.to_vec()).unwrap())
            .collect()
    }

    /// `(event name, payload)` of each frame, checking the frame's layout on the way.
    fn parse_frames(frames: &[String]) -> Vec<(String, Value)> {
        frames
            .iter()
            .map(|frame| {
                let rest = frame.strip_prefix("event: ").unwrap();
                let (name, rest) = rest.split_once("\ndata: ").unwrap();
                let data = rest.strip_suffix("\n\n").unwrap();
                assert!(!data.contains('\n'), "one data line: {frame}");
                let payload: Value = serde_json::from_str(data).unwrap();
                assert_eq!(payload["type"], name, "event name equals the type");
                (name.to_owned(), payload)
            })
            .collect()
    }

    /// The object keys of `value` in order, recursively, leaving tool schemas out.
    fn shape(value: &Value, path: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = format!("{path}.{key}");
                    out.push(child_path.clone());
                    if key != "parameters" {
                        shape(child, &child_path, out);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    shape(first, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }

    fn shapes_by_event(frames: &[(String, Value)]) -> Vec<(String, Vec<String>)> {
        let mut seen: Vec<(String, Vec<String>)> = Vec::new();
        for (name, payload) in frames {
            let item_type = payload["item"]["type"].as_str().unwrap_or_default();
            let key = format!("{name} {item_type}");
            if seen.iter().any(|(known, _)| *known == key) {
                continue;
            }
            let mut keys = Vec::new();
            shape(payload, "", &mut keys);
            seen.push((key, keys));
        }
        seen
    }

    fn recorded_frames() -> Vec<(String, Value)> {
        let frames: Vec<String> = RECORDED
            .split_inclusive("\n\n")
            .map(str::to_owned)
            .collect();
        parse_frames(&frames)
    }

    #[test]
    fn reasoning_and_call_events_have_the_recorded_shape() {
        let ours = parse_frames(&render(&reply(None, Some(""), vec![planned_call()])));
        let recorded = recorded_frames();
        let names = |frames: &[(String, Value)]| -> Vec<String> {
            let mut names: Vec<String> = frames.iter().map(|(name, _)| name.clone()).collect();
            names.dedup();
            names
        };
        assert_eq!(names(&ours), names(&recorded));
        assert_eq!(shapes_by_event(&ours), shapes_by_event(&recorded));
        let numbers: Vec<u64> = ours
            .iter()
            .map(|(_, payload)| payload["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..ours.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn encrypted_content_differs_between_added_and_done_and_is_deterministic() {
        let frames = parse_frames(&render(&reply(Some("Hi"), Some("Think first."), vec![])));
        let contents: Vec<&str> = frames
            .iter()
            .filter(|(_, payload)| payload["item"]["type"] == "reasoning")
            .map(|(_, payload)| payload["item"]["encrypted_content"].as_str().unwrap())
            .collect();
        assert_eq!(contents.len(), 2);
        assert_ne!(contents[0], contents[1]);
        assert_eq!(contents[1], encrypted_content("1", Stage::Done));
        let completed = &frames.last().unwrap().1["response"];
        assert_eq!(
            completed["output"][0]["encrypted_content"], contents[1],
            "the completed response repeats the `.done` value"
        );
        assert_eq!(
            parse_frames(&render(&reply(Some("Hi"), Some("Think first."), vec![])))
                .iter()
                .map(|(_, payload)| payload.clone())
                .collect::<Vec<_>>(),
            frames
                .iter()
                .map(|(_, payload)| payload.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn text_reply_matches_the_api_layout() {
        let frames = render(&reply(Some("Hi there"), None, vec![]));
        let names: Vec<&str> = frames
            .iter()
            .map(|frame| &frame["event: ".len()..frame.find('\n').unwrap()])
            .collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let obfuscation = obfuscation(4, "Hi");
        assert_eq!(
            frames[4],
            format!(
                "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_testkit1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":[],\"obfuscation\":\"{obfuscation}\"}}\n\n"
            )
        );
        assert_eq!(obfuscation.len(), 14);
        let completed: Value =
            serde_json::from_str(frames[9].split_once("data: ").unwrap().1.trim()).unwrap();
        assert_eq!(
            completed["response"]["output"],
            json!([{"id": "msg_testkit1", "type": "message", "status": "completed",
                    "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                 "text": "Hi there"}],
                    "role": "assistant"}])
        );
        assert_eq!(completed["response"]["instructions"], "Be brief.");
        assert_eq!(
            completed["response"]["usage"],
            json!({"input_tokens": 53, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 469, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 522})
        );
    }

    #[test]
    fn length_finish_is_an_incomplete_response() {
        let mut cut = reply(Some("Once upon"), None, vec![]);
        cut.finish_reason = "length".into();
        let frames = parse_frames(&render(&cut));
        let (name, last) = frames.last().unwrap();
        assert_eq!(name, "response.incomplete");
        assert_eq!(last["response"]["status"], "incomplete");
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
    }

    #[test]
    fn requests_normalize_into_chat_messages() {
        let done = encrypted_content("1", Stage::Done);
        let reasoning = json!({"type": "reasoning", "id": "rs_testkit1", "summary": [],
                               "encrypted_content": done});
        let parsed = request(json!({
            "model": "gpt-5", "stream": true, "store": false, "instructions": "Be brief.",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list"}]},
                reasoning,
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Ok."}]},
                {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.rs"},
            ],
            "tools": [{"type": "function", "name": "ls", "description": "List",
                       "parameters": {"type": "object"}, "strict": false}],
        }));
        assert_eq!(parsed.model, "gpt-5");
        assert_eq!(
            parsed.messages,
            vec![
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": "list"}),
                reasoning,
                json!({"role": "assistant", "content": "Ok."}),
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
                ]}),
                json!({"role": "tool", "tool_call_id": "call_1", "content": "a.rs"}),
            ]
        );
        assert_eq!(
            parsed.tools,
            vec![json!({"type": "function", "function": {
                "name": "ls", "description": "List", "parameters": {"type": "object"}, "strict": false
            }})]
        );
    }

    #[test]
    fn malformed_requests_and_provisional_reasoning_are_named() {
        let added = encrypted_content("1", Stage::Added);
        let cases = [
            (json!([]), "not a JSON object"),
            (json!({"input": [], "stream": true}), "`model`"),
            (json!({"model": "m", "input": []}), "`stream: true`"),
            (json!({"model": "m", "stream": true}), "`input`"),
            (
                json!({"model": "m", "stream": true, "input": [{"type": "function_call", "name": "ls", "arguments": "{}"}]}),
                "`input[0]`: a `function_call` item has no `call_id` string",
            ),
            (
                json!({"model": "m", "stream": true, "input": [
                    {"type": "reasoning", "id": "rs_testkit1", "summary": [], "encrypted_content": added}
                ]}),
                "does not carry the `encrypted_content` of its `response.output_item.done`",
            ),
        ];
        for (body, fragment) in cases {
            let error = parse_request(&body).unwrap_err();
            assert!(error.contains(fragment), "{error}");
        }
    }
}
