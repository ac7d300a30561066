//! A session's events as one ordered stream: the stored events after a given `seq`, then the
//! live ones, without gaps or repeats. A watcher that falls behind the live broadcast catches up
//! from the store (transient deltas it missed are gone; the messages they made are stored).

use std::collections::VecDeque;
use std::sync::Arc;

use code_mesh_core::{CancellationToken, Store};
use code_mesh_protocol::{Event, SessionId, SessionInfo};
use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::live::{Frame, LiveSessions};

/// How many stored events one read takes.
const PAGE: usize = 500;

/// One event for a watcher: its `seq` and its JSON.
#[derive(Clone, Debug)]
pub(crate) struct StreamItem {
    pub seq: u64,
    pub json: Arc<str>,
}

/// What ends a stream early.
#[derive(Debug)]
pub(crate) enum StreamError {
    /// The store could not be read while catching up.
    Store(String),
}

struct Watch {
    store: Arc<dyn Store>,
    id: SessionId,
    /// Subscribed before the store is read, so nothing falls between the two.
    live: LiveSource,
    /// Read stored events after this seq before going live (`None`: live only).
    catch_up_from: Option<u64>,
    last_seq: u64,
    buffered: VecDeque<StreamItem>,
    stopping: CancellationToken,
    /// Drops the session's slot when the last watcher of an idle session leaves.
    _release: ReleaseOnDrop,
}

/// Where live events come from: a session the server drives (events serialised once by its
/// pump), or an agent of a run it drives (the agent's own bus, while the agent works).
enum LiveSource {
    Session(broadcast::Receiver<Arc<Frame>>),
    Agent(broadcast::Receiver<Event>),
}

impl LiveSource {
    async fn recv(&mut self) -> Result<StreamItem, RecvError> {
        match self {
            LiveSource::Session(frames) => frames.recv().await.map(|frame| StreamItem {
                seq: frame.seq,
                json: frame.json.clone(),
            }),
            LiveSource::Agent(events) => loop {
                let event = events.recv().await?;
                match serde_json::to_string(&event) {
                    Ok(json) => {
                        return Ok(StreamItem {
                            seq: event.seq,
                            json: json.into(),
                        });
                    }
                    Err(err) => tracing::warn!(%err, "an agent's event could not be serialised"),
                }
            },
        }
    }
}

struct ReleaseOnDrop {
    sessions: Arc<LiveSessions>,
    id: SessionId,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.sessions.release_if_idle(&self.id);
    }
}

/// Session `id`'s events: those stored after `after` (when given), then live ones.
pub(crate) fn session_events(
    sessions: Arc<LiveSessions>,
    store: Arc<dyn Store>,
    id: SessionId,
    after: Option<u64>,
    stopping: CancellationToken,
) -> impl Stream<Item = Result<StreamItem, StreamError>> + Send + 'static {
    let live = LiveSource::Session(sessions.subscribe(&id));
    watch(sessions, store, id, live, after, stopping)
}

/// A sub-agent's session's events: those stored after `after`, then, while the agent works in a
/// run this server drives, its live ones (from the run's handle). An agent that has ended has
/// only stored events.
pub(crate) async fn agent_events(
    sessions: Arc<LiveSessions>,
    store: Arc<dyn Store>,
    agent: &SessionInfo,
    after: Option<u64>,
    stopping: CancellationToken,
) -> impl Stream<Item = Result<StreamItem, StreamError>> + Send + 'static {
    let live = match run_of(store.as_ref(), agent).await {
        Some(run) => sessions.watch_agent(&run, &agent.id).await,
        None => None,
    };
    let live = match live {
        Some(events) => LiveSource::Agent(events),
        None => LiveSource::Session(sessions.subscribe(&agent.id)),
    };
    watch(sessions, store, agent.id.clone(), live, after, stopping)
}

/// The user session whose run `agent` works in: up its parents (agents start agents).
async fn run_of(store: &dyn Store, agent: &SessionInfo) -> Option<SessionId> {
    let mut parent = agent.parent_id.clone()?;
    // Runs nest a few levels at most; the bound guards against a cycle in bad data.
    for _ in 0..16 {
        let info = store.session(&parent).await.ok()??;
        match info.parent_id {
            Some(next) if info.agent.is_some() => parent = next,
            _ => return Some(info.id),
        }
    }
    None
}

fn watch(
    sessions: Arc<LiveSessions>,
    store: Arc<dyn Store>,
    id: SessionId,
    live: LiveSource,
    after: Option<u64>,
    stopping: CancellationToken,
) -> impl Stream<Item = Result<StreamItem, StreamError>> + Send + 'static {
    let watch = Watch {
        store,
        live,
        catch_up_from: after,
        last_seq: after.unwrap_or(0),
        buffered: VecDeque::new(),
        stopping,
        _release: ReleaseOnDrop {
            sessions,
            id: id.clone(),
        },
        id,
    };
    futures::stream::unfold(watch, |mut watch| async move {
        let item = watch.next().await?;
        Some((item, watch))
    })
}

impl Watch {
    async fn next(&mut self) -> Option<Result<StreamItem, StreamError>> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                self.last_seq = item.seq;
                return Some(Ok(item));
            }
            if let Some(after) = self.catch_up_from {
                match self.store.events_after(&self.id, after, PAGE).await {
                    Err(err) => {
                        self.catch_up_from = None;
                        return Some(Err(StreamError::Store(err.to_string())));
                    }
                    Ok(events) => {
                        self.catch_up_from = match events.last() {
                            Some(last) if events.len() == PAGE => Some(last.seq),
                            _ => None,
                        };
                        for event in events {
                            match serde_json::to_string(&event) {
                                Ok(json) => self.buffered.push_back(StreamItem {
                                    seq: event.seq,
                                    json: json.into(),
                                }),
                                Err(err) => {
                                    tracing::warn!(%err, "a stored event could not be serialised")
                                }
                            }
                        }
                        continue;
                    }
                }
            }
            let received = tokio::select! {
                () = self.stopping.cancelled() => return None,
                received = self.live.recv() => received,
            };
            match received {
                Ok(item) if item.seq > self.last_seq => {
                    self.last_seq = item.seq;
                    return Some(Ok(item));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, session = %self.id, "a stream fell behind; catching up from the store");
                    self.catch_up_from = Some(self.last_seq);
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Every live session's events as they happen (no replay); a watcher that falls behind skips
/// what it missed and is told how much.
pub(crate) fn all_events(
    sessions: &LiveSessions,
    stopping: CancellationToken,
) -> impl Stream<Item = GlobalItem> + Send + use<> {
    let live = sessions.subscribe_all();
    futures::stream::unfold((live, stopping), |(mut live, stopping)| async move {
        let received = tokio::select! {
            () = stopping.cancelled() => return None,
            received = live.recv() => received,
        };
        let item = match received {
            Ok(frame) => GlobalItem::Event(frame),
            Err(RecvError::Lagged(missed)) => GlobalItem::Missed(missed),
            Err(RecvError::Closed) => return None,
        };
        Some((item, (live, stopping)))
    })
}

pub(crate) enum GlobalItem {
    Event(Arc<Frame>),
    Missed(u64),
}
