//! The pipeline strategy: stages (agent profiles, by default Architect, Coder, Tester,
//! Reviewer) work one after another on the user's task, each given the previous stage's
//! output. Every stage after the first has the `send_back` tool: once it has finished, the
//! pipeline runs again from the earlier stage it named, with its reason, a bounded number of
//! times (`[agents] max_loops`). The last stage's output is the run's answer.
//!
//! Each stage is a task in the run's graph depending on the stage before it, so a failed
//! stage fails the stages after it with the reason, as in every strategy.

mod send_back;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use code_mesh_protocol::{EventKind, TaskId, TaskInfo, TaskState};
use tokio_util::sync::CancellationToken;

use super::agent::{AgentEnd, AgentRun, run_agent};
use super::graph::NewTask;
use super::scheduler::fail;
use super::{
    AgentExtras, Orchestra, OrchestraDriver, OrchestraError, OrchestraSettings, describe_duration,
    open_strategy_run,
};
use crate::turn::{StrategyOutcome, StrategyTurn};
use crate::{SessionConfig, SessionHandle, SessionStart, Store, ToolRegistry};
use send_back::{Loops, SendBack, SendBackTool};

pub use send_back::SEND_BACK_TOOL_NAME;

/// The pipeline's shape (`[agents] pipeline` and `[agents] max_loops`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineSettings {
    /// The stages' agent profiles, in order.
    pub stages: Vec<String>,
    /// Most times per user turn the work may be sent back to an earlier stage.
    pub max_loops: u32,
}

/// Opens pipeline runs.
#[derive(Debug)]
pub struct Pipeline;

impl Pipeline {
    /// Opens (or resumes) the run's session, whose user turns run through the pipeline's
    /// stages. Refuses an empty pipeline or a stage naming no profile.
    pub async fn open(
        store: Arc<dyn Store>,
        tools: ToolRegistry,
        config: SessionConfig,
        start: SessionStart,
        settings: OrchestraSettings,
        pipeline: PipelineSettings,
    ) -> Result<(SessionHandle, OrchestraDriver), OrchestraError> {
        if pipeline.stages.is_empty() {
            return Err(OrchestraError::Settings {
                message: "the pipeline has no stages".into(),
                hint: "set `[agents] pipeline` to agent profiles in order, e.g. [\"architect\", \"coder\", \"tester\", \"reviewer\"]".into(),
            });
        }
        if let Some(missing) = pipeline
            .stages
            .iter()
            .find(|stage| !settings.profiles.iter().any(|p| &p.name == *stage))
        {
            return Err(OrchestraError::MissingProfile(missing.clone()));
        }
        open_strategy_run(store, tools, config, start, settings, move |orchestra| {
            Arc::new(PipelineTurn {
                orchestra,
                settings: pipeline,
            })
        })
        .await
    }
}

/// Carries out one user turn through the stages.
struct PipelineTurn {
    orchestra: Arc<Orchestra>,
    settings: PipelineSettings,
}

#[async_trait]
impl StrategyTurn for PipelineTurn {
    async fn run(&self, prompt: String, cancel: CancellationToken) -> StrategyOutcome {
        let outcome = self.stages(&prompt, &cancel).await;
        // `turn_finished` comes after every event of the stages.
        self.orchestra.flush().await;
        outcome
    }
}

/// A stage's latest output.
#[derive(Clone, Debug)]
struct Output {
    profile: String,
    text: String,
}

/// Why a stage runs again: who sent it back and why.
#[derive(Clone, Debug)]
struct Returned {
    by: String,
    reason: String,
    report: String,
}

impl PipelineTurn {
    fn stage_name(&self, index: usize) -> &str {
        self.settings.stages.get(index).map_or("?", String::as_str)
    }

