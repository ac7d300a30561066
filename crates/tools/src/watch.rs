//! [`ExternalChangeWatch`]: before each turn, checks the files the agent has read or written
//! and tells the session (a `warning` event, and a notice to the model with the prompt) about
//! every one that changed or disappeared since the agent last saw it.
//!
//! The watch only reports; it updates no stamp (the next read does), and it reports one
//! change once. With a state directory it keeps each session's stamps there between runs,
//! so `code-mesh run -c` notices what changed between two invocations.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use code_mesh_core::{FileStamp, FileTracker, TurnHookContext, TurnHooks};
use code_mesh_protocol::SessionId;
use serde::{Deserialize, Serialize};

use crate::stamps::{self, Drift};

/// Reports files changed or deleted behind the agent's back, before each turn.
#[derive(Debug, Default)]
pub struct ExternalChangeWatch {
    state_dir: Option<PathBuf>,
    /// Per session: what was last reported for each file, so a change is told once.
    reported: Mutex<HashMap<SessionId, BTreeMap<PathBuf, Observation>>>,
}

/// What the watch saw of a changed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum Observation {
    Modified { modified_ns: u128 },
    Deleted,
}

/// A session's stamps and reports, as kept in the state directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedState {
    files: Vec<SavedStamp>,
    #[serde(default)]
    reported: BTreeMap<PathBuf, Observation>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedStamp {
    path: PathBuf,
    modified_ns: u128,
    len: u64,
    content_hash: Option<u64>,
}

impl ExternalChangeWatch {
    /// A watch that remembers stamps only as long as the process runs.
    pub fn new() -> Self {
        ExternalChangeWatch::default()
    }

    /// A watch that keeps each session's stamps in `state_dir` (one JSON file per session)
    /// so a later process continuing the session knows what the agent saw.
    pub fn persisting_in(state_dir: impl Into<PathBuf>) -> Self {
        ExternalChangeWatch {
            state_dir: Some(state_dir.into()),
            ..ExternalChangeWatch::default()
        }
    }

    fn state_file(&self, session: &SessionId) -> Option<PathBuf> {
        let name: String = session
            .0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.state_dir
            .as_ref()
            .map(|dir| dir.join(format!("{name}.json")))
    }

    fn reported(&self, session: &SessionId) -> BTreeMap<PathBuf, Observation> {
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session)
            .cloned()
            .unwrap_or_default()
    }

    fn set_reported(&self, session: &SessionId, reported: BTreeMap<PathBuf, Observation>) {
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session.clone(), reported);
    }
}

#[async_trait]
impl TurnHooks for ExternalChangeWatch {
    async fn before_turn(&self, context: &TurnHookContext) -> Vec<String> {
        let state_file = self.state_file(&context.session_id);
        let files = context.files.clone();
        let cwd = context.cwd.clone();
        let mut reported = self.reported(&context.session_id);
        let checked = tokio::task::spawn_blocking(move || {
            if let Some(saved) = state_file.as_deref().and_then(load) {
                restore(&files, &saved);
                for (path, observation) in saved.reported {
                    reported.entry(path).or_insert(observation);
                }
            }
            let notices = check(&files, &cwd, &mut reported);
            (notices, reported)
        })
        .await;
        match checked {
            Ok((notices, reported)) => {
                self.set_reported(&context.session_id, reported);
                notices
            }
            Err(error) => {
                tracing::warn!(%error, "checking files for outside changes failed");
                Vec::new()
            }
        }
    }

    async fn after_turn(&self, context: &TurnHookContext) {
        let Some(state_file) = self.state_file(&context.session_id) else {
            return;
        };
        let state = SavedState {
            files: context
                .files
                .all()
                .into_iter()
                .map(|(path, stamp)| SavedStamp {
                    path,
                    modified_ns: stamp.modified_ns,
                    len: stamp.len,
                    content_hash: stamp.content_hash,
                })
                .collect(),
            reported: self.reported(&context.session_id),
        };
        let saved = tokio::task::spawn_blocking(move || save(&state_file, &state)).await;
        if let Ok(Err(error)) | Err(error) = saved.map_err(std::io::Error::other) {
            tracing::warn!(%error, "cannot keep the session's file stamps");
        }
    }
}

fn load(path: &Path) -> Option<SavedState> {
    let text = fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(state) => Some(state),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "ignoring unreadable file stamps");
            None
        }
    }
}

