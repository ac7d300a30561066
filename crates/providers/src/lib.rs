//! Model providers for Code Mesh: the wires that turn the engine's
//! [`ModelRequest`](code_mesh_core::ModelRequest) into HTTP requests and the answers back into
//! [`StreamEvent`](code_mesh_core::StreamEvent)s.
//!
//! One wire is implemented: OpenAI Chat Completions ([`OpenAiChatProvider`]), streamed over
//! server-sent events with tool calls and usage. It also serves every OpenAI-compatible
//! server (LM Studio, vLLM, llama.cpp, Ollama's `/v1`, OpenRouter) and the built-in
//! providers, which are reached through their vendors' OpenAI-compatible endpoints.
//!
//! Native wires: [`GeminiProvider`] (`streamGenerateContent?alt=sse`, key in
//! `x-goog-api-key`, thought signatures carried on tool calls) and [`OllamaProvider`]
//! (`/api/chat`, NDJSON); [`ollama_models`] lists what a local Ollama has.
//!
//! - [`sse`]: a small, correct SSE decoder.
//! - [`openai_chat`]: request building, stream decoding, the [`Provider`](code_mesh_core::Provider)
//!   implementation.
//! - [`openai_responses`]: the OpenAI Responses wire (`wire = "responses"`,
//!   [`OpenAiResponsesProvider`]), stateless, with reasoning items carried across turns.
//! - [`anthropic`]: the Anthropic Messages API ([`AnthropicProvider`], the built-in
//!   `anthropic`'s wire): tool use, extended thinking with signatures sent back unchanged,
//!   prompt caching, Anthropic's error bodies and `error` events.
//! - [`http`]: the one shared HTTP client (rustls, pooled).
//! - [`ProviderRegistry`]: the built-in providers merged with the environment and the
//!   `[providers]` config; `provider/model` resolution and the default model.
//! - Reliability around any wire: [`RetryingProvider`] (backoff with jitter, `Retry-After`),
//!   [`FailoverProvider`] (the next provider when one is down), [`PricedProvider`] (costs
//!   from the [`Catalogue`]), [`CachingProvider`] (the response cache); [`reliable_provider`]
//!   stacks them.
//! - [`tokenizer_for`]: exact token counts for OpenAI models (tiktoken's o200k_base and
//!   cl100k_base through `tiktoken-rs`), the engine's calibrated estimate for other models.
//! - Errors: every failure is a [`ProviderError`](code_mesh_core::ProviderError) with one
//!   sentence saying what happened and a hint saying what to do; API keys never reach
//!   `Debug` output or logs.
//!
//! This crate depends on `core` and `protocol` only, never on the store, tools or front ends;
//! the front end passes it an environment lookup and the parsed config as plain data.

pub mod anthropic;
mod body_stream;
mod cache;
mod catalogue;
mod chain;
mod error;
mod factory;
mod failover;
pub mod gemini;
pub mod http;
mod ollama;
pub mod ollama_native;
pub mod openai_chat;
pub mod openai_responses;
mod registry;
mod resolve;
pub mod retry;
pub mod sse;
mod tokenizer;

pub use anthropic::{AnthropicProvider, AnthropicStreamDecoder};
pub use cache::{CachingProvider, cache_key};
pub use catalogue::{Catalogue, ModelInfo, PricedProvider};
pub use chain::{ChainOptions, reliable_provider};
pub use factory::{build_provider, wire_name};
pub use failover::{Candidate, FailoverProvider, fails_over};
pub use gemini::{GeminiProvider, GeminiStreamDecoder};
pub use ollama::{OllamaModel, ollama_first_model, ollama_models};
pub use ollama_native::{OllamaProvider, OllamaStreamDecoder};
pub use openai_chat::{DEFAULT_IDLE_TIMEOUT, OpenAiChatProvider};
pub use openai_responses::OpenAiResponsesProvider;
pub use registry::{
    BUILTIN_PROVIDERS, BuiltinProvider, ProviderSettings, builtin, env, ollama_host_url,
};
pub use resolve::{ProviderRegistry, ollama_base_url};
pub use retry::{RetryPolicy, RetryingProvider};
pub use tokenizer::{Encoding, Tiktoken, encoding_for_model, tokenizer_for};
