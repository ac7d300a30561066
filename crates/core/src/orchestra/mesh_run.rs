//! The mesh strategy: every member agent works on the task at once, in its own child session,
//! and they talk directly over one [`MeshBus`] (direct messages, broadcasts, topics, questions
//! and answers). An agent whose turn ends waits; new messages wake it for another turn, up to
//! `[agents] mesh_rounds` turns. The first member leads: its `finish_run` tool ends the run
//! with its answer and stops the others. Without it, the run ends when the mesh goes quiet
//! (every agent waiting, no message unread) or nobody is left, with a warning.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_protocol::{AgentId, EventKind, TaskId, TaskState, ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::agent::{AgentEnd, AgentRun, LiveAgent};
use super::graph::NewTask;
use super::{
    AgentExtras, Emission, Orchestra, OrchestraDriver, OrchestraError, OrchestraSettings,
    open_strategy_run, scheduler,
};
use crate::mesh::{AskTimeouts, MeshBus, MeshInbox, mesh_tools_with};
use crate::turn::{StrategyOutcome, StrategyTurn};
use crate::{
    SessionConfig, SessionHandle, SessionStart, Store, Tool, ToolContext, ToolError, ToolOutput,
    ToolRegistry,
};

/// The lead's tool that declares the run done.
pub const LEAD_FINISH_TOOL_NAME: &str = "finish_run";

/// What a turn woken by new messages is asked; the messages follow it (the inbox hook).
const WAKE_PROMPT: &str = "New messages from the other agents have arrived (below). Act on \
                           them — answer each question asked of you with `reply` — then end \
                           your turn.";

/// Who is on a mesh run and how long each may go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshSettings {
    /// The members' profiles (`[agents] mesh`); the first one leads and declares the run done.
    pub members: Vec<String>,
    /// Most turns each member takes (`[agents] mesh_rounds`; at least 1).
    pub rounds: u32,
}

/// Opens mesh runs.
#[derive(Debug)]
pub struct MeshRun;

impl MeshRun {
    /// Opens (or resumes) the run's session; each user turn runs the members as a mesh.
    /// Refuses an empty member list, a member without a profile, and more members than may
    /// run at once (mesh members must all be live to talk).
    pub async fn open(
        store: Arc<dyn Store>,
        tools: ToolRegistry,
        config: SessionConfig,
        start: SessionStart,
        settings: OrchestraSettings,
        mesh: MeshSettings,
    ) -> Result<(SessionHandle, OrchestraDriver), OrchestraError> {
        check(&settings, &mesh)?;
        open_strategy_run(store, tools, config, start, settings, move |orchestra| {
            Arc::new(MeshTurn { orchestra, mesh })
        })
        .await
    }
}

fn check(settings: &OrchestraSettings, mesh: &MeshSettings) -> Result<(), OrchestraError> {
    if mesh.members.is_empty() {
        return Err(OrchestraError::Settings {
            message: "the mesh has no agents".into(),
            hint: "list agent profiles in `[agents] mesh`, the lead first, e.g. \
                   mesh = [\"coordinator\", \"coder\", \"tester\"]"
                .into(),
        });
    }
    for name in &mesh.members {
        if !settings
            .profiles
            .iter()
            .any(|profile| &profile.name == name)
        {
            return Err(OrchestraError::Settings {
                message: format!("the mesh names `{name}`, but there is no such agent profile"),
                hint: format!(
                    "use profiles `code-mesh agents list` shows in `[agents] mesh`, or add \
                     `[agents.profiles.{name}]`"
                ),
            });
        }
    }
    let max_count = settings.max_count.max(1);
    if mesh.members.len() > max_count {
        return Err(OrchestraError::Settings {
            message: format!(
                "the mesh has {} agents but at most {max_count} may run at once, and mesh agents \
                 must all run at once to talk",
                mesh.members.len()
            ),
            hint: format!(
                "raise `[agents] max_count` to {} or shorten `[agents] mesh`",
                mesh.members.len()
            ),
        });
    }
    Ok(())
}

