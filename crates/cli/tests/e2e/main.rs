//! End-to-end tests: the real `code-mesh` binary against the testkit scripted model server on
//! 127.0.0.1, in temporary projects with their own `CODE_MESH_HOME`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adversarial;
mod agents;
mod anthropic;
mod auth;
mod bad_input;
mod cancel;
mod cli_output;
mod context;
mod crash;
mod file_tools;
mod gemini_ollama;
mod harness;
mod hierarchical;
mod memory;
mod mesh;
mod permissions;
mod pipeline;
mod project_tools;
mod reliability;
mod responses;
mod serve;
mod serve_browser;
mod sessions;
mod swarm;
mod task;
mod tui;
mod undo;
