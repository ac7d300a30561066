//! Completion of the word at the editor's cursor: `@file` mentions from the workspace's files,
//! and slash command names while the prompt is a lone `/word`.
//!
//! The file list is walked once, on the first `@`, in a thread of its own (the way ripgrep
//! walks: `.gitignore`, `.ignore` and hidden files honoured), capped at [`MAX_FILES`]. Matching
//! is nucleo's (helix's fuzzy matcher) with its path bonuses: a query's characters score more
//! after a `/`, so `@ma` puts `src/main.rs` before `crates/format/amend.rs`.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use tokio::sync::Notify;

use super::commands::COMMANDS;
use super::editor::{Editor, Word};

/// Files the index keeps at most: a home directory opened by mistake stays cheap.
pub const MAX_FILES: usize = 50_000;
/// Rows the popup offers at most.
pub const MAX_ITEMS: usize = 8;

/// The files under a root, listed once in a background thread.
#[derive(Clone, Debug)]
pub struct FileIndex {
    root: PathBuf,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<IndexState>,
    /// Tells a waiting test that the walk ended.
    walked: Condvar,
    /// Wakes the UI's loop when the walk ends, so an open popup fills without a key press.
    ready: Arc<Notify>,
}

/// Where the file list is.
#[derive(Clone, Debug)]
pub enum IndexState {
    NotStarted,
    Walking,
    Ready(Arc<FileList>),
    /// The walk could not start or read the root: one sentence for the popup.
    Failed(String),
}

/// The workspace's files, relative to its root with `/` between the parts, sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileList {
    pub paths: Vec<String>,
    /// The walk stopped at [`MAX_FILES`].
    pub truncated: bool,
}

impl FileIndex {
    /// An index of `root`'s files that walks nothing until [`FileIndex::state`] first asks.
    pub fn new(root: PathBuf, ready: Arc<Notify>) -> Self {
        FileIndex {
            root,
            shared: Arc::new(Shared {
                state: Mutex::new(IndexState::NotStarted),
                walked: Condvar::new(),
                ready,
            }),
        }
    }

    /// The list, starting the walk on the first call.
    pub fn state(&self) -> IndexState {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, IndexState::NotStarted) {
            *state = IndexState::Walking;
            let root = self.root.clone();
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("file-index".to_owned())
                .spawn(move || {
                    let result = match walk(&root, MAX_FILES) {
                        Ok(list) => IndexState::Ready(Arc::new(list)),
                        Err(message) => IndexState::Failed(message),
                    };
                    *shared.state.lock().unwrap_or_else(PoisonError::into_inner) = result;
                    shared.walked.notify_all();
                    shared.ready.notify_one();
                });
            if let Err(err) = spawned {
                *state = IndexState::Failed(format!("cannot list the files: {err}"));
            }
        }
        state.clone()
    }

    /// Blocks until the walk has ended (tests only: the UI never waits).
    #[cfg(test)]
    pub fn wait(&self) -> IndexState {
        let _ = self.state();
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let state = self
            .shared
            .walked
            .wait_while(state, |state| matches!(state, IndexState::Walking))
            .unwrap_or_else(PoisonError::into_inner);
        state.clone()
    }
}

/// The files under `root` as ripgrep would search them, at most `limit` of them.
pub fn walk(root: &Path, limit: usize) -> Result<FileList, String> {
    let metadata = std::fs::metadata(root)
        .map_err(|err| format!("cannot list the files of `{}`: {err}", root.display()))?;
    if !metadata.is_dir() {
        return Err(format!("`{}` is not a directory", root.display()));
    }
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(true)
        .parents(true)
        .ignore(true)
        .git_ignore(true)
        .git_global(true)
        .git_exclude(true)
        // A workspace that is not a git checkout still means its .gitignore.
        .require_git(false)
        .follow_links(false);
    let mut list = FileList::default();
    // Entries that cannot be read (a directory without permission) are left out.
    for entry in builder.build().flatten() {
        if !entry.file_type().is_some_and(|kind| kind.is_file()) {
            continue;
        }
        if list.paths.len() == limit {
            list.truncated = true;
            break;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let parts: Vec<String> = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect();
        list.paths.push(parts.join("/"));
    }
    list.paths.sort();
    Ok(list)
}

/// One offer of the popup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The path or the command name, shown and inserted.
    pub text: String,
    /// Characters of `text` the query matched, for the popup to mark.
    pub matched: Vec<usize>,
    /// A command's one-line description.
    pub detail: Option<&'static str>,
}

