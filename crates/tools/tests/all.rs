//! Integration tests: every tool driven through the `Tool` trait, with a real `ToolContext`
//! over a temporary workspace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apply_patch;
mod bash;
mod edit;
mod encodings;
mod git;
mod glob;
mod grep;
mod ls;
mod memory;
mod multiedit;
mod paths;
mod project;
mod read;
mod sandbox;
mod shell;
mod snapshot;
mod stale;
mod support;
mod swarm;
mod todo;
mod web_fetch;
mod write;
