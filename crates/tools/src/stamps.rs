//! What the file tools tell the session's [`FileTracker`]: a [`FileStamp`] for every file
//! read or written, and the check that refuses to edit a file that changed since then.
//!
//! Policy: a file the agent has never read or written in this session may be edited (the
//! exact-match rules of `edit`, `multiedit` and `apply_patch` already prove the model knows
//! the text it replaces, and models that patch without reading first are common); a file it
//! has seen must still be as it was last seen.

use std::fs::{self, Metadata};
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use code_mesh_core::{FileStamp, ToolContext, ToolError};
use sha2::{Digest, Sha256};

/// A content hash that is the same in every build (stamps outlive one process): the first
/// eight bytes of SHA-256.
pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    Hasher::default().update(bytes).finish()
}

/// Incremental [`content_hash`].
#[derive(Clone, Default)]
pub(crate) struct Hasher(Sha256);

impl Hasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(bytes);
        self
    }

    pub(crate) fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// Modification time of `metadata` in nanoseconds since the Unix epoch (0 when unknown).
pub(crate) fn modified_ns(metadata: &Metadata) -> u128 {
    metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos())
}

pub(crate) fn stamp(metadata: &Metadata, content_hash: Option<u64>) -> FileStamp {
    FileStamp {
        modified_ns: modified_ns(metadata),
        len: metadata.len(),
        content_hash,
    }
}

/// Records that the agent has just written `contents` to `path` (or read them whole).
pub(crate) fn record_contents(context: &ToolContext, path: &Path, contents: &[u8]) {
    if let Ok(metadata) = fs::metadata(path) {
        let hash = (metadata.len() == contents.len() as u64).then(|| content_hash(contents));
        context.files.record(path, stamp(&metadata, hash));
    }
}

/// How a file compares with the stamp taken when the agent last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drift {
    Unchanged,
    /// Changed; modified at this time (ns since the epoch).
    Modified(u128),
    Deleted,
}

/// Compares the file at `path` with `seen`. When only the time moved but the length is the
/// same and a hash is known, the content decides (a `touch` or a checkout of the same text
/// is no change). `contents` are the file's bytes when the caller already has them.
pub(crate) fn drift(path: &Path, seen: &FileStamp, contents: Option<&[u8]>) -> Drift {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Drift::Deleted,
        // Unreadable now: the tool that touches it will say why.
        Err(_) => return Drift::Unchanged,
    };
    let now = stamp(&metadata, None);
    if now.modified_ns == seen.modified_ns && now.len == seen.len {
        return Drift::Unchanged;
    }
    if let Some(hash) = seen.content_hash
        && now.len == seen.len
    {
        let same = match contents {
            Some(bytes) => content_hash(bytes) == hash,
            None => fs::read(path).is_ok_and(|bytes| content_hash(&bytes) == hash),
        };
        if same {
            return Drift::Unchanged;
        }
    }
    Drift::Modified(now.modified_ns)
}

/// Refuses to change `path` when the agent saw it before and it has changed since.
pub(crate) fn check_unchanged(
    context: &ToolContext,
    path: &Path,
    display: &str,
    contents: &[u8],
) -> Result<(), ToolError> {
    if context.files.needs_reread(path) {
        return Err(ToolError::new(format!(
            "`{display}` was read before the conversation was summarised, so its exact content \
             is no longer in your context; read it again before editing it"
        )));
    }
    let Some(seen) = context.files.get(path) else {
        return Ok(());
    };
    match drift(path, &seen, Some(contents)) {
        Drift::Unchanged => Ok(()),
        Drift::Modified(at) => Err(ToolError::new(format!(
            "`{display}` changed since you last read it (modified {} by something else); read \
             it again before editing",
            ago(at)
        ))),
        Drift::Deleted => Err(ToolError::new(format!(
            "`{display}` was deleted since you last read it; check with `ls` or `glob` whether \
             it moved, and create it anew only if that is intended"
        ))),
    }
}

/// "3 s ago", "4 min ago", "2 h ago", "5 days ago"; "just now" for times not in the past.
pub(crate) fn ago(at_ns: u128) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let seconds = now.saturating_sub(at_ns) / 1_000_000_000;
    match seconds {
        0 => "just now".to_string(),
        1..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_and_incremental() {
        assert_eq!(content_hash(b"hello"), content_hash(b"hello"));
        assert_ne!(content_hash(b"hello"), content_hash(b"hellp"));
        let mut hasher = Hasher::default();
        hasher.update(b"hel").update(b"lo");
        assert_eq!(hasher.finish(), content_hash(b"hello"));
        // SHA-256("") starts e3 b0 c4 42 98 fc 1c 14.
        assert_eq!(content_hash(b""), 0x141c_fc98_42c4_b0e3);
    }

    #[test]
    fn same_content_with_a_new_time_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "one").unwrap();
        let metadata = fs::metadata(&path).unwrap();
        let seen = FileStamp {
            modified_ns: modified_ns(&metadata) - 5,
            ..stamp(&metadata, Some(content_hash(b"one")))
        };
        assert_eq!(drift(&path, &seen, None), Drift::Unchanged);
        let without_hash = FileStamp {
            content_hash: None,
            ..seen
        };
        assert!(matches!(
            drift(&path, &without_hash, None),
            Drift::Modified(_)
        ));
        fs::write(&path, "two").unwrap();
        assert!(matches!(drift(&path, &seen, None), Drift::Modified(_)));
        fs::remove_file(&path).unwrap();
        assert_eq!(drift(&path, &seen, None), Drift::Deleted);
    }

    #[test]
    fn ages_are_short() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        assert_eq!(ago(now + 10), "just now");
        assert_eq!(ago(now - 3_500_000_000), "3 s ago");
        assert_eq!(ago(now - 120 * 1_000_000_000), "2 min ago");
    }
}