/// Carries out a mesh run's user turns.
struct MeshTurn {
    orchestra: Arc<Orchestra>,
    mesh: MeshSettings,
}

#[async_trait]
impl StrategyTurn for MeshTurn {
    async fn run(&self, prompt: String, cancel: CancellationToken) -> StrategyOutcome {
        let outcome = self.work(prompt, cancel).await;
        self.orchestra.flush().await;
        outcome
    }
}

/// A member of this turn's mesh.
struct Member {
    id: AgentId,
    profile: String,
    task: TaskId,
    /// Stops its turns: a child of the user's cancel, also fired when the lead finishes.
    stop: CancellationToken,
}

/// How a member's part ended, beyond its agent's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaving {
    /// Its turn ended in failure, timeout or cancel (see the [`AgentEnd`]).
    Stopped,
    /// The run ended while it waited (finish, quiet, cancel).
    Over,
    /// Messages woke it with no turn left.
    OutOfRounds,
}

/// What one turn's members share.
struct Mesh {
    bus: MeshBus,
    members: Vec<Member>,
    rounds: u32,
    state: Mutex<MeshState>,
    /// Fires when the run is over for those who wait: the lead finished or failed, the mesh
    /// went quiet, or nobody is left.
    over: CancellationToken,
}

#[derive(Default)]
struct MeshState {
    /// Members in a turn.
    busy: BTreeSet<AgentId>,
    /// Members still on the mesh.
    present: BTreeSet<AgentId>,
    /// The lead's `finish_run` answer.
    finished: Option<String>,
    /// Why the lead failed.
    lead_failed: Option<String>,
}

impl Mesh {
    fn lock(&self) -> MutexGuard<'_, MeshState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lead(&self) -> &Member {
        // `check` refuses an empty mesh before any turn.
        &self.members[0]
    }

    fn is_lead(&self, id: &AgentId) -> bool {
        self.members.first().is_some_and(|lead| &lead.id == id)
    }

    /// Ends the run for those who wait once nobody works and no message is unread: nobody can
    /// send another one then (a waiting `ask` is a member in a turn).
    fn check_quiet(&self, state: &MeshState) {
        if state.busy.is_empty() && state.present.iter().all(|id| self.bus.unread(id) == 0) {
            self.over.cancel();
        }
    }

    fn go_idle(&self, id: &AgentId) {
        let mut state = self.lock();
        state.busy.remove(id);
        self.check_quiet(&state);
    }

    /// Marks a woken member busy; false when the run is over. Its inbox is only read in a
    /// turn, so a quiet check between its waking and this sees the unread message.
    fn go_busy(&self, id: &AgentId) -> bool {
        let mut state = self.lock();
        if self.over.is_cancelled() {
            return false;
        }
        state.busy.insert(id.clone());
        true
    }

    /// Takes a member off the mesh: questions asked of it fail at once, senders are told.
    fn leave(&self, id: &AgentId) {
        let mut state = self.lock();
        state.busy.remove(id);
        state.present.remove(id);
        self.bus.unregister(id);
        self.check_quiet(&state);
    }

    /// The lead's answer ends the run: the others stop (their tools too).
    fn finish(&self, answer: String) -> Result<(), ToolError> {
        let mut state = self.lock();
        if state.finished.is_some() {
            return Err(ToolError::new(
                "the run is already done; end your turn with a short summary",
            ));
        }
        state.finished = Some(answer);
        for member in self.members.iter().skip(1) {
            member.stop.cancel();
        }
        self.over.cancel();
        Ok(())
    }

    fn fail_lead(&self, reason: String) {
        self.lock().lead_failed = Some(reason);
        for member in &self.members {
            member.stop.cancel();
        }
        self.over.cancel();
    }

    /// The section of each member's system prompt naming the team and how to talk.
    fn prompt_section(&self, me: &AgentId) -> String {
        let lead = self.lead();
        let mut text = format!(
            "# The mesh\nYou are {me}, one of {} agents working on the same task at once. The team:\n",
            self.members.len()
        );
        for member in &self.members {
            let _ = write!(text, "- {} ({})", member.id, member.profile);
            if member.id == lead.id {
                text.push_str(", the lead");
            }
            if &member.id == me {
                text.push_str(" — you");
            }
            text.push('\n');
        }
        let _ = writeln!(
            text,
            "Talk to them with the mesh tools: `send_message` to one agent (by id, or by profile \
             when only one agent has it), `broadcast` to all, `publish` on a topic to the agents \
             that `subscribe` to it, and `ask` to put a question to one agent and wait for its \
             answer; answer questions asked of you with `reply`. Messages sent to you appear \
             before your next model request. When your turn ends you wait: new messages wake you \
             for another turn, up to {} turns in all.",
            self.rounds
        );
        if &lead.id == me {
            let _ = write!(
                text,
                "You lead: when the task is done, call `{LEAD_FINISH_TOOL_NAME}` with the final \
                 answer. That ends the run and stops the other agents."
            );
        } else {
            let _ = write!(
                text,
                "{} ({}) leads and declares the run done: report your results to it.",
                lead.id, lead.profile
            );
        }
        text
    }
}