    async fn stages(&self, task: &str, cancel: &CancellationToken) -> StrategyOutcome {
        let count = self.settings.stages.len();
        let loops = Arc::new(Mutex::new(Loops {
            used: 0,
            max: self.settings.max_loops,
        }));
        let mut outputs: Vec<Option<Output>> = vec![None; count];
        let mut returned: Option<Returned> = None;
        let mut from = 0;
        // The task the next batch's first stage depends on (the stage that ran before it).
        let mut after: Option<TaskId> = None;
        loop {
            let ids = match self.create(task, from, after.take()).await {
                Ok(ids) => ids,
                Err(message) => {
                    return StrategyOutcome::failed(
                        String::new(),
                        message,
                        Some("run the task again with a shorter pipeline or a lower `[agents] max_loops`".into()),
                    );
                }
            };
            let mut sent_back = None;
            for (offset, id) in ids.iter().enumerate() {
                let index = from + offset;
                if cancel.is_cancelled() {
                    self.cancel_waiting(&ids[offset..]).await;
                    return StrategyOutcome::cancelled(String::new());
                }
                let prompt = stage_prompt(
                    task,
                    index.checked_sub(1).and_then(|i| outputs[i].as_ref()),
                    returned.take().as_ref(),
                );
                let request = Arc::new(Mutex::new(None));
                let extras = self.extras(index, &loops, &request);
                let info = self.orchestra.graph().info(id).cloned();
                let Some(info) = info else {
                    continue;
                };
                self.orchestra.graph().start(id);
                let run = self
                    .attempt(info.clone(), prompt, cancel, extras, (&loops, &request))
                    .await;
                match run.end {
                    AgentEnd::Done => {
                        self.orchestra.graph().complete(id, run.outcome.clone());
                        self.orchestra
                            .emit(EventKind::TaskCompleted {
                                task: id.clone(),
                                outcome: run.outcome.clone(),
                            })
                            .await;
                        outputs[index] = Some(Output {
                            profile: info.agent.clone(),
                            text: run.outcome.summary.clone(),
                        });
                    }
                    AgentEnd::Cancelled => {
                        // Waiting stages first, so none fails as the running one's dependent.
                        let waiting =
                            self.close_waiting(&ids[offset + 1..], "cancelled before it started");
                        fail(
                            &self.orchestra,
                            id,
                            TaskState::Cancelled,
                            "cancelled".into(),
                        )
                        .await;
                        self.emit_failed(waiting).await;
                        return StrategyOutcome::cancelled(String::new());
                    }
                    AgentEnd::Failed { reason, .. } => {
                        return self.failed(id, index, reason, None).await;
                    }
                    AgentEnd::TimedOut => {
                        let hint = format!(
                            "each stage may take at most {}; raise `[agents] timeout` or split the task",
                            describe_duration(self.orchestra.settings.timeout)
                        );
                        return self
                            .failed(id, index, run.outcome.summary, Some(hint))
                            .await;
                    }
                }
                if let Some(request) = SendBackTool::taken(&request) {
                    let skipped = self.close_waiting(
                        &ids[offset + 1..],
                        &format!(
                            "not run: {} sent the work back to {}",
                            self.stage_name(index),
                            self.stage_name(request.stage)
                        ),
                    );
                    self.emit_failed(skipped).await;
                    sent_back = Some((index, id.clone(), request));
                    break;
                }
            }
            let Some((index, id, SendBack { stage, reason })) = sent_back else {
                let last = outputs.last().cloned().flatten();
                return match last {
                    Some(output) => StrategyOutcome::completed(format!(
                        "From the {} stage:\n\n{}",
                        output.profile, output.text
                    )),
                    None => StrategyOutcome::failed(
                        String::new(),
                        "the pipeline ended without an answer from its last stage".into(),
                        None,
                    ),
                };
            };
            let used = loops.lock().unwrap_or_else(PoisonError::into_inner).used;
            self.orchestra
                .emit(EventKind::Warning {
                    message: format!(
                        "{} sent the work back to {}: {reason} (loop {used} of {})",
                        self.stage_name(index),
                        self.stage_name(stage),
                        self.settings.max_loops
                    ),
                })
                .await;
            returned = Some(Returned {
                by: self.stage_name(index).to_owned(),
                reason,
                report: outputs[index]
                    .as_ref()
                    .map(|o| o.text.clone())
                    .unwrap_or_default(),
            });
            from = stage;
            after = Some(id);
        }
    }

