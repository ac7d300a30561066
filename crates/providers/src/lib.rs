//! Model providers for Code Mesh: the wires that turn the engine's
//! [`ModelRequest`](code_mesh_core::ModelRequest) into HTTP requests and the answers back into
//! [`StreamEvent`](code_mesh_core::StreamEvent)s.
//!
//! One wire is implemented: OpenAI Chat Completions ([`OpenAiChatProvider`]), streamed over
//! server-sent events with tool calls and usage. It also serves every OpenAI-compatible
//! server (LM Studio, vLLM, llama.cpp, Ollama's `/v1`, OpenRouter) and the built-in
//! providers, which are reached through their vendors' OpenAI-compatible endpoints.
//!
//! - [`sse`]: a small, correct SSE decoder.
//! - [`openai_chat`]: request building, stream decoding, the [`Provider`](code_mesh_core::Provider)
//!   implementation.
//! - [`http`]: the one shared HTTP client (rustls, pooled).
//! - [`ProviderRegistry`]: the built-in providers merged with the environment and the
//!   `[providers]` config; `provider/model` resolution and the default model.
//! - Errors: every failure is a [`ProviderError`](code_mesh_core::ProviderError) with one
//!   sentence saying what happened and a hint saying what to do; API keys never reach
//!   `Debug` output or logs.
//!
//! This crate depends on `core` and `protocol` only, never on the store, tools or front ends;
//! the front end passes it an environment lookup and the parsed config as plain data.

mod error;
mod factory;
pub mod http;
mod ollama;
pub mod openai_chat;
mod registry;
mod resolve;
pub mod sse;

pub use factory::{build_provider, wire_name};
pub use ollama::ollama_first_model;
pub use openai_chat::{DEFAULT_IDLE_TIMEOUT, OpenAiChatProvider};
pub use registry::{
    BUILTIN_PROVIDERS, BuiltinProvider, ProviderSettings, builtin, env, ollama_host_url,
};
pub use resolve::{ProviderRegistry, ollama_base_url};
