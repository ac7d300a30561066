//! Helpers shared by the integration tests.

use std::path::PathBuf;

use bytes::Bytes;
use code_mesh_testkit::ScriptedServer;
use serde_json::{Value, json};

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).unwrap()
}

pub fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

pub fn system(text: &str) -> Value {
    json!({"role": "system", "content": text})
}

pub fn assistant_call(id: &str, name: &str) -> Value {
    json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}}
    ]})
}

pub fn tool_result(id: &str, content: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": content})
}

/// A streaming chat request.
pub fn chat(model: &str, messages: Vec<Value>) -> Value {
    json!({"model": model, "messages": messages, "stream": true})
}

pub fn with_usage(mut body: Value) -> Value {
    body["stream_options"] = json!({"include_usage": true});
    body
}

/// A response as the client saw it: each body frame as it arrived, and how it ended.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub frames: Vec<Bytes>,
    pub error: Option<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.frames.concat()).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }

    /// SSE events, each with its `\n\n`.
    pub fn events(&self) -> Vec<String> {
        split_events(&self.text())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text()).unwrap()
    }

    pub fn error_message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap().to_owned()
    }

    /// The assistant text carried by the content deltas.
    pub fn content(&self) -> String {
        deltas(&self.events())
            .iter()
            .filter_map(|delta| delta["content"].as_str().map(str::to_owned))
            .collect()
    }
}

pub fn split_events(text: &str) -> Vec<String> {
    text.split_inclusive("\n\n").map(str::to_owned).collect()
}

/// The `delta` of every chunk event.
pub fn deltas(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| chunk["choices"][0].get("delta").cloned())
        .collect()
}

pub async fn post(server: &ScriptedServer, body: &Value) -> Reply {
    let url = format!("{}/chat/completions", server.base_url());
    post_text(&url, body.to_string()).await
}

pub async fn post_text(url: &str, body: String) -> Reply {
    let mut response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut frames = Vec::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break None,
            Err(error) => break Some(format!("{error:?}")),
        }
    };
    Reply {
        status,
        headers,
        frames,
        error,
    }
}
