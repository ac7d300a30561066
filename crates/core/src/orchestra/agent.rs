//! One agent working on one task: a child session of the run's session, one user turn
//! ([`run_agent`]) or several ([`LiveAgent`]).

use std::sync::Arc;

use code_mesh_protocol::{
    AgentId, AgentInfo, AgentOutcome, ErrorCode, EventKind, Op, PermissionDecision, Role, TaskInfo,
    TurnEndReason, Usage,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::{AgentExtras, AgentQuestion, Orchestra, describe_duration};
use crate::{Session, SessionDriver, SessionHandle, SessionStart};

/// How an agent's attempt at a task ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AgentEnd {
    Done,
    /// `provider` says the model's provider failed (worth one retry).
    Failed {
        reason: String,
        provider: bool,
    },
    TimedOut,
    Cancelled,
}

/// An attempt's end with what the agent said and used.
#[derive(Clone, Debug)]
pub(crate) struct AgentRun {
    pub(crate) end: AgentEnd,
    pub(crate) outcome: AgentOutcome,
}

impl AgentRun {
    fn failed(reason: String) -> Self {
        AgentRun {
            end: AgentEnd::Failed {
                reason: reason.clone(),
                provider: false,
            },
            outcome: AgentOutcome {
                summary: reason,
                usage: Usage::default(),
            },
        }
    }
}

fn is_provider_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProviderAuth
            | ErrorCode::ProviderError
            | ErrorCode::ProviderRateLimited
            | ErrorCode::ProviderStreamCut
            | ErrorCode::ProviderUnreachable
    )
}

/// Runs `task` as a new agent in a child session and reports `agent_spawned`,
/// `task_started` and `agent_terminated` in the run's session. Stops at `cancel` or after the
/// run's timeout; the child's turn is cancelled (its tools stop) and its session kept.
pub(crate) async fn run_agent(
    orchestra: Arc<Orchestra>,
    task: TaskInfo,
    prompt: String,
    cancel: CancellationToken,
    extras: AgentExtras,
) -> AgentRun {
    let (mut agent, driver) = match LiveAgent::open(&orchestra, task, extras).await {
        Ok(opened) => opened,
        Err(failed) => return failed,
    };
    let work = async {
        let end = agent.turn(&orchestra, prompt, &cancel).await;
        agent.shut_down();
        end
    };
    let (end, ()) = tokio::join!(work, driver.run());
    agent.terminate(&orchestra, end).await
}

/// An agent whose child session stays open across several user turns (a mesh member wakes
/// for a new turn when messages arrive). [`run_agent`] is one turn of one.
pub(crate) struct LiveAgent {
    pub(crate) id: AgentId,
    pub(crate) task: TaskInfo,
    handle: SessionHandle,
    max_turns: u32,
    /// Everything its turns used so far.
    pub(crate) usage: Usage,
    /// Its latest non-empty assistant text.
    pub(crate) answer: String,
    /// Its bus in the run session's registry while it lives, so the run's watchers can
    /// follow its conversation live.
    _watched: Option<crate::session::ChildBusRegistration>,
}

impl LiveAgent {
    /// Opens the agent's child session and reports `agent_spawned` and `task_started`. The
    /// returned driver must be polled beside every [`LiveAgent::turn`] until
    /// [`LiveAgent::shut_down`]. An agent that cannot start is a failed [`AgentRun`].
    pub(crate) async fn open(
        orchestra: &Arc<Orchestra>,
        task: TaskInfo,
        extras: AgentExtras,
    ) -> Result<(LiveAgent, SessionDriver), AgentRun> {
        let Some(profile) = orchestra.profiles.get(&task.agent).cloned() else {
            return Err(AgentRun::failed(format!(
                "there is no `{}` agent profile",
                task.agent
            )));
        };
        let (config, tools) = orchestra
            .agent_config(&profile, &extras)
            .await
            .map_err(|err| AgentRun::failed(err.to_string()))?;
        let model = config.model.clone();
        let agent = extras
            .id
            .clone()
            .unwrap_or_else(|| orchestra.next_agent_id());
        let max_turns = config.max_turns;
        let start = SessionStart::Child {
            parent: orchestra.run_session(),
            agent: profile.name.clone(),
        };
        let (handle, driver) = Session::open(orchestra.store.clone(), tools, config, start)
            .await
            .map_err(|err| AgentRun::failed(format!("the agent's session did not open: {err}")))?;
        // Before `agent_spawned`, so whoever sees the agent appear can already watch it.
        let watched = orchestra.watch_child(handle.bus());
        orchestra
            .emit(EventKind::AgentSpawned {
                agent: AgentInfo {
                    id: agent.clone(),
                    profile: profile.name.clone(),
                    parent: orchestra.top.clone(),
                    session_id: handle.id().clone(),
                    model,
                },
            })
            .await;
        orchestra
            .emit(EventKind::TaskStarted {
                task: task.id.clone(),
                agent: agent.clone(),
            })
            .await;
        Ok((
            LiveAgent {
                id: agent,
                task,
                handle,
                max_turns,
                usage: Usage::default(),
                answer: String::new(),
                _watched: watched,
            },
            driver,
        ))
    }

