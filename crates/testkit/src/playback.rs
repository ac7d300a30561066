//! Plays a list of events as a streamed response body: one body frame per event, so
//! hyper writes (and the client sees) each one as it is produced, with the scripted
//! delay between them, and an abrupt close for `cut_after`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;

use crate::state::{InFlight, Shared};

/// Tool calls to record as issued once the reply reaches its finish event: a stream cut
/// earlier never completed, so the client owes nothing for it.
pub(crate) struct Issue {
    pub shared: Arc<Shared>,
    pub ids: Vec<String>,
    pub turn: usize,
    pub conversation: Option<String>,
    /// Index of the event before which the calls count as issued.
    pub at_event: usize,
}

/// A response body in the making.
pub(crate) struct Playback {
    pub events: Vec<Bytes>,
    pub chunk_delay: Duration,
    pub cut_after: Option<usize>,
    pub issue: Option<Issue>,
    /// Held, never read: dropping it marks the response finished.
    pub _in_flight: InFlight,
}

struct Cursor {
    playback: Playback,
    next: usize,
    ended: bool,
}

impl Playback {
    /// The streamed body.
    pub fn into_body(self) -> Body {
        let cursor = Cursor {
            playback: self,
            next: 0,
            ended: false,
        };
        Body::from_stream(futures::stream::unfold(cursor, step))
    }
}

async fn step(mut cursor: Cursor) -> Option<(Result<Bytes, io::Error>, Cursor)> {
    if cursor.ended {
        return None;
    }
    let playback = &mut cursor.playback;
    if playback.cut_after.is_some_and(|limit| cursor.next >= limit) {
        // Hyper drops whatever it has buffered when the body fails, and it only flushes
        // when the body is pending: yield once so the events before the cut go out.
        tokio::task::yield_now().await;
        // A body error makes hyper close the connection without the chunked terminator:
        // the client sees a transport error, as with a real dropped connection.
        cursor.ended = true;
        let error = io::Error::new(io::ErrorKind::ConnectionAborted, "testkit: `cut_after`");
        return Some((Err(error), cursor));
    }
    let event = playback.events.get(cursor.next)?.clone();
    if cursor.next > 0 && !playback.chunk_delay.is_zero() {
        tokio::time::sleep(playback.chunk_delay).await;
    }
    // Issued before the finish event leaves, so a client that reacts to it at once
    // can never send its next request before the server expects the results.
    if playback
        .issue
        .as_ref()
        .is_some_and(|issue| issue.at_event == cursor.next)
        && let Some(issue) = playback.issue.take()
    {
        issue
            .shared
            .issue(&issue.ids, issue.turn, issue.conversation);
    }
    cursor.next += 1;
    Some((Ok(event), cursor))
}