/// The best `limit` of `candidates` for `query`: nucleo's score first, then the shorter, then
/// in order. An empty query keeps the candidates' order, shallow paths first when `paths`.
pub fn rank<'c>(
    query: &str,
    candidates: impl IntoIterator<Item = &'c str>,
    paths: bool,
    limit: usize,
) -> Vec<Item> {
    let config = if paths {
        Config::DEFAULT.match_paths()
    } else {
        Config::DEFAULT
    };
    let mut matcher = Matcher::new(config);
    let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
    let mut buffer = Vec::new();
    let mut scored: Vec<(u32, usize, &str)> = candidates
        .into_iter()
        .enumerate()
        .filter_map(|(order, text)| {
            let score = pattern.score(Utf32Str::new(text, &mut buffer), &mut matcher)?;
            Some((score, order, text))
        })
        .collect();
    if query.is_empty() && paths {
        scored.sort_by_key(|(_, order, text)| (text.matches('/').count(), *order));
    } else {
        scored.sort_by_key(|(score, order, text)| (Reverse(*score), text.chars().count(), *order));
    }
    scored
        .into_iter()
        .take(limit)
        .map(|(_, _, text)| {
            let mut matched = Vec::new();
            pattern.indices(Utf32Str::new(text, &mut buffer), &mut matcher, &mut matched);
            matched.sort_unstable();
            matched.dedup();
            Item {
                text: text.to_owned(),
                matched: matched.into_iter().map(|index| index as usize).collect(),
                detail: None,
            }
        })
        .collect()
}

/// What the popup completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopupKind {
    File,
    Command,
}

/// The open popup: the word it would replace and its offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Popup {
    pub kind: PopupKind,
    /// The word the popup completes (its `@` or `/` included).
    pub word: Word,
    pub items: Vec<Item>,
    pub selected: usize,
    /// A line shown instead of or under the items: the walk going on, no match, a failure,
    /// a list cut short.
    pub note: Option<String>,
}

impl Popup {
    pub fn selected_item(&self) -> Option<&Item> {
        self.items.get(self.selected)
    }
}

/// The completion state beside the editor.
#[derive(Clone, Debug)]
pub struct Completer {
    /// No root, no file mentions.
    files: Option<FileIndex>,
    ready: Arc<Notify>,
    popup: Option<Popup>,
    /// The word whose popup Esc closed: it stays closed while the cursor is in that word.
    dismissed: Option<(usize, usize)>,
    /// The editor's text and cursor at the last update: keys that change neither (the
    /// popup's own arrows) do not rank the files again.
    seen: Option<(String, (usize, usize))>,
}

impl Default for Completer {
    fn default() -> Self {
        Completer {
            files: None,
            ready: Arc::new(Notify::new()),
            popup: None,
            dismissed: None,
            seen: None,
        }
    }
}

impl Completer {
    /// Completes `@` mentions with the files under `root`.
    pub fn set_root(&mut self, root: PathBuf) {
        self.files = Some(FileIndex::new(root, Arc::clone(&self.ready)));
    }

