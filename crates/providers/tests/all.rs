#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests: the providers against scripted servers on 127.0.0.1.

#[path = "all/chat.rs"]
mod chat;
#[path = "all/ollama.rs"]
mod ollama;
#[path = "all/server.rs"]
mod server;
