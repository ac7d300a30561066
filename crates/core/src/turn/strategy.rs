//! A user turn carried out by an orchestration strategy (pipeline, mesh, swarm) instead of
//! the session's own model loop: the run's session records the user's words, the strategy's
//! agents do the work in child sessions, and the strategy's answer closes the turn. The turn
//! hooks (snapshots for `undo`, the external-change check) run around it as around any turn,
//! so one snapshot covers every agent's work.

use async_trait::async_trait;
use code_mesh_protocol::{ErrorCode, EventKind, Part, Role, TurnEndReason, TurnId, Usage};
use tokio_util::sync::CancellationToken;

use super::TurnRunner;
use crate::TurnHookContext;

/// Carries out a run's user turns in place of the model loop.
#[async_trait]
pub(crate) trait StrategyTurn: Send + Sync {
    /// Works on `prompt` until done, failed or `cancel`led.
    async fn run(&self, prompt: String, cancel: CancellationToken) -> StrategyOutcome;
}

/// How a strategy's turn ended.
#[derive(Clone, Debug)]
pub(crate) struct StrategyOutcome {
    pub(crate) reason: TurnEndReason,
    /// The run's final answer, recorded as the turn's assistant message (none when empty).
    pub(crate) answer: String,
    /// Why it failed, reported as an `error` event before `turn_finished`.
    pub(crate) error: Option<StrategyError>,
}

#[derive(Clone, Debug)]
pub(crate) struct StrategyError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl StrategyOutcome {
    pub(crate) fn completed(answer: String) -> Self {
        StrategyOutcome {
            reason: TurnEndReason::Completed,
            answer,
            error: None,
        }
    }

    pub(crate) fn cancelled(answer: String) -> Self {
        StrategyOutcome {
            reason: TurnEndReason::Cancelled,
            answer,
            error: None,
        }
    }

    pub(crate) fn failed(answer: String, message: String, hint: Option<String>) -> Self {
        StrategyOutcome {
            reason: TurnEndReason::Failed,
            answer,
            error: Some(StrategyError {
                code: ErrorCode::Internal,
                message,
                hint,
            }),
        }
    }
}

impl TurnRunner {
    /// Runs one user turn through `strategy` and reports `turn_finished`.
    pub(crate) async fn run_strategy_turn(
        &mut self,
        text: String,
        cancel: CancellationToken,
        strategy: &dyn StrategyTurn,
    ) {
        self.turns += 1;
        let turn = TurnId(self.turns);
        let hook_context = TurnHookContext {
            session_id: self.sink.session_id().clone(),
            turn,
            workspace: self.config.workspace.clone(),
            cwd: self.config.cwd.clone(),
            files: self.files.clone(),
        };
        let usage_before = self.sink.usage_total();
        let mut outcome = StrategyOutcome::failed(
            String::new(),
            "the run's session could not record the turn".into(),
            None,
        );
        if self
            .sink
            .emit(EventKind::TurnStarted { turn })
            .await
            .is_ok()
        {
            let mut notes = Vec::new();
            for hook in &self.config.hooks {
                notes.extend(hook.before_turn(&hook_context).await);
            }
            for note in &notes {
                self.warn(note.clone()).await;
            }
            let mut prompt = text.clone();
            if !notes.is_empty() {
                prompt.push_str(&format!(
                    "\n\n[Code Mesh notices]\n- {}",
                    notes.join("\n- ")
                ));
            }
            let recorded = self
                .add_message(Role::User, vec![Part::Text { text }], None, false, None)
                .await;
            outcome = match recorded {
                Ok(()) => strategy.run(prompt, cancel).await,
                Err(err) => StrategyOutcome::failed(String::new(), err.to_string(), err.hint()),
            };
            if !outcome.answer.trim().is_empty() {
                let interrupted = outcome.reason != TurnEndReason::Completed;
                let answer = std::mem::take(&mut outcome.answer);
                // Front ends show the answer as they show a model's text: streamed (here in one
                // piece) before the turn records it as its assistant message.
                let _ = self
                    .sink
                    .emit(EventKind::TextDelta {
                        delta: answer.clone(),
                    })
                    .await;
                if let Err(err) = self
                    .add_message(
                        Role::Assistant,
                        vec![Part::Text { text: answer }],
                        None,
                        interrupted,
                        None,
                    )
                    .await
                {
                    outcome.reason = TurnEndReason::Failed;
                    outcome.error = Some(StrategyError {
                        code: ErrorCode::Store,
                        message: err.to_string(),
                        hint: err.hint(),
                    });
                }
            }
        }
        for hook in &self.config.hooks {
            hook.after_turn(&hook_context).await;
        }
        if let Some(error) = outcome.error {
            let _ = self
                .sink
                .emit(EventKind::Error {
                    code: error.code,
                    message: error.message,
                    hint: error.hint,
                })
                .await;
        }
        let usage = usage_since(self.sink.usage_total(), usage_before);
        let _ = self
            .sink
            .emit(EventKind::TurnFinished {
                turn,
                reason: outcome.reason,
                steps: 0,
                usage,
            })
            .await;
    }
}

/// What the session used since `before` (agents add their usage to the run's total as they go).
fn usage_since(now: Usage, before: Usage) -> Usage {
    Usage {
        input_tokens: now.input_tokens.saturating_sub(before.input_tokens),
        output_tokens: now.output_tokens.saturating_sub(before.output_tokens),
        cache_read_tokens: now
            .cache_read_tokens
            .saturating_sub(before.cache_read_tokens),
        cache_write_tokens: now
            .cache_write_tokens
            .saturating_sub(before.cache_write_tokens),
        reasoning_tokens: now.reasoning_tokens.saturating_sub(before.reasoning_tokens),
        cost_usd: match (now.cost_usd, before.cost_usd) {
            (Some(now), Some(before)) => Some(now - before),
            (now, _) => now,
        },
    }
}
