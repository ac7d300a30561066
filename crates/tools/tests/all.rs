//! Integration tests: every tool driven through the `Tool` trait, with a real `ToolContext`
//! over a temporary workspace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bash;
mod edit;
mod glob;
mod grep;
mod ls;
mod paths;
mod read;
mod support;
mod write;