    /// Adds the tasks of stages `from..` to the graph, each depending on the one before it
    /// (the first on `after`), and reports them.
    async fn create(
        &self,
        task: &str,
        from: usize,
        after: Option<TaskId>,
    ) -> Result<Vec<TaskId>, String> {
        let count = self.settings.stages.len();
        let summary = task.lines().next().unwrap_or_default();
        let batch = self.settings.stages[from..]
            .iter()
            .enumerate()
            .map(|(offset, stage)| {
                let index = from + offset;
                let depends_on = match (offset, &after) {
                    (0, Some(after)) => vec![after.0.clone()],
                    (0, None) => Vec::new(),
                    _ => vec![format!("stage{}", index - 1)],
                };
                NewTask {
                    label: Some(format!("stage{index}")),
                    description: format!("stage {} of {count}: {summary}", index + 1),
                    agent: stage.clone(),
                    depends_on,
                }
            })
            .collect();
        let (ids, created) = {
            let mut graph = self.orchestra.graph();
            let ids = graph.add_batch(batch).map_err(|err| {
                format!("the pipeline could not add its stages to the run: {err}")
            })?;
            let created: Vec<TaskInfo> = ids
                .iter()
                .filter_map(|id| graph.info(id).cloned())
                .collect();
            (ids, created)
        };
        for task in created {
            self.orchestra.emit(EventKind::TaskCreated { task }).await;
        }
        Ok(ids)
    }

    /// What a stage's agent gets besides its profile: its place in the pipeline and, after
    /// the first stage, `send_back`.
    fn extras(
        &self,
        index: usize,
        loops: &Arc<Mutex<Loops>>,
        request: &Arc<Mutex<Option<SendBack>>>,
    ) -> AgentExtras {
        let stages = &self.settings.stages;
        let mut section = format!(
            "# Pipeline\nYou are stage {} of {} in a pipeline: {}. ",
            index + 1,
            stages.len(),
            stages.join(" → ")
        );
        match stages.get(index + 1) {
            Some(next) => {
                let _ = write!(
                    section,
                    "Your final answer is handed to the {next} stage as its input, so make it complete."
                );
            }
            None => section.push_str("Your final answer is the run's answer to the user."),
        }
        let mut tools: Vec<Arc<dyn crate::Tool>> = Vec::new();
        if index > 0 && self.settings.max_loops > 0 {
            let _ = write!(
                section,
                " If an earlier stage's work must be redone, call `{SEND_BACK_TOOL_NAME}` with that stage and the reason, then finish your answer."
            );
            tools.push(Arc::new(SendBackTool {
                stages: stages.clone(),
                caller: index,
                loops: loops.clone(),
                request: request.clone(),
            }));
        }
        AgentExtras {
            tools,
            prompt: Some(section),
            ..AgentExtras::default()
        }
    }

    /// Runs a stage's agent, once more with a new agent after a provider failure (a
    /// loop-back the failed attempt asked for is forgotten and not counted).
    async fn attempt(
        &self,
        task: TaskInfo,
        prompt: String,
        cancel: &CancellationToken,
        extras: AgentExtras,
        (loops, request): (&Mutex<Loops>, &Mutex<Option<SendBack>>),
    ) -> AgentRun {
        let run = run_agent(
            self.orchestra.clone(),
            task.clone(),
            prompt.clone(),
            cancel.child_token(),
            extras.clone(),
        )
        .await;
        match &run.end {
            AgentEnd::Failed {
                reason,
                provider: true,
            } if !cancel.is_cancelled() => {
                self.orchestra
                    .emit(EventKind::Warning {
                        message: format!(
                            "{} [{}] failed with a provider error ({reason}); retrying it once with a new agent",
                            task.id, task.agent
                        ),
                    })
                    .await;
                if SendBackTool::taken(request).is_some() {
                    let mut loops = loops.lock().unwrap_or_else(PoisonError::into_inner);
                    loops.used = loops.used.saturating_sub(1);
                }
                run_agent(
                    self.orchestra.clone(),
                    task,
                    prompt,
                    cancel.child_token(),
                    extras,
                )
                .await
            }
            _ => run,
        }
    }