impl MeshTurn {
    async fn work(&self, prompt: String, cancel: CancellationToken) -> StrategyOutcome {
        let orchestra = &self.orchestra;
        let queue = orchestra.clone();
        let bus = MeshBus::builder(orchestra.settings.timer.clone())
            .observer(move |event| queue.queue(Emission::Event(event)))
            .build();
        let batch = self
            .mesh
            .members
            .iter()
            .map(|profile| NewTask {
                label: None,
                description: prompt.clone(),
                agent: profile.clone(),
                depends_on: Vec::new(),
            })
            .collect();
        let created = {
            let mut graph = orchestra.graph();
            match graph.add_batch(batch) {
                Ok(mut ids) => {
                    ids.sort_by_key(|id| {
                        id.0.trim_start_matches("task_")
                            .parse::<usize>()
                            .unwrap_or(usize::MAX)
                    });
                    for id in &ids {
                        graph.start(id);
                    }
                    Ok(ids
                        .iter()
                        .filter_map(|id| graph.info(id).cloned())
                        .collect::<Vec<_>>())
                }
                Err(err) => Err(err),
            }
        };
        let tasks = match created {
            Ok(tasks) => tasks,
            Err(err) => {
                return StrategyOutcome::failed(
                    String::new(),
                    format!("the mesh's agents could not be added to the run: {err}"),
                    Some("start a new session for this task (`run` without `--continue`)".into()),
                );
            }
        };
        let mut members = Vec::new();
        for task in &tasks {
            orchestra
                .emit(EventKind::TaskCreated { task: task.clone() })
                .await;
            members.push(Member {
                id: orchestra.next_agent_id(),
                profile: task.agent.clone(),
                task: task.id.clone(),
                stop: cancel.child_token(),
            });
        }
        let mut state = MeshState::default();
        for member in &members {
            // Fresh ids on a fresh bus: registering cannot clash.
            let _ = bus.register(member.id.clone(), member.profile.clone());
            state.present.insert(member.id.clone());
            state.busy.insert(member.id.clone());
        }
        let mesh = Arc::new(Mesh {
            bus,
            members,
            rounds: self.mesh.rounds.max(1),
            state: Mutex::new(state),
            over: CancellationToken::new(),
        });
        let lead = mesh.lead().id.clone();
        let timeouts = ask_timeouts(orchestra.settings.timeout);
        let runs = tasks.into_iter().enumerate().map(|(index, task)| {
            let mesh = mesh.clone();
            let prompt = prompt.clone();
            let cancel = cancel.clone();
            async move {
                let member = &mesh.members[index];
                let mut tools = mesh_tools_with(&mesh.bus, &member.id, timeouts);
                if index == 0 {
                    tools.push(Arc::new(FinishTool { mesh: mesh.clone() }) as Arc<dyn Tool>);
                }
                let extras = AgentExtras {
                    id: Some(member.id.clone()),
                    tools,
                    hooks: vec![MeshInbox::new(mesh.bus.clone(), member.id.clone())],
                    prompt: Some(mesh.prompt_section(&member.id)),
                    ..AgentExtras::default()
                };
                self.member(&mesh, index, task, prompt, extras, &cancel)
                    .await
            }
        });
        let answers = futures::future::join_all(runs).await;
        for member in &mesh.members {
            mesh.bus.unregister(&member.id);
        }
        let lead_answer = answers.into_iter().next().unwrap_or_default();
        let (finished, lead_failed) = {
            let state = mesh.lock();
            (state.finished.clone(), state.lead_failed.clone())
        };
        let lead_label = format!("{} ({})", lead, mesh.lead().profile);
        if cancel.is_cancelled() {
            return StrategyOutcome::cancelled(finished.unwrap_or(lead_answer));
        }
        if let Some(answer) = finished {
            return StrategyOutcome::completed(answer);
        }
        if let Some(reason) = lead_failed {
            return StrategyOutcome::failed(
                lead_answer,
                format!("the mesh's lead {lead_label} failed: {reason}"),
                Some(
                    "see the lead's child session (`code-mesh sessions list`) and run again".into(),
                ),
            );
        }
        orchestra
            .emit(EventKind::Warning {
                message: format!(
                    "the lead {lead_label} did not declare the run done with \
                     `{LEAD_FINISH_TOOL_NAME}` before the mesh went quiet; its last answer is the \
                     run's answer"
                ),
            })
            .await;
        StrategyOutcome::completed(lead_answer)
    }

