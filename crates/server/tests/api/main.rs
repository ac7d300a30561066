//! The HTTP API end to end: a real server driving real engine sessions against the scripted
//! model server, called over HTTP, Server-Sent Events and WebSocket as a client would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agents;
mod auth;
mod errors;
mod permissions;
mod sessions;
mod streams;
mod support;
mod workspace;
mod ws;
