//! What the session knows of the files its tools read and wrote, so `edit` can refuse a file
//! that changed since the model last read it and the session can notice outside changes.
//! Tools take the stamps (they own the filesystem); this only remembers them.

use std::collections::{HashMap, HashSet};
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
    /// Files seen before the context was summarised: their content is no longer in what the
    /// model is sent, so editing them waits for a fresh read.
    unread: Mutex<HashSet<PathBuf>>,
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
        self.unread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
    }

    /// Marks every file seen so far as needing a fresh read before an edit: the context was
    /// summarised and what the model read is gone from it. Stamps stay (outside changes are
    /// still noticed); recording a file again clears its mark.
    pub fn mark_all_unread(&self) {
        self.mark_unread_except(&[]);
    }

    /// [`FileTracker::mark_all_unread`] but for `keep` (files whose content is still in the
    /// context).
    pub fn mark_unread_except(&self, keep: &[PathBuf]) {
        let paths: Vec<PathBuf> = self
            .stamps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .filter(|path| !keep.contains(path))
            .cloned()
            .collect();
        self.unread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(paths);
    }

    /// Whether `path` was seen before a summary and not read since.
    pub fn needs_reread(&self, path: &Path) -> bool {
        self.unread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(path)
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
        self.unread
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> FileStamp {
        FileStamp {
            modified_ns: 1,
            len: 2,
            content_hash: None,
        }
    }

    #[test]
    fn files_seen_before_a_summary_need_a_fresh_read_except_those_kept() {
        let files = FileTracker::new();
        let (a, b) = (Path::new("/w/a.rs"), Path::new("/w/b.rs"));
        files.record(a, stamp());
        files.record(b, stamp());
        files.mark_unread_except(&[b.to_path_buf()]);
        assert!(files.needs_reread(a));
        assert!(!files.needs_reread(b));
        assert_eq!(
            files.get(a),
            Some(stamp()),
            "the stamp stays for outside changes"
        );
        files.record(a, stamp());
        assert!(!files.needs_reread(a));
        files.mark_all_unread();
        assert!(files.needs_reread(b));
        files.forget(b);
        assert!(!files.needs_reread(b));
        assert!(!files.needs_reread(Path::new("/w/never-seen.rs")));
    }
}