    /// Notified when the file list is ready, so the loop redraws an open popup.
    pub fn ready_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.ready)
    }

    /// The file index, when there is a root.
    pub fn files(&self) -> Option<&FileIndex> {
        self.files.as_ref()
    }

    pub fn popup(&self) -> Option<&Popup> {
        self.popup.as_ref()
    }

    pub fn is_open(&self) -> bool {
        self.popup.is_some()
    }

    pub fn select_next(&mut self) {
        if let Some(popup) = &mut self.popup
            && !popup.items.is_empty()
        {
            popup.selected = (popup.selected + 1) % popup.items.len();
        }
    }

    pub fn select_previous(&mut self) {
        if let Some(popup) = &mut self.popup
            && !popup.items.is_empty()
        {
            popup.selected = popup
                .selected
                .checked_sub(1)
                .unwrap_or(popup.items.len() - 1);
        }
    }

    /// Esc: closes the popup until the cursor leaves the word.
    pub fn dismiss(&mut self) {
        if let Some(popup) = self.popup.take() {
            self.dismissed = Some((popup.word.row, popup.word.start));
        }
    }

    /// Puts the selected offer in place of the word, with a space after it; false when
    /// nothing is selected.
    pub fn accept(&mut self, editor: &mut Editor) -> bool {
        let Some(popup) = self.popup.take() else {
            return false;
        };
        let Some(item) = popup.selected_item() else {
            self.popup = Some(popup);
            return false;
        };
        let text = match popup.kind {
            PopupKind::File if item.text.contains(char::is_whitespace) => {
                format!("@\"{}\" ", item.text)
            }
            PopupKind::File => format!("@{} ", item.text),
            PopupKind::Command => format!("{} ", item.text),
        };
        editor.replace(&popup.word, &text);
        true
    }

    /// Whether the word is already exactly the selected offer (Enter then does what it does
    /// without a popup: sends).
    pub fn selection_is_typed(&self) -> bool {
        self.popup.as_ref().is_some_and(|popup| {
            popup.selected_item().is_some_and(|item| {
                let typed = match popup.kind {
                    PopupKind::File => popup.word.text.strip_prefix('@'),
                    PopupKind::Command => Some(popup.word.text.as_str()),
                };
                typed == Some(item.text.as_str())
            })
        })
    }

    /// Opens, refreshes or closes the popup for the word now at the cursor.
    pub fn update(&mut self, editor: &Editor) {
        let seen = (editor.text(), editor.cursor());
        if self.seen.as_ref() == Some(&seen) {
            return;
        }
        self.seen = Some(seen);
        self.refresh(editor);
    }

    /// Like [`Completer::update`], even when the editor has not changed (the file list
    /// arrived).
    pub fn refresh(&mut self, editor: &Editor) {
        let next = self.popup_for(editor);
        if let (Some(next), Some(previous)) = (&next, &self.popup) {
            // The same word with the same offers (the list arrived, the cursor moved within
            // the word): keep the selection.
            let mut next_selection = 0;
            if next.word.text == previous.word.text
                && let Some(item) = previous.selected_item()
                && let Some(index) = next.items.iter().position(|other| other.text == item.text)
            {
                next_selection = index;
            }
            self.popup = Some(Popup {
                selected: next_selection,
                ..next.clone()
            });
            return;
        }
        self.popup = next;
    }

    fn popup_for(&mut self, editor: &Editor) -> Option<Popup> {
        let word = editor.word_at_cursor()?;
        if self.dismissed == Some((word.row, word.start)) {
            return None;
        }
        self.dismissed = None;
        if word.row == 0
            && word.start == 0
            && editor.lines().len() == 1
            && let Some(query) = word.text.strip_prefix('/')
            && word.end == editor.lines()[0].chars().count()
        {
            return command_popup(word.clone(), query);
        }
        let query = word.typed.strip_prefix('@')?.to_owned();
        let files = self.files.as_ref()?;
        let mut popup = Popup {
            kind: PopupKind::File,
            word,
            items: Vec::new(),
            selected: 0,
            note: None,
        };
        match files.state() {
            IndexState::NotStarted | IndexState::Walking => {
                popup.note = Some("listing the workspace's files…".to_owned());
            }
            IndexState::Failed(message) => popup.note = Some(message),
            IndexState::Ready(list) => {
                popup.items = rank(
                    &query,
                    list.paths.iter().map(String::as_str),
                    true,
                    MAX_ITEMS,
                );
                if popup.items.is_empty() {
                    if list.paths.is_empty() {
                        popup.note = Some("no files in the workspace".to_owned());
                    } else {
                        popup.note = Some(format!("no file matches `{query}`"));
                    }
                } else if list.truncated {
                    popup.note = Some(format!("only the first {MAX_FILES} files are listed"));
                }
            }
        }
        Some(popup)
    }
}