    /// Runs one member from its first turn until it leaves the mesh; records its task's end
    /// and returns its last answer.
    async fn member(
        &self,
        mesh: &Mesh,
        index: usize,
        task: code_mesh_protocol::TaskInfo,
        prompt: String,
        extras: AgentExtras,
        cancel: &CancellationToken,
    ) -> String {
        let orchestra = &self.orchestra;
        let member = &mesh.members[index];
        let (mut agent, driver) = match LiveAgent::open(orchestra, task, extras).await {
            Ok(opened) => opened,
            Err(run) => {
                self.record(mesh, member, &run, Leaving::Stopped, cancel)
                    .await;
                return String::new();
            }
        };
        let work = async {
            let mut turns = 1;
            // Each member's conversation opens with its own words, naming who it is.
            let mut prompt = format!(
                "{prompt}\n\n[You work on this as {} ({}), with the mesh described in your \
                 instructions.]",
                member.id, member.profile
            );
            let leaving = loop {
                let end = agent.turn(orchestra, prompt, &member.stop).await;
                if end != AgentEnd::Done {
                    break (end, Leaving::Stopped);
                }
                mesh.go_idle(&member.id);
                let woken = tokio::select! {
                    woken = mesh.bus.wait_for_message(&member.id) => woken.is_ok(),
                    () = mesh.over.cancelled() => false,
                    () = member.stop.cancelled() => false,
                };
                if !woken || !mesh.go_busy(&member.id) {
                    break (AgentEnd::Done, Leaving::Over);
                }
                if turns >= mesh.rounds {
                    break (AgentEnd::Done, Leaving::OutOfRounds);
                }
                turns += 1;
                prompt = WAKE_PROMPT.to_owned();
            };
            agent.shut_down();
            leaving
        };
        let ((end, leaving), ()) = tokio::join!(work, driver.run());
        let answer = agent.answer.clone();
        let run = agent.terminate(orchestra, end).await;
        self.record(mesh, member, &run, leaving, cancel).await;
        answer
    }

