//! Following one agent's session for the agent view. An agent's events go to its own child
//! session, not the run's, so the view reads them apart: subscribe to the session's live bus
//! first (the run's handle has it while the agent runs), then read what the store already
//! holds, then pass on the live events. The view drops live events it already read by `seq`.
//! Nothing is subscribed unless the view is open: dropping the feed unsubscribes.

use std::sync::Arc;

use code_mesh_core::{EventBus, Store};
use code_mesh_protocol::{Event, SessionId};
use futures::stream::{self, BoxStream};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::app::AgentFeed;

/// What the feed does next.
enum Step {
    /// Read the stored events, then follow the live ones (if the session is still running).
    Load(Option<Receiver<Event>>),
    Follow(Receiver<Event>),
    /// Say that nothing more will come live.
    End,
    Done,
}

struct Watch {
    session: SessionId,
    store: Option<Arc<dyn Store>>,
    step: Step,
}

/// The feed of `session`'s events: its stored events, then its live ones from `bus` (`None`:
/// the session is not running, only the stored events come).
pub(crate) fn agent_feed(
    session: SessionId,
    bus: Option<EventBus>,
    store: Option<Arc<dyn Store>>,
) -> BoxStream<'static, AgentFeed> {
    // Subscribed now, before the store is read, so no event falls between the two.
    let live = bus.map(|bus| bus.subscribe());
    let watch = Watch {
        session,
        store,
        step: Step::Load(live),
    };
    Box::pin(stream::unfold(watch, |mut watch| async move {
        let feed = match std::mem::replace(&mut watch.step, Step::Done) {
            Step::Load(live) => {
                watch.step = live.map_or(Step::End, Step::Follow);
                stored(&watch).await
            }
            Step::Follow(mut live) => match live.recv().await {
                Ok(event) => {
                    watch.step = Step::Follow(live);
                    AgentFeed::Live(event)
                }
                // Fell behind: what it missed that lasts is in the store.
                Err(RecvError::Lagged(_)) => {
                    watch.step = Step::Follow(live);
                    stored(&watch).await
                }
                Err(RecvError::Closed) => AgentFeed::Ended {
                    session: watch.session.clone(),
                },
            },
            Step::End => AgentFeed::Ended {
                session: watch.session.clone(),
            },
            Step::Done => return None,
        };
        Some((feed, watch))
    }))
}

/// The session's stored events, or why they could not be read.
async fn stored(watch: &Watch) -> AgentFeed {
    let session = watch.session.clone();
    let Some(store) = &watch.store else {
        return AgentFeed::Failed {
            message: format!(
                "the agent's earlier events cannot be shown: this UI was opened without its \
                 session store; `code-mesh sessions show {session}` prints them"
            ),
            session,
        };
    };
    match store.events(&session).await {
        Ok(events) => AgentFeed::Stored { session, events },
        Err(err) => AgentFeed::Failed {
            message: format!(
                "the agent's earlier events cannot be read ({err}); \
                 `code-mesh sessions show {session}` may print them"
            ),
            session,
        },
    }
}

/// The next feed of an open agent view, or `None` once it has ended.
pub(crate) async fn next(feed: Option<&mut BoxStream<'static, AgentFeed>>) -> Option<AgentFeed> {
    use futures::StreamExt;
    feed?.next().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use code_mesh_core::{MemoryStore, NewSession};
    use code_mesh_protocol::EventKind;
    use futures::StreamExt;
    use pretty_assertions::assert_eq;

    use super::*;

    async fn session_with_events(store: &MemoryStore, count: u64) -> SessionId {
        let info = store
            .create_session(NewSession {
                cwd: "/p".into(),
                workspace: "/p".into(),
                model: "openai/m".into(),
                parent_id: None,
                agent: Some("coder".into()),
            })
            .await
            .unwrap();
        for seq in 1..=count {
            store
                .append_event(&Event {
                    seq,
                    session_id: info.id.clone(),
                    at: 0,
                    kind: EventKind::Warning {
                        message: format!("event {seq}"),
                    },
                })
                .await
                .unwrap();
        }
        info.id
    }

    #[tokio::test]
    async fn an_ended_agents_feed_is_its_stored_events_then_the_end() {
        let store = Arc::new(MemoryStore::new());
        let session = session_with_events(&store, 2).await;
        let feeds: Vec<AgentFeed> =
            agent_feed(session.clone(), None, Some(store.clone() as Arc<dyn Store>))
                .collect()
                .await;
        assert_eq!(feeds.len(), 2, "{feeds:#?}");
        let AgentFeed::Stored { events, .. } = &feeds[0] else {
            panic!("{feeds:#?}");
        };
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(feeds[1], AgentFeed::Ended { session });
    }

    #[tokio::test]
    async fn without_a_store_the_feed_says_so_with_a_hint() {
        let session = SessionId("ses_1".into());
        let feeds: Vec<AgentFeed> = agent_feed(session.clone(), None, None).collect().await;
        let AgentFeed::Failed { message, .. } = &feeds[0] else {
            panic!("{feeds:#?}");
        };
        assert!(
            message.contains("code-mesh sessions show ses_1"),
            "{message}"
        );
        assert_eq!(feeds[1], AgentFeed::Ended { session });
    }
}