/// The commands matching a lone `/word`; none (no popup) when nothing matches, so an unknown
/// command is left to say so when sent.
fn command_popup(word: Word, query: &str) -> Option<Popup> {
    let names: Vec<&str> = COMMANDS.iter().map(|(name, _)| &name[1..]).collect();
    let mut items = rank(query, names.iter().copied(), false, MAX_ITEMS);
    if items.is_empty() {
        return None;
    }
    for item in &mut items {
        item.detail = COMMANDS
            .iter()
            .find(|(name, _)| name[1..] == item.text)
            .map(|(_, detail)| *detail);
        item.text.insert(0, '/');
        // The `/` is not part of what matched: the marks move one right.
        for index in &mut item.matched {
            *index += 1;
        }
    }
    Some(Popup {
        kind: PopupKind::Command,
        word,
        items,
        selected: 0,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FILES: &[&str] = &[
        "Cargo.toml",
        "README.md",
        "crates/format/amend.rs",
        "crates/tui/src/app/mod.rs",
        "docs/manual.md",
        "src/lib.rs",
        "src/main.rs",
    ];

    fn texts(items: &[Item]) -> Vec<&str> {
        items.iter().map(|item| item.text.as_str()).collect()
    }

    #[test]
    fn a_query_after_a_slash_ranks_the_file_name_first() {
        let items = rank("ma", FILES.iter().copied(), true, MAX_ITEMS);
        assert_eq!(texts(&items)[0], "src/main.rs");
        assert!(texts(&items).contains(&"docs/manual.md"));
        // Every character matched is marked, in order.
        assert_eq!(items[0].matched, [4, 5]);
    }

    #[test]
    fn fuzzy_queries_span_directories() {
        let items = rank("tuiapp", FILES.iter().copied(), true, MAX_ITEMS);
        assert_eq!(texts(&items), ["crates/tui/src/app/mod.rs"]);
        assert!(rank("zzz", FILES.iter().copied(), true, MAX_ITEMS).is_empty());
    }

    #[test]
    fn smart_case_and_the_limit() {
        // An upper-case letter asks for that case.
        assert_eq!(
            texts(&rank("READ", FILES.iter().copied(), true, MAX_ITEMS)),
            ["README.md"]
        );
        assert_eq!(rank("", FILES.iter().copied(), true, 3).len(), 3);
        // An empty query offers the shallow files first.
        assert_eq!(
            texts(&rank("", FILES.iter().copied(), true, 2)),
            ["Cargo.toml", "README.md"]
        );
    }

    #[test]
    fn equal_scores_prefer_the_shorter_path() {
        let items = rank("lib", ["src/deep/er/lib.rs", "src/lib.rs"], true, 2);
        assert_eq!(texts(&items), ["src/lib.rs", "src/deep/er/lib.rs"]);
    }

    #[test]
    fn the_walk_honours_gitignore_and_hidden_files_and_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in [
            "src/main.rs",
            "src/lib.rs",
            "target/debug/out",
            ".hidden/secret",
            "notes.log",
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
        let list = walk(root, MAX_FILES).unwrap();
        assert_eq!(list.paths, ["src/lib.rs", "src/main.rs"]);
        assert!(!list.truncated);
        let capped = walk(root, 1).unwrap();
        assert_eq!(capped.paths.len(), 1);
        assert!(capped.truncated);
        let missing = walk(&root.join("nowhere"), MAX_FILES).unwrap_err();
        assert!(missing.starts_with("cannot list the files of"), "{missing}");
    }

    #[test]
    fn the_index_walks_once_in_the_background_and_signals() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        let ready = Arc::new(Notify::new());
        let index = FileIndex::new(dir.path().to_owned(), Arc::clone(&ready));
        match index.wait() {
            IndexState::Ready(list) => assert_eq!(list.paths, ["a.txt"]),
            other => panic!("not ready: {other:?}"),
        }
        // The walk left a permit for the loop: a waiter now returns at once.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(ready.notified());
        // A file added later is not seen: the list is walked once.
        std::fs::write(dir.path().join("b.txt"), "x").unwrap();
        match index.state() {
            IndexState::Ready(list) => assert_eq!(list.paths, ["a.txt"]),
            other => panic!("not ready: {other:?}"),
        }
    }

    #[test]
    fn every_offered_command_is_one_the_editor_runs() {
        use super::super::SlashCommand;
        for (name, _) in COMMANDS {
            let command = SlashCommand::parse(name).unwrap();
            assert!(
                !matches!(command, SlashCommand::Unknown(_)),
                "{name} is offered but not run"
            );
        }
    }

    #[test]
    fn slash_commands_complete_by_name() {
        let mut editor = Editor::default();
        editor.insert("/co");
        let mut completer = Completer::default();
        completer.update(&editor);
        let popup = completer.popup().unwrap();
        assert_eq!(popup.kind, PopupKind::Command);
        assert_eq!(texts(&popup.items)[..2], ["/cost", "/compact"]);
        assert!(popup.items[0].detail.is_some());
        assert!(completer.accept(&mut editor));
        assert_eq!(editor.text(), "/cost ");
        completer.update(&editor);
        assert!(!completer.is_open(), "a space ends the command word");
        // No popup for what no command matches, nor for a path-like prompt.
        editor.clear();
        editor.insert("/zzz");
        completer.update(&editor);
        assert!(!completer.is_open());
        editor.clear();
        editor.insert("fix /co");
        completer.update(&editor);
        assert!(!completer.is_open());
    }
}
