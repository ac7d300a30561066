#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests: the providers against scripted servers on 127.0.0.1.

#[path = "all/anthropic.rs"]
mod anthropic;
#[path = "all/chat.rs"]
mod chat;
#[path = "all/faults.rs"]
mod faults;
#[path = "all/gemini.rs"]
mod gemini;
#[path = "all/ollama.rs"]
mod ollama;
#[path = "all/ollama_chat.rs"]
mod ollama_chat;
#[path = "all/reliability.rs"]
mod reliability;
#[path = "all/responses.rs"]
mod responses;
#[path = "all/server.rs"]
mod server;