fn save(path: &Path, state: &SavedState) -> std::io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(directory)?;
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    temporary.write_all(&serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Gives the tracker the stamps of files it does not know yet (a new process continuing
/// the session); what it knows from this process is newer.
fn restore(files: &FileTracker, saved: &SavedState) {
    for stamp in &saved.files {
        if files.get(&stamp.path).is_none() {
            files.record(
                &stamp.path,
                FileStamp {
                    modified_ns: stamp.modified_ns,
                    len: stamp.len,
                    content_hash: stamp.content_hash,
                },
            );
        }
    }
}

/// One notice per tracked file that drifted and was not reported as it is now.
fn check(
    files: &FileTracker,
    cwd: &Path,
    reported: &mut BTreeMap<PathBuf, Observation>,
) -> Vec<String> {
    let mut tracked = files.all();
    tracked.sort_by(|a, b| a.0.cmp(&b.0));
    let mut notices = Vec::new();
    for (path, stamp) in tracked {
        let observation = match stamps::drift(&path, &stamp, None) {
            Drift::Unchanged => {
                reported.remove(&path);
                continue;
            }
            Drift::Modified(modified_ns) => Observation::Modified { modified_ns },
            Drift::Deleted => Observation::Deleted,
        };
        if reported.get(&path) == Some(&observation) {
            continue;
        }
        reported.insert(path.clone(), observation);
        let shown = path
            .strip_prefix(cwd)
            .unwrap_or(&path)
            .display()
            .to_string();
        notices.push(match observation {
            Observation::Modified { modified_ns } => format!(
                "`{shown}` changed since you last read it (modified {}, not through your file \
                 tools); read it again before relying on what you saw or editing it",
                stamps::ago(modified_ns)
            ),
            Observation::Deleted => format!(
                "`{shown}` was deleted since you last read it (not through your file tools)"
            ),
        });
    }
    // Files no longer tracked need no report state.
    reported.retain(|path, _| files.get(path).is_some());
    notices
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn context(dir: &Path, files: Arc<FileTracker>) -> TurnHookContext {
        TurnHookContext {
            session_id: SessionId("s-1".into()),
            turn: code_mesh_protocol::TurnId(1),
            workspace: dir.to_path_buf(),
            cwd: dir.to_path_buf(),
            files,
        }
    }

    fn seen(path: &Path) -> FileStamp {
        let bytes = fs::read(path).unwrap();
        stamps::stamp(
            &fs::metadata(path).unwrap(),
            Some(stamps::content_hash(&bytes)),
        )
    }

    #[tokio::test]
    async fn changed_and_deleted_files_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (kept, changed, deleted) = (root.join("a"), root.join("b"), root.join("c"));
        for path in [&kept, &changed, &deleted] {
            fs::write(path, "one\n").unwrap();
        }
        let files = Arc::new(FileTracker::new());
        for path in [&kept, &changed, &deleted] {
            files.record(path, seen(path));
        }
        let watch = ExternalChangeWatch::new();
        let context = context(&root, files.clone());
        assert!(watch.before_turn(&context).await.is_empty());
        fs::write(&changed, "two, longer\n").unwrap();
        fs::remove_file(&deleted).unwrap();
        let notices = watch.before_turn(&context).await;
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(notices[0].starts_with("`b` changed since you last read it"));
        assert!(notices[1].starts_with("`c` was deleted"));
        // Nothing is updated: the stamp is still the old one, but the change is told once.
        assert_eq!(files.get(&changed).unwrap().len, 4);
        assert!(watch.before_turn(&context).await.is_empty());
        fs::write(&changed, "three, longer still\n").unwrap();
        assert_eq!(watch.before_turn(&context).await.len(), 1);
    }

    #[tokio::test]
    async fn stamps_survive_a_new_process_through_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let file = root.join("lib.rs");
        fs::write(&file, "fn a() {}\n").unwrap();
        let state = root.join("state");
        let first = Arc::new(FileTracker::new());
        first.record(&file, seen(&file));
        let watch = ExternalChangeWatch::persisting_in(&state);
        watch.after_turn(&context(&root, first)).await;
        fs::write(&file, "fn b() { changed(); }\n").unwrap();

        let second = Arc::new(FileTracker::new());
        let later = ExternalChangeWatch::persisting_in(&state);
        let notices = later.before_turn(&context(&root, second.clone())).await;
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].starts_with("`lib.rs` changed"), "{notices:?}");
        assert_eq!(
            second.get(&file).unwrap().len,
            10,
            "the old stamp is restored"
        );
    }
}