    /// One user turn with `prompt`, until it ends, `cancel` fires (the turn is cancelled and
    /// its tools stop) or the run's timeout passes. The agent's permission questions go to
    /// the run's front end (see [`Orchestra::ask_for_agent`]); those still open when the turn
    /// ends are taken back.
    pub(crate) async fn turn(
        &mut self,
        orchestra: &Orchestra,
        prompt: String,
        cancel: &CancellationToken,
    ) -> AgentEnd {
        let mut asked = AskedQuestions::default();
        let end = self
            .turn_until_end(orchestra, prompt, cancel, &mut asked)
            .await;
        for question in asked.open.into_values() {
            orchestra.withdraw_question(&self.id, &question.run_request, &question.call_id);
        }
        end
    }

    async fn turn_until_end(
        &mut self,
        orchestra: &Orchestra,
        prompt: String,
        cancel: &CancellationToken,
        asked: &mut AskedQuestions,
    ) -> AgentEnd {
        let mut last_error: Option<(ErrorCode, String)> = None;
        let mut stopped: Option<AgentEnd> = None;
        if self.handle.submit(Op::UserTurn { text: prompt }).is_err() {
            return AgentEnd::Failed {
                reason: "the agent's session stopped before its turn".into(),
                provider: false,
            };
        }
        let mut deadline = orchestra.settings.timer.sleep(orchestra.settings.timeout);
        loop {
            let event = tokio::select! {
                biased;
                event = self.handle.next_event() => event,
                Some(answer) = asked.answers.next(), if !asked.answers.is_empty() => {
                    self.pass_on(orchestra, asked, answer);
                    continue;
                }
                () = cancel.cancelled(), if stopped.is_none() => {
                    stopped = Some(AgentEnd::Cancelled);
                    let _ = self.handle.submit(Op::Cancel);
                    continue;
                }
                () = &mut deadline, if stopped.is_none() => {
                    stopped = Some(AgentEnd::TimedOut);
                    let _ = self.handle.submit(Op::Cancel);
                    continue;
                }
            };
            let Some(event) = event else {
                return AgentEnd::Failed {
                    reason: "the agent's session ended before its turn finished".into(),
                    provider: false,
                };
            };
            match event.kind {
                EventKind::UsageUpdated { usage: step, .. } => {
                    self.usage += step;
                    orchestra.add_usage(step);
                }
                EventKind::MessageAdded { message } if message.role == Role::Assistant => {
                    let text = message.text();
                    if !text.trim().is_empty() {
                        self.answer = text;
                    }
                }
                EventKind::Error { code, message, .. } => last_error = Some((code, message)),
                EventKind::PermissionDecided {
                    request_id,
                    decision,
                    source,
                    rule,
                    remembered,
                    ..
                } => {
                    // How the agent's session settled a question it put to the run closes the
                    // question there, with what an "allow always" answer now allows.
                    if let Some(question) = asked.open.remove(&request_id) {
                        orchestra.forget_question(&question.run_request);
                        orchestra.queue(super::Emission::Event(EventKind::PermissionDecided {
                            request_id: question.run_request,
                            call_id: format!("{}.{}", self.id, question.call_id),
                            decision,
                            source,
                            rule,
                            remembered,
                        }));
                    }
                }
                EventKind::PermissionRequested {
                    request_id,
                    call_id,
                    tool,
                    kind,
                    summary,
                } => {
                    let question = AgentQuestion {
                        request_id: request_id.clone(),
                        call_id: call_id.clone(),
                        tool,
                        kind,
                        summary,
                    };
                    match orchestra.ask_for_agent(&self.id, &self.task.agent, question) {
                        Some((run_request, answer)) => {
                            asked.open.insert(
                                request_id.clone(),
                                OpenQuestion {
                                    run_request: run_request.clone(),
                                    call_id,
                                },
                            );
                            asked.answers.push(Box::pin(async move {
                                Answer {
                                    agent_request: request_id,
                                    run_request,
                                    decision: answer.await.ok(),
                                }
                            }));
                        }
                        // No run session to ask through (not open yet): nobody can answer.
                        None => {
                            let _ = self.handle.submit(Op::PermissionReply {
                                request_id,
                                decision: PermissionDecision::Deny,
                            });
                        }
                    }
                }
                EventKind::TurnFinished { reason, .. } => {
                    if let Some(stopped) = stopped.take() {
                        return stopped;
                    }
                    let max_turns = self.max_turns;
                    return match reason {
                        TurnEndReason::Completed => AgentEnd::Done,
                        TurnEndReason::MaxTurns => AgentEnd::Failed {
                            reason: format!(
                                "reached its limit of {max_turns} model requests without a final answer"
                            ),
                            provider: false,
                        },
                        TurnEndReason::Cancelled => AgentEnd::Cancelled,
                        TurnEndReason::Failed => match last_error.take() {
                            Some((code, message)) => AgentEnd::Failed {
                                reason: message,
                                provider: is_provider_error(code),
                            },
                            None => AgentEnd::Failed {
                                reason: "its turn failed without an error message".into(),
                                provider: false,
                            },
                        },
                    };
                }
                _ => {}
            }
        }
    }

