//! The scheduler: starts ready tasks up to the run's agent limit, records how they end,
//! retries a provider failure once, fails the dependents of a failed task, and answers each
//! request once all of its tasks are finished.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use code_mesh_protocol::{EventKind, TaskId, TaskInfo, TaskState};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::agent::{AgentEnd, AgentRun, run_agent};
use super::{AgentExtras, Orchestra};

/// Tasks already in the graph that a caller wants run; `reply` fires once all are finished.
pub(crate) struct Request {
    pub(crate) tasks: Vec<TaskId>,
    /// Cancels the running agents of these tasks and keeps their waiting ones from starting.
    pub(crate) cancel: CancellationToken,
    pub(crate) reply: oneshot::Sender<()>,
}

struct Finished {
    task: TaskInfo,
    attempt: u32,
    prompt: String,
    cancel: CancellationToken,
    run: AgentRun,
}

/// Runs requests until every sender is gone and nothing is running, writing what the run
/// reports beside it (see [`super::Emission`]).
pub(crate) async fn run(orchestra: Arc<Orchestra>, requests: mpsc::UnboundedReceiver<Request>) {
    let (finished, scheduler_done) = oneshot::channel::<()>();
    let scheduler = {
        let orchestra = orchestra.clone();
        async move {
            schedule(orchestra, requests).await;
            // Nothing is running any more: the emitter writes what is left, then stops.
            let _ = finished.send(());
        }
    };
    tokio::join!(scheduler, orchestra.emitter(scheduler_done));
}

async fn schedule(orchestra: Arc<Orchestra>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let max_count = orchestra.settings.max_count.max(1);
    let mut running: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
    let mut waiters: Vec<Request> = Vec::new();
    let mut tokens: HashMap<TaskId, CancellationToken> = HashMap::new();
    let mut open = true;
    loop {
        // Waiting tasks whose request was cancelled (or whose run ended) never start.
        let stale: Vec<TaskId> = {
            let graph = orchestra.graph();
            graph
                .tasks()
                .filter(|(_, state)| *state == TaskState::Waiting)
                .filter(|(info, _)| {
                    tokens
                        .get(&info.id)
                        .is_some_and(|token| !open || token.is_cancelled())
                })
                .map(|(info, _)| info.id.clone())
                .collect()
        };
        for id in stale {
            fail(
                &orchestra,
                &id,
                TaskState::Cancelled,
                "cancelled before it started".into(),
            )
            .await;
        }
        // Start what is ready, oldest first, while there is room.
        let ready = orchestra.graph().ready();
        for id in ready {
            if running.len() >= max_count {
                break;
            }
            let Some(cancel) = tokens.get(&id).cloned() else {
                continue; // Its request has not arrived yet.
            };
            let Some((task, prompt)) = prepare(&orchestra, &id) else {
                continue;
            };
            orchestra.graph().start(&id);
            running.push(attempt(orchestra.clone(), task, prompt, cancel, 1));
        }
        // Answer the requests whose tasks are all finished.
        let graph_done = |request: &Request| {
            let graph = orchestra.graph();
            request
                .tasks
                .iter()
                .all(|id| graph.state(id).is_none_or(TaskState::is_finished))
        };
        let (done, pending): (Vec<Request>, Vec<Request>) =
            waiters.drain(..).partition(|request| graph_done(request));
        waiters = pending;
        for request in done {
            // After the events queued so far, so the caller sees its tasks' ends first.
            orchestra.queue(super::Emission::Reply(request.reply));
        }
        if !open && running.is_empty() {
            return;
        }
        tokio::select! {
            request = requests.recv(), if open => match request {
                Some(request) => {
                    for id in &request.tasks {
                        tokens.insert(id.clone(), request.cancel.clone());
                    }
                    waiters.push(request);
                }
                None => open = false,
            },
            Some(finished) = running.next(), if !running.is_empty() => {
                if let Some(retry) = record(&orchestra, finished).await {
                    running.push(retry);
                }
            }
        }
    }
}

fn attempt(
    orchestra: Arc<Orchestra>,
    task: TaskInfo,
    prompt: String,
    cancel: CancellationToken,
    attempt: u32,
) -> BoxFuture<'static, Finished> {
    Box::pin(async move {
        let run = run_agent(
            orchestra,
            task.clone(),
            prompt.clone(),
            cancel.child_token(),
            AgentExtras::default(),
        )
        .await;
        Finished {
            task,
            attempt,
            prompt,
            cancel,
            run,
        }
    })
}

/// The task and what its agent is told: the description, then its dependencies' results.
fn prepare(orchestra: &Orchestra, id: &TaskId) -> Option<(TaskInfo, String)> {
    let graph = orchestra.graph();
    let task = graph.info(id)?.clone();
    let mut prompt = task.description.clone();
    if !task.dependencies.is_empty() {
        prompt.push_str("\n\n# Results of the tasks this one builds on\n");
        for dep in &task.dependencies {
            let agent = graph
                .info(dep)
                .map(|info| info.agent.as_str())
                .unwrap_or("?");
            let summary = graph
                .outcome(dep)
                .map(|outcome| outcome.summary.as_str())
                .unwrap_or("(no result)");
            let _ = write!(prompt, "\n## {dep} ({agent})\n{}\n", summary.trim_end());
        }
    }
    Some((task, prompt))
}

/// Records how an attempt ended; returns the retry to run, if any.
async fn record(
    orchestra: &Arc<Orchestra>,
    finished: Finished,
) -> Option<BoxFuture<'static, Finished>> {
    let Finished {
        task,
        attempt: number,
        prompt,
        cancel,
        run,
    } = finished;
    match run.end {
        AgentEnd::Done => {
            orchestra.graph().complete(&task.id, run.outcome.clone());
            orchestra
                .emit(EventKind::TaskCompleted {
                    task: task.id.clone(),
                    outcome: run.outcome,
                })
                .await;
            None
        }
        AgentEnd::Failed {
            reason,
            provider: true,
        } if number == 1 && !cancel.is_cancelled() => {
            orchestra
                .emit(EventKind::Warning {
                    message: format!(
                        "{} [{}] failed with a provider error ({reason}); retrying it once with a new agent",
                        task.id, task.agent
                    ),
                })
                .await;
            Some(attempt(orchestra.clone(), task, prompt, cancel, number + 1))
        }
        AgentEnd::Failed { reason, .. } => {
            fail(orchestra, &task.id, TaskState::Failed, reason).await;
            None
        }
        AgentEnd::TimedOut => {
            fail(orchestra, &task.id, TaskState::Failed, run.outcome.summary).await;
            None
        }
        AgentEnd::Cancelled => {
            fail(
                orchestra,
                &task.id,
                TaskState::Cancelled,
                "cancelled".into(),
            )
            .await;
            None
        }
    }
}

/// Fails a task and, with the reason, every task waiting on it.
pub(crate) async fn fail(orchestra: &Orchestra, id: &TaskId, state: TaskState, reason: String) {
    let dependents = orchestra.graph().fail(id, state, reason.clone());
    orchestra
        .emit(EventKind::TaskFailed {
            task: id.clone(),
            reason,
        })
        .await;
    for (task, reason) in dependents {
        orchestra.emit(EventKind::TaskFailed { task, reason }).await;
    }
}
