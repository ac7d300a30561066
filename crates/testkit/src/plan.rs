//! Turns a [`Script`] into what the server plays: ids assigned, arguments encoded, raw
//! streams read. Inconsistent turns are rejected here, before any client connects, so a
//! bad script fails loudly at start instead of as a puzzling client error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use bytes::Bytes;

use crate::script::{Expect, RawSse, Script, Turn, Usage};
use crate::wire::{compact_json, split_events};

/// A turn ready to be served.
#[derive(Debug)]
pub(crate) struct PlannedTurn {
    /// 1-based position in the script; what violations call "turn N".
    pub number: usize,
    pub model: Option<String>,
    /// The agent it answers (see [`Turn::for_agent`]).
    pub agent: Option<String>,
    pub delay: Duration,
    pub chunk_delay: Duration,
    pub cut_after: Option<usize>,
    pub headers: HeaderMap,
    pub expect: Expect,
    pub reply: Reply,
}

/// What a turn sends back.
#[derive(Debug)]
pub(crate) enum Reply {
    Stream(StreamReply),
    /// Recorded events, with the tool call ids found in them (so pairing still applies).
    Raw {
        events: Vec<Bytes>,
        call_ids: Vec<String>,
    },
    /// A plain HTTP response; without a body an OpenAI error body is made per request.
    Body {
        status: StatusCode,
        body: Option<Bytes>,
        content_type: Option<String>,
    },
}

/// The content of a streamed chat completion.
#[derive(Debug)]
pub(crate) struct StreamReply {
    pub text: Option<String>,
    pub reasoning: Option<String>,
    pub calls: Vec<PlannedCall>,
    pub finish_reason: String,
    pub usage: Option<Usage>,
}

/// A tool call with its final id and arguments string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A script problem: the 0-based turn index and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PlanError {
    pub index: usize,
    pub message: String,
}

/// Plans every turn of the script.
pub(crate) fn plan(script: &Script) -> Result<Vec<PlannedTurn>, PlanError> {
    let ids = assign_call_ids(&script.turns)?;
    script
        .turns
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(index, (turn, ids))| {
            plan_turn(index + 1, turn, ids).map_err(|message| PlanError { index, message })
        })
        .collect()
}

/// Gives every tool call an id: its own, or the first free `call_<n>`, so ids are unique
/// across the script and pairing can tell calls apart.
fn assign_call_ids(turns: &[Turn]) -> Result<Vec<Vec<String>>, PlanError> {
    let mut explicit: HashMap<&str, usize> = HashMap::new();
    for (index, turn) in turns.iter().enumerate() {
        for id in turn.tool_calls.iter().filter_map(|call| call.id.as_deref()) {
            if let Some(first) = explicit.insert(id, index) {
                return Err(PlanError {
                    index,
                    message: format!(
                        "tool call id `{id}` is already used by turn {}; ids must be unique",
                        first + 1
                    ),
                });
            }
        }
    }
    let mut next = 1usize;
    let mut fresh_id = || loop {
        let candidate = format!("call_{next}");
        next += 1;
        if !explicit.contains_key(candidate.as_str()) {
            return candidate;
        }
    };
    Ok(turns
        .iter()
        .map(|turn| {
            turn.tool_calls
                .iter()
                .map(|call| call.id.clone().unwrap_or_else(&mut fresh_id))
                .collect()
        })
        .collect())
}

fn plan_turn(number: usize, turn: &Turn, ids: Vec<String>) -> Result<PlannedTurn, String> {
    validate(turn)?;
    Ok(PlannedTurn {
        number,
        model: turn.model.clone(),
        agent: turn.agent.clone(),
        delay: Duration::from_millis(turn.delay_ms),
        chunk_delay: Duration::from_millis(turn.chunk_delay_ms),
        cut_after: turn.cut_after,
        headers: headers(&turn.headers)?,
        expect: turn.expect.clone(),
        reply: reply(turn, ids)?,
    })
}

/// Rejects combinations whose meaning would be a guess.
fn validate(turn: &Turn) -> Result<(), String> {
    let streamed = turn.text.is_some()
        || turn.reasoning.is_some()
        || !turn.tool_calls.is_empty()
        || turn.finish_reason.is_some()
        || turn.usage.is_some();
    let plain = turn.status.is_some() || turn.body.is_some();
    let raw = turn.raw_sse.is_some();
    if plain && streamed {
        return Err(
            "`status`/`body` answer without a stream: remove `text`, `reasoning`, \
                    `tool_calls`, `finish_reason` and `usage`"
                .into(),
        );
    }
    if raw && (streamed || plain) {
        return Err(
            "`raw_sse` is sent verbatim: it excludes `text`, `reasoning`, \
                    `tool_calls`, `finish_reason`, `usage`, `status` and `body`"
                .into(),
        );
    }
    if plain && (turn.cut_after.is_some() || turn.chunk_delay_ms > 0) {
        return Err(
            "`cut_after` and `chunk_delay_ms` apply to streams, not to `status`/`body`".into(),
        );
    }
    if turn.content_type.is_some() && turn.body.is_none() {
        return Err("`content_type` needs a `body`".into());
    }
    for (position, call) in turn.tool_calls.iter().enumerate() {
        if call.name.is_empty() {
            return Err(format!("tool call {}: `name` is empty", position + 1));
        }
        if call.arguments.is_some() && call.raw_arguments.is_some() {
            return Err(format!(
                "tool call {}: give `arguments` or `raw_arguments`, not both",
                position + 1
            ));
        }
    }
    Ok(())
}

