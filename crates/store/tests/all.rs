#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests of `code-mesh-store`, one binary; the modules live in `all/`.

#[path = "all/append.rs"]
mod append;
#[path = "all/crash.rs"]
mod crash;
#[path = "all/open.rs"]
mod open;
#[path = "all/roundtrip.rs"]
mod roundtrip;
#[path = "all/sessions.rs"]
mod sessions;
#[path = "all/support.rs"]
mod support;