    /// Fails a stage (and, with the reason, the stages after it) and ends the turn failed.
    async fn failed(
        &self,
        id: &TaskId,
        index: usize,
        reason: String,
        hint: Option<String>,
    ) -> StrategyOutcome {
        fail(&self.orchestra, id, TaskState::Failed, reason.clone()).await;
        let stage = self.stage_name(index);
        StrategyOutcome::failed(
            String::new(),
            format!("the pipeline stopped: the {stage} stage ({id}) failed: {reason}"),
            Some(hint.unwrap_or_else(|| {
                format!(
                    "`code-mesh sessions list` shows the {stage} agent's session; fix the cause and run the task again"
                )
            })),
        )
    }

    /// Closes the waiting tasks among `ids` with `reason` (as cancelled, last first so none
    /// fails as another's dependent); returns them in order for [`Self::emit_failed`].
    fn close_waiting(&self, ids: &[TaskId], reason: &str) -> Vec<(TaskId, String)> {
        let mut graph = self.orchestra.graph();
        let waiting: Vec<TaskId> = ids
            .iter()
            .filter(|id| graph.state(id) == Some(TaskState::Waiting))
            .cloned()
            .collect();
        for id in waiting.iter().rev() {
            graph.fail(id, TaskState::Cancelled, reason.to_owned());
        }
        waiting
            .into_iter()
            .map(|id| (id, reason.to_owned()))
            .collect()
    }

    async fn cancel_waiting(&self, ids: &[TaskId]) {
        let waiting = self.close_waiting(ids, "cancelled before it started");
        self.emit_failed(waiting).await;
    }

    async fn emit_failed(&self, tasks: Vec<(TaskId, String)>) {
        for (task, reason) in tasks {
            self.orchestra
                .emit(EventKind::TaskFailed { task, reason })
                .await;
        }
    }
}

/// A stage's prompt: the user's task, the previous stage's output, and why the work came
/// back to it, if it did.
fn stage_prompt(task: &str, previous: Option<&Output>, returned: Option<&Returned>) -> String {
    let mut prompt = task.trim_end().to_owned();
    if let Some(previous) = previous {
        let _ = write!(
            prompt,
            "\n\n# Output of the previous stage ({})\n{}",
            previous.profile,
            previous.text.trim_end()
        );
    }
    if let Some(returned) = returned {
        let _ = write!(
            prompt,
            "\n\n# Sent back to you by the {} stage\nReason: {}",
            returned.by,
            returned.reason.trim_end()
        );
        if !returned.report.trim().is_empty() {
            let _ = write!(
                prompt,
                "\n\n## The {} stage's report\n{}",
                returned.by,
                returned.report.trim_end()
            );
        }
    }
    prompt
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn a_stage_sent_back_to_gets_the_previous_output_then_the_reason() {
        let previous = Output {
            profile: "architect".into(),
            text: "Design: a flag.\n".into(),
        };
        let returned = Returned {
            by: "tester".into(),
            reason: "the flag is never read".into(),
            report: "One test fails.".into(),
        };
        assert_eq!(
            stage_prompt("add a flag", Some(&previous), Some(&returned)),
            "add a flag\n\n# Output of the previous stage (architect)\nDesign: a flag.\n\n# Sent back to you by the tester stage\nReason: the flag is never read\n\n## The tester stage's report\nOne test fails."
        );
    }

    #[test]
    fn the_first_stage_gets_the_task_alone() {
        assert_eq!(stage_prompt("add a flag\n", None, None), "add a flag");
    }
}