    /// Takes a member off the mesh and reports how its task ended.
    async fn record(
        &self,
        mesh: &Mesh,
        member: &Member,
        run: &AgentRun,
        leaving: Leaving,
        cancel: &CancellationToken,
    ) {
        let orchestra = &self.orchestra;
        if leaving == Leaving::OutOfRounds {
            let unread = mesh.bus.unread(&member.id);
            orchestra
                .emit(EventKind::Warning {
                    message: format!(
                        "{} ({}) reached its limit of {} turn(s) (`[agents] mesh_rounds`) and \
                         left the mesh with {unread} message(s) unread",
                        member.id, member.profile, mesh.rounds
                    ),
                })
                .await;
        }
        mesh.leave(&member.id);
        match &run.end {
            AgentEnd::Done => {
                orchestra
                    .graph()
                    .complete(&member.task, run.outcome.clone());
                orchestra
                    .emit(EventKind::TaskCompleted {
                        task: member.task.clone(),
                        outcome: run.outcome.clone(),
                    })
                    .await;
            }
            AgentEnd::Cancelled => {
                let lead = mesh.lead();
                let lead_failed = mesh.lock().lead_failed.is_some();
                let reason = if cancel.is_cancelled() {
                    "cancelled".to_owned()
                } else if lead_failed {
                    format!("stopped: the lead {} ({}) failed", lead.id, lead.profile)
                } else {
                    format!(
                        "stopped: the lead {} ({}) declared the run done",
                        lead.id, lead.profile
                    )
                };
                scheduler::fail(orchestra, &member.task, TaskState::Cancelled, reason).await;
            }
            AgentEnd::Failed { .. } | AgentEnd::TimedOut => {
                let reason = run.outcome.summary.clone();
                if mesh.is_lead(&member.id) {
                    mesh.fail_lead(reason.clone());
                }
                scheduler::fail(orchestra, &member.task, TaskState::Failed, reason).await;
            }
        }
    }
}

/// An `ask` waits at most as long as an agent's turn may take.
fn ask_timeouts(turn_timeout: Duration) -> AskTimeouts {
    let defaults = AskTimeouts::default();
    let turn_timeout = turn_timeout.max(Duration::from_secs(1));
    AskTimeouts {
        default: defaults.default.min(turn_timeout),
        max: defaults.max.min(turn_timeout),
    }
}

/// The lead's `finish_run`.
struct FinishTool {
    mesh: Arc<Mesh>,
}

#[derive(Deserialize)]
struct FinishParams {
    answer: String,
}

#[async_trait]
impl Tool for FinishTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: LEAD_FINISH_TOOL_NAME.into(),
            description: "Declare the run done with its final answer for the user. The other \
                          agents are stopped at once; call it only when the task is complete."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "answer": {"type": "string", "description": "The run's final answer for the user."}
                },
                "required": ["answer"]
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        // It touches no file and runs nothing: it ends the run's in-memory mesh.
        ToolKind::Read
    }

    fn summarize(&self, _arguments: &serde_json::Value) -> String {
        "declare the run done".into()
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _context: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let params: FinishParams = serde_json::from_value(arguments).map_err(|err| {
            ToolError::new(format!(
                "the arguments are invalid ({err}); pass {{\"answer\": \"…\"}}"
            ))
        })?;
        if params.answer.trim().is_empty() {
            return Err(ToolError::new(
                "the answer is empty; pass the run's final answer in `answer`",
            ));
        }
        self.mesh.finish(params.answer)?;
        Ok(ToolOutput::from(
            "The run is done: your answer is its answer and the other agents are stopped. End \
             your turn now with a one-line summary."
                .to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_timeouts_never_outlast_an_agents_turn() {
        assert_eq!(
            ask_timeouts(Duration::from_secs(60)),
            AskTimeouts {
                default: Duration::from_secs(60),
                max: Duration::from_secs(60)
            }
        );
        assert_eq!(
            ask_timeouts(Duration::from_secs(300)),
            AskTimeouts {
                default: Duration::from_secs(120),
                max: Duration::from_secs(300)
            }
        );
    }
}
