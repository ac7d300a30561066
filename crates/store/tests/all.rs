#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests of `code-mesh-store`, one binary; the modules live in `all/`.

#[path = "all/append.rs"]
mod append;
#[path = "all/concurrency.rs"]
mod concurrency;
#[path = "all/crash.rs"]
mod crash;
#[path = "all/lifecycle.rs"]
mod lifecycle;
#[path = "all/memory.rs"]
mod memory;
#[path = "all/migrate.rs"]
mod migrate;
#[path = "all/open.rs"]
mod open;
#[path = "all/replay.rs"]
mod replay;
#[path = "all/roundtrip.rs"]
mod roundtrip;
#[path = "all/sessions.rs"]
mod sessions;
#[path = "all/support.rs"]
mod support;
