//! `code-mesh-testkit`: a scripted model server for Code Mesh tests and offline use.
//!
//! It speaks the OpenAI Chat Completions streaming wire byte for byte as the real API
//! does (see `tests/fixtures/`), plays a [`Script`] of turns (text, reasoning, tool
//! calls, HTTP errors, delays, cut streams, recorded streams), routes turns by model,
//! and checks the client: requests must be well formed, meet each turn's `expect`, and
//! bring back every tool call the server issued together with its result.
//!
//! The same turns are also served at `POST /v1/responses` in the OpenAI Responses wire
//! (`wires/responses.rs`), whose requests are normalized so the same checks apply.
//! Likewise Gemini's `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse`
//! (`wires/gemini.rs`; calls carry a checked `thoughtSignature`) and Ollama's `POST /api/chat`
//! (`wires/ollama.rs`, with `GET /api/tags` and `POST /api/show`): wires without call ids,
//! whose calls and results are paired by position.
//!
//! It depends on no other Code Mesh crate, so any crate can test against it and the
//! server never changes because the code under test did.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use code_mesh_testkit::{Script, ScriptedServer, Turn};
//! use serde_json::json;
//!
//! let script = Script::new()
//!     .with_turn(Turn::call("bash", json!({"command": "echo hi"})))
//!     .with_turn(Turn::reply("Done.").expect_tool_result_contains("hi"));
//! let server = ScriptedServer::start(script).await?;
//! // ... run the client against server.base_url() ...
//! server.verify()?;
//! # Ok(())
//! # }
//! ```

mod check;
mod error;
mod load;
mod plan;
mod playback;
mod request;
mod respond;
mod script;
mod server;
mod state;
mod wire;
/// The wires spoken besides OpenAI Chat Completions (`wire`), one file each.
mod wires {
    pub(crate) mod anthropic;
    pub(crate) mod gemini;
    pub(crate) mod ollama;
    pub(crate) mod responses;
}

pub use error::{ScriptError, ServerError, VerifyError};
pub use request::RecordedRequest;
pub use script::{Expect, Pairing, RawSse, Script, ToolCall, Turn, Usage};
pub use server::{BackgroundServer, ScriptedServer};