fn headers(wanted: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in wanted {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`headers`: `{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("`headers`: the value of `{name}` is not a valid header value"))?;
        map.insert(header, value);
    }
    Ok(map)
}

fn reply(turn: &Turn, ids: Vec<String>) -> Result<Reply, String> {
    if let Some(raw) = &turn.raw_sse {
        let bytes = match raw {
            RawSse::Bytes(bytes) => Bytes::from(bytes.clone()),
            RawSse::File(path) => std::fs::read(path).map(Bytes::from).map_err(|error| {
                format!("cannot read `raw_sse` file `{}`: {error}", path.display())
            })?,
        };
        let call_ids = raw_call_ids(&bytes);
        return Ok(Reply::Raw {
            events: split_events(&bytes),
            call_ids,
        });
    }
    if turn.status.is_some() || turn.body.is_some() {
        let code = turn.status.unwrap_or(200);
        let status = StatusCode::from_u16(code)
            .ok()
            .filter(|status| (200..=599).contains(&status.as_u16()))
            .ok_or_else(|| format!("`status` {code} is not an HTTP status from 200 to 599"))?;
        return Ok(Reply::Body {
            status,
            body: turn.body.clone().map(Bytes::from),
            content_type: turn.content_type.clone(),
        });
    }
    let calls: Vec<PlannedCall> = turn
        .tool_calls
        .iter()
        .zip(ids)
        .map(|(call, id)| PlannedCall {
            id,
            name: call.name.clone(),
            arguments: match (&call.raw_arguments, &call.arguments) {
                (Some(raw), _) => raw.clone(),
                (None, Some(value)) => compact_json(value),
                (None, None) => "{}".to_owned(),
            },
        })
        .collect();
    let finish_reason = turn.finish_reason.clone().unwrap_or_else(|| {
        if calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
        .to_owned()
    });
    Ok(Reply::Stream(StreamReply {
        text: turn.text.clone(),
        reasoning: turn.reasoning.clone(),
        calls,
        finish_reason,
        usage: turn.usage,
    }))
}

/// Tool call ids announced in a recorded OpenAI chat stream, in order, without repeats.
fn raw_call_ids(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(chunk) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
            continue;
        };
        let choices = chunk["choices"].as_array().into_iter().flatten();
        let calls = choices.flat_map(|choice| {
            choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
        });
        for id in calls.filter_map(|call| call["id"].as_str()) {
            if seen.insert(id.to_owned()) {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ToolCall;
    use serde_json::json;

    fn stream(turn: &PlannedTurn) -> &StreamReply {
        match &turn.reply {
            Reply::Stream(stream) => stream,
            other => panic!("not a stream: {other:?}"),
        }
    }

    #[test]
    fn generated_ids_skip_explicit_ones_and_are_unique() {
        let script = Script::new()
            .with_turn(Turn::call("read", json!({})).with_tool_call(ToolCall::new("a", json!({}))))
            .with_turn(Turn::new().with_tool_call(ToolCall::new("b", json!({})).with_id("call_2")))
            .with_turn(Turn::call("c", json!({})));
        let turns = plan(&script).unwrap();
        let ids: Vec<Vec<&str>> = turns
            .iter()
            .map(|turn| stream(turn).calls.iter().map(|c| c.id.as_str()).collect())
            .collect();
        assert_eq!(
            ids,
            vec![vec!["call_1", "call_3"], vec!["call_2"], vec!["call_4"]]
        );
    }

    #[test]
    fn duplicate_explicit_ids_are_rejected() {
        let call = ToolCall::new("a", json!({})).with_id("x");
        let script = Script::new()
            .with_turn(Turn::new().with_tool_call(call.clone()))
            .with_turn(Turn::new().with_tool_call(call));
        let error = plan(&script).unwrap_err();
        assert_eq!(error.index, 1);
        assert!(
            error.message.contains("already used by turn 1"),
            "{error:?}"
        );
    }

    #[test]
    fn arguments_are_compact_json_and_raw_arguments_verbatim() {
        let script = Script::new().with_turn(
            Turn::call("bash", json!({"command": "ls -l", "timeout": 5}))
                .with_tool_call(ToolCall::raw("read", "{\"path\": ")),
        );
        let turns = plan(&script).unwrap();
        let calls = &stream(&turns[0]).calls;
        assert_eq!(calls[0].arguments, r#"{"command":"ls -l","timeout":5}"#);
        assert_eq!(calls[1].arguments, "{\"path\": ");
        assert_eq!(stream(&turns[0]).finish_reason, "tool_calls");
    }

    #[test]
    fn finish_reason_defaults_to_stop_without_calls() {
        let turns = plan(&Script::new().with_turn(Turn::reply("hi"))).unwrap();
        assert_eq!(stream(&turns[0]).finish_reason, "stop");
    }

    #[test]
    fn conflicting_fields_are_rejected() {
        for turn in [
            Turn::error(500).with_text("x"),
            Turn::raw_sse(b"data: [DONE]\n\n".to_vec()).with_text("x"),
            Turn::error(500).with_cut_after(1),
            Turn::new().with_content_type("text/html"),
            Turn::error(42),
            Turn::new().with_tool_call(ToolCall {
                name: "x".into(),
                arguments: Some(json!({})),
                raw_arguments: Some("{}".into()),
                id: None,
            }),
            Turn::reply("x").with_header("bad header", "v"),
        ] {
            let result = plan(&Script::new().with_turn(turn.clone()));
            assert!(result.is_err(), "accepted {turn:?}");
        }
    }

    #[test]
    fn raw_streams_expose_their_call_ids() {
        let raw = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_X\"}]}}]}\n\n\
                   data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{}}]}}]}\n\n\
                   data: [DONE]\n\n";
        assert_eq!(raw_call_ids(raw.as_bytes()), vec!["call_X".to_owned()]);
    }
}
