//! The context window: how many tokens a request may take, and what a request takes.

use std::collections::HashMap;
use std::sync::Arc;

use code_mesh_protocol::{Message, Part, Role, ToolSpec};

use super::tokens::{Estimator, TokenCounter};

/// Tokens kept free for the answer when `max_tokens` is not set.
pub const DEFAULT_RESERVE_OUTPUT_TOKENS: u64 = 8192;
/// `[memory] max_context_size` when nothing sets it.
pub const DEFAULT_MAX_CONTEXT_SIZE: u64 = 100_000;

/// Framing a message costs besides its text (role markers, separators).
const MESSAGE_OVERHEAD: u64 = 4;
/// Framing of a tool call or result besides its text (id, name, type).
const TOOL_PART_OVERHEAD: u64 = 10;

/// How the context manager sizes requests (`[memory]` config and the model catalogue).
#[derive(Clone)]
pub struct ContextSettings {
    /// The model's input window from the catalogue; unknown for models it does not list.
    pub window_tokens: Option<u64>,
    /// `[memory] max_context_size`: the most tokens any request may take.
    pub max_context_size: u64,
    /// `[memory] auto_summarize`: summarise older history when pruning is not enough.
    pub auto_summarize: bool,
    /// Tokens kept free for the answer; `None` takes the request's `max_tokens`, else
    /// [`DEFAULT_RESERVE_OUTPUT_TOKENS`]. Never more than a quarter of the limit.
    pub reserve_output_tokens: Option<u64>,
    /// Counts tokens for this model.
    pub tokenizer: Arc<dyn TokenCounter>,
}

impl Default for ContextSettings {
    fn default() -> Self {
        ContextSettings {
            window_tokens: None,
            max_context_size: DEFAULT_MAX_CONTEXT_SIZE,
            auto_summarize: true,
            reserve_output_tokens: None,
            tokenizer: Arc::new(Estimator),
        }
    }
}

impl std::fmt::Debug for ContextSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextSettings")
            .field("window_tokens", &self.window_tokens)
            .field("max_context_size", &self.max_context_size)
            .field("auto_summarize", &self.auto_summarize)
            .field("reserve_output_tokens", &self.reserve_output_tokens)
            .field("tokenizer", &self.tokenizer.name())
            .finish()
    }
}

/// The tokens a request may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The smaller of the window and `max_context_size`.
    pub limit: u64,
    /// Kept free for the answer.
    pub reserve: u64,
}

impl Budget {
    /// The budget for `settings`, with the requests' `max_tokens`.
    pub fn new(settings: &ContextSettings, max_tokens: Option<u32>) -> Self {
        let limit = settings
            .window_tokens
            .filter(|window| *window > 0)
            .map_or(settings.max_context_size, |window| {
                window.min(settings.max_context_size)
            })
            .max(1);
        let wanted = settings
            .reserve_output_tokens
            .or(max_tokens.map(u64::from))
            .unwrap_or(DEFAULT_RESERVE_OUTPUT_TOKENS);
        Budget {
            limit,
            reserve: wanted.min(limit / 4),
        }
    }

    /// Tokens the request itself (system, tools, messages) may take.
    pub fn available(&self) -> u64 {
        self.limit - self.reserve
    }
}

/// Counts requests part by part, remembering what it counted: stored messages never change,
/// so each is counted once per form (whole or pruned).
pub(crate) struct RequestCounter {
    counter: Arc<dyn TokenCounter>,
    fixed: Option<u64>,
    messages: HashMap<(u64, Role, bool), u64>,
}

impl RequestCounter {
    pub(crate) fn new(counter: Arc<dyn TokenCounter>) -> Self {
        RequestCounter {
            counter,
            fixed: None,
            messages: HashMap::new(),
        }
    }

    pub(crate) fn count_text(&self, text: &str) -> u64 {
        self.counter.count(text)
    }

    /// The system prompt and tool specs, counted once (they do not change in a session).
    pub(crate) fn fixed(&mut self, system: &str, tools: &[ToolSpec]) -> u64 {
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        let mut total = self.counter.count(system) + MESSAGE_OVERHEAD;
        for tool in tools {
            total += self.counter.count(&tool.name)
                + self.counter.count(&tool.description)
                + self.counter.count(&tool.parameters.to_string())
                + TOOL_PART_OVERHEAD;
        }
        self.fixed = Some(total);
        total
    }

    /// One message as sent. `pruned` says the message has been through pruning, so its
    /// counted form is remembered apart from the whole one.
    pub(crate) fn message(&mut self, message: &Message, pruned: bool) -> u64 {
        let key = (message.seq, message.role, pruned);
        if let Some(count) = self.messages.get(&key) {
            return *count;
        }
        let count = count_message(self.counter.as_ref(), message);
        self.messages.insert(key, count);
        count
    }
}

/// Tokens of one message, uncached.
pub(crate) fn count_message(counter: &dyn TokenCounter, message: &Message) -> u64 {
    let mut total = MESSAGE_OVERHEAD;
    for part in &message.parts {
        total += match part {
            Part::Text { text } => counter.count(text),
            Part::Reasoning { text, .. } => counter.count(text),
            Part::ToolCall(call) => {
                counter.count(&call.name) + counter.count(&call.arguments) + TOOL_PART_OVERHEAD
            }
            Part::ToolResult(result) => counter.count(&result.output) + TOOL_PART_OVERHEAD,
        };
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(window: Option<u64>, max: u64, reserve: Option<u64>) -> ContextSettings {
        ContextSettings {
            window_tokens: window,
            max_context_size: max,
            reserve_output_tokens: reserve,
            ..ContextSettings::default()
        }
    }

    #[test]
    fn the_limit_is_the_smaller_of_window_and_max_context_size() {
        let budget = Budget::new(&settings(Some(128_000), 100_000, None), None);
        assert_eq!(budget.limit, 100_000);
        assert_eq!(budget.reserve, DEFAULT_RESERVE_OUTPUT_TOKENS);
        assert_eq!(
            Budget::new(&settings(Some(8_000), 100_000, None), Some(1000)).limit,
            8_000
        );
        assert_eq!(
            Budget::new(&settings(None, 50_000, None), None).limit,
            50_000
        );
    }

    #[test]
    fn the_reserve_follows_max_tokens_and_never_takes_more_than_a_quarter() {
        let budget = Budget::new(&settings(None, 100_000, None), Some(2000));
        assert_eq!(budget.reserve, 2000);
        assert_eq!(budget.available(), 98_000);
        let tiny = Budget::new(&settings(Some(2000), 100_000, Some(4096)), None);
        assert_eq!(tiny.reserve, 500);
        assert_eq!(tiny.available(), 1500);
    }
}
