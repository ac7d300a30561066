//! Walking a tree the way ripgrep does: .gitignore, .ignore and hidden files respected, the
//! `.git` directory never entered, symlinks not followed (so a walk stays where the path
//! policy put it).

use std::path::Path;
use std::sync::Mutex;

use ignore::{
    DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkParallel, WalkState,
};

/// A walker over `root` with the standard filters; `show_hidden` includes dot files.
pub(crate) fn builder(root: &Path, show_hidden: bool) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(!show_hidden)
        .parents(true)
        .ignore(true)
        .git_ignore(true)
        .git_global(true)
        .git_exclude(true)
        // An agent's workspace is not always a git checkout; its .gitignore still says what
        // is generated.
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git");
    builder
}

/// Whether a segment of `pattern` starts with a dot, asking for hidden files.
pub(crate) fn names_hidden(pattern: &str) -> bool {
    pattern
        .split(['/', '{', ','])
        .any(|segment| segment.starts_with('.') && segment != "." && segment != "..")
}

/// Runs `visit` on every entry from `walk`'s threads, each with its own state from `start`;
/// returns the states once the walk is over.
pub(crate) fn parallel<S, F>(walk: WalkParallel, start: impl Fn() -> S + Sync, visit: F) -> Vec<S>
where
    S: Send,
    F: Fn(&mut S, Result<DirEntry, ignore::Error>) -> WalkState + Sync,
{
    let finished = Mutex::new(Vec::new());
    let mut builder = Builder {
        start: &start,
        visit: &visit,
        finished: &finished,
    };
    walk.visit(&mut builder);
    finished
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Builder<'a, S, F, G> {
    start: &'a G,
    visit: &'a F,
    finished: &'a Mutex<Vec<S>>,
}

impl<'s, S, F, G> ParallelVisitorBuilder<'s> for Builder<'s, S, F, G>
where
    S: Send + 's,
    F: Fn(&mut S, Result<DirEntry, ignore::Error>) -> WalkState + Sync,
    G: Fn() -> S + Sync,
{
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            state: Some((self.start)()),
            visit: self.visit,
            finished: self.finished,
        })
    }
}

struct Visitor<'a, S, F> {
    state: Option<S>,
    visit: &'a F,
    finished: &'a Mutex<Vec<S>>,
}

impl<S, F> ParallelVisitor for Visitor<'_, S, F>
where
    S: Send,
    F: Fn(&mut S, Result<DirEntry, ignore::Error>) -> WalkState + Sync,
{
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        match self.state.as_mut() {
            Some(state) => (self.visit)(state, entry),
            None => WalkState::Quit,
        }
    }
}

impl<S, F> Drop for Visitor<'_, S, F> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let mut finished = self
                .finished
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            finished.push(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_segments_are_recognised() {
        assert!(names_hidden(".github/**/*.yml"));
        assert!(names_hidden("**/.env"));
        assert!(names_hidden("{src,.config}/*"));
        assert!(!names_hidden("**/*.rs"));
        assert!(!names_hidden("./src/*.rs"));
    }
}