    /// Hands the run's answer to one of the agent's questions back to the agent's session;
    /// its `permission_decided` then closes the question in the run's session. A question whose
    /// answer will never come (the run's turn ended) is denied and closed here.
    fn pass_on(&self, orchestra: &Orchestra, asked: &mut AskedQuestions, answer: Answer) {
        if !asked.open.contains_key(&answer.agent_request) {
            // The agent's session settled it already (its turn was cancelled).
            return;
        }
        let decision = answer.decision.unwrap_or(PermissionDecision::Deny);
        let _ = self.handle.submit(Op::PermissionReply {
            request_id: answer.agent_request.clone(),
            decision,
        });
        if answer.decision.is_none()
            && let Some(question) = asked.open.remove(&answer.agent_request)
        {
            orchestra.withdraw_question(&self.id, &answer.run_request, &question.call_id);
        }
    }

    /// Asks the agent's session to stop; its driver then returns.
    pub(crate) fn shut_down(&self) {
        let _ = self.handle.submit(Op::Shutdown);
    }

    /// Reports `agent_terminated` with how the agent ended and what it said and used.
    pub(crate) async fn terminate(self, orchestra: &Orchestra, end: AgentEnd) -> AgentRun {
        let summary = match &end {
            AgentEnd::Done if self.answer.trim().is_empty() => {
                "(the agent gave no final answer)".into()
            }
            AgentEnd::Done => self.answer,
            AgentEnd::Failed { reason, .. } => reason.clone(),
            AgentEnd::TimedOut => format!(
                "timed out after {}",
                describe_duration(orchestra.settings.timeout)
            ),
            AgentEnd::Cancelled => "cancelled".into(),
        };
        let outcome = AgentOutcome {
            summary,
            usage: self.usage,
        };
        orchestra
            .emit(EventKind::AgentTerminated {
                agent: self.id,
                succeeded: end == AgentEnd::Done,
                outcome: outcome.clone(),
            })
            .await;
        AgentRun { end, outcome }
    }
}

/// The permission questions an agent's turn put to the run's front end.
#[derive(Default)]
struct AskedQuestions {
    /// Not settled yet in the agent's session, by the agent's request id.
    open: std::collections::HashMap<String, OpenQuestion>,
    answers: FuturesUnordered<BoxFuture<'static, Answer>>,
}

struct OpenQuestion {
    run_request: String,
    call_id: String,
}

/// The run's answer to one of the agent's questions; `None` when it will never come.
struct Answer {
    agent_request: String,
    run_request: String,
    decision: Option<PermissionDecision>,
}
