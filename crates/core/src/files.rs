//! What the session knows of the files its tools read and wrote, so `edit` can refuse a file
//! that changed since the model last read it and the session can notice outside changes.
//! Tools take the stamps (they own the filesystem); this only remembers them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// A file's state when a tool last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Modification time in nanoseconds since the Unix epoch.
    pub modified_ns: u128,
    pub len: u64,
    /// A hash of the content, when the tool read it whole.
    pub content_hash: Option<u64>,
}

/// Per-session record of files read or written by the agent, by canonical path.
#[derive(Debug, Default)]
pub struct FileTracker {
    stamps: Mutex<HashMap<PathBuf, FileStamp>>,
}

impl FileTracker {
    pub fn new() -> Self {
        FileTracker::default()
    }

    /// Records that the agent has seen (read or written) `path` as `stamp`.
    pub fn record(&self, path: &Path, stamp: FileStamp) {
        self.stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_path_buf(), stamp);
    }

    /// The stamp recorded for `path`, if the agent has seen it.
    pub fn get(&self, path: &Path) -> Option<FileStamp> {
        self.stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .copied()
    }

    pub fn forget(&self, path: &Path) {
        self.stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
    }

    /// Every tracked file and its stamp.
    pub fn all(&self) -> Vec<(PathBuf, FileStamp)> {
        self.stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(path, stamp)| (path.clone(), *stamp))
            .collect()
    }
}
