//! What the status line shows: model, tokens, context used and cost, from the session's events.

use code_mesh_protocol::{EventKind, Usage};

use super::summary::{cost, tokens};

/// The status line's data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// `provider/model` of the latest request.
    pub model: String,
    /// Tokens and cost over the whole session.
    pub session_total: Usage,
    /// Prompt tokens of the latest request: how much of the window the conversation fills.
    pub context_used: Option<u64>,
    /// The model's context window, when the front end knows it (events do not carry it).
    pub context_window: Option<u64>,
}

impl Status {
    /// Takes in one event; returns whether the line changed.
    pub fn apply(&mut self, event: &EventKind) -> bool {
        match event {
            EventKind::SessionStarted { model, .. } | EventKind::RequestStarted { model, .. } => {
                self.set_model(model)
            }
            EventKind::ProviderFailover { to, .. } => self.set_model(to),
            EventKind::UsageUpdated {
                usage,
                session_total,
            } => {
                self.session_total = *session_total;
                // Orchestrated runs report agents' usage with no prompt of their own.
                if usage.input_tokens > 0 {
                    self.context_used = Some(usage.input_tokens);
                }
                true
            }
            _ => false,
        }
    }

    fn set_model(&mut self, model: &str) -> bool {
        if self.model == model {
            return false;
        }
        self.model = model.to_owned();
        true
    }

    /// The line's parts, most important first, so a narrow terminal drops the tail.
    pub fn parts(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if !self.model.is_empty() {
            parts.push(self.model.clone());
        }
        let total = &self.session_total;
        parts.push(format!(
            "↑{} ↓{}",
            tokens(total.input_tokens),
            tokens(total.output_tokens)
        ));
        match (self.context_used, self.context_window) {
            (Some(used), Some(window)) if window > 0 => parts.push(format!(
                "ctx {}/{} ({}%)",
                tokens(used),
                tokens(window),
                used.saturating_mul(100) / window
            )),
            (Some(used), _) => parts.push(format!("ctx {}", tokens(used))),
            _ => {}
        }
        if let Some(usd) = total.cost_usd {
            parts.push(cost(usd));
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_fills_tokens_context_and_cost() {
        let mut status = Status {
            context_window: Some(200_000),
            ..Status::default()
        };
        status.apply(&EventKind::RequestStarted {
            turn: code_mesh_protocol::TurnId(1),
            step: 1,
            model: "openai/gpt-5-mini".into(),
        });
        status.apply(&EventKind::UsageUpdated {
            usage: Usage {
                input_tokens: 50_000,
                output_tokens: 300,
                ..Usage::default()
            },
            session_total: Usage {
                input_tokens: 80_000,
                output_tokens: 1_200,
                cost_usd: Some(0.0421),
                ..Usage::default()
            },
        });
        assert_eq!(
            status.parts(),
            [
                "openai/gpt-5-mini",
                "↑80.0k ↓1.2k",
                "ctx 50.0k/200.0k (25%)",
                "$0.04"
            ]
        );
    }
}
