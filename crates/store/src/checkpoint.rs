//! Moving WAL checkpoints off the append path.
//!
//! In WAL mode SQLite copies the log back into the database ("checkpoints") when the log
//! passes `wal_autocheckpoint` pages, inside whichever commit crosses the line, and that
//! commit then pays for the copy and an fsync: the store's append p99 was 0.25–0.3 ms and its
//! worst 25 ms because of it. Instead, the writer's automatic checkpoint is raised to a
//! fallback that only a stalled checkpointer would reach, and every [`CHECKPOINT_EVERY`]
//! commits a background thread (started on first need, so short runs never start it) runs a
//! `PASSIVE` checkpoint on its own connection, which never blocks readers or writers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

use crate::schema;

/// Commits between background checkpoints; with SQLite's default of 1,000 pages, a similar
/// amount of log for typical events.
pub(crate) const CHECKPOINT_EVERY: u32 = 500;

/// The writer's own automatic checkpoint, in pages (about 40 MB with 4 KiB pages): reached
/// only if the background checkpoints stop keeping up.
pub(crate) const FALLBACK_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Asks a background thread for a checkpoint every [`CHECKPOINT_EVERY`] commits.
pub(crate) struct Checkpointer {
    path: PathBuf,
    commits: AtomicU32,
    /// The thread's wake-up channel, once it runs. Dropping it ends the thread.
    wake: Mutex<Option<SyncSender<()>>>,
    /// Checkpoints the thread has completed.
    done: Arc<AtomicU32>,
}

impl Checkpointer {
    pub(crate) fn new(path: &Path) -> Self {
        Checkpointer {
            path: path.to_path_buf(),
            commits: AtomicU32::new(0),
            wake: Mutex::new(None),
            done: Arc::default(),
        }
    }

    /// Checkpoints completed in the background so far.
    pub(crate) fn done(&self) -> u32 {
        self.done.load(Ordering::Relaxed)
    }

    /// Counts a commit, and asks for a checkpoint when enough have been made.
    pub(crate) fn committed(&self) {
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if commits.is_multiple_of(CHECKPOINT_EVERY) {
            self.request();
        }
    }

    fn request(&self) {
        let mut wake = self.wake.lock().unwrap_or_else(PoisonError::into_inner);
        if wake.is_none() {
            *wake = self.start();
        }
        let Some(sender) = wake.as_ref() else {
            return;
        };
        match sender.try_send(()) {
            // A request already waiting covers this one.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                // The thread ended (its connection failed); the writer's fallback
                // checkpoint takes over.
                *wake = None;
            }
        }
    }

    fn start(&self) -> Option<SyncSender<()>> {
        let connection = match schema::connect(&self.path) {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, "no background checkpoints; commits will checkpoint");
                return None;
            }
        };
        let (sender, receiver) = sync_channel(1);
        let path = self.path.clone();
        let done = self.done.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &connection, &receiver, &done));
        match spawned {
            Ok(_) => Some(sender),
            Err(error) => {
                tracing::warn!(%error, "no background checkpoints; commits will checkpoint");
                None
            }
        }
    }
}

fn run(path: &Path, connection: &Connection, wake: &Receiver<()>, done: &AtomicU32) {
    while wake.recv().is_ok() {
        // PASSIVE copies what it can without waiting for any lock; busy frames wait for the
        // next round.
        let result = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match result {
            Ok((log, copied)) => {
                done.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(path = %path.display(), log, copied, "checkpointed");
            }
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "background checkpoint failed");
            }
        }
    }
}
