//! The context manager: keeps every model request inside the model's context window.
//!
//! Before each request the turn loop asks [`ContextManager::prepare`] for the messages to
//! send. The request (system prompt, tool specs, messages) is counted with the session's
//! [`TokenCounter`], corrected by a [`Calibration`] learned from the input tokens providers
//! report. When it would not fit the [`Budget`] (the smaller of the model's window and
//! `[memory] max_context_size`, less room for the answer):
//!
//! 1. **Prune**: outputs of old tool calls (oldest first, never the latest two steps') are sent
//!    as a marker saying what was dropped (`context_compacted`, mode `pruned`).
//! 2. **Summarise** (when `[memory] auto_summarize`): the older history is replaced by a
//!    structured summary made by one request to the model (mode `summarized`). The user's own
//!    messages and the files touched are put in verbatim, not paraphrased; the summary says it
//!    is lossy, and files read before it must be read again before an edit.
//! 3. Otherwise the turn ends with a `context_overflow` error. At most one summary is made
//!    per request, and a history that is only a summary is never summarised again, so
//!    compaction cannot loop.
//!
//! What was compacted is a [`ContextState`] rebuilt from the session's events, so a resumed
//! session sends the same view; the stored history is never rewritten.

mod budget;
mod prune;
mod summary;
mod tokens;
mod view;

use std::path::{Component, Path, PathBuf};

use code_mesh_protocol::{
    CompactionMode, ContextState, ContextSummary, EventKind, Message, Part, Role, ToolSpec, Usage,
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

pub use budget::{
    Budget, ContextSettings, DEFAULT_MAX_CONTEXT_SIZE, DEFAULT_RESERVE_OUTPUT_TOKENS,
};
pub use tokens::{Calibration, Estimator, TokenCounter};

use crate::events::EventSink;
use crate::{
    FileTracker, ModelRequest, Provider, ProviderError, ProviderErrorKind, StoreError, StreamEvent,
    history,
};
use budget::RequestCounter;
use view::View;

/// How the warning starts when `/compact` finds nothing to summarise.
pub const NOTHING_TO_COMPACT: &str = "nothing to compact";

/// Most tokens the summariser may write (an eighth of the limit in small windows).
const SUMMARY_MAX_TOKENS: u64 = 2048;

/// What a request is built with besides the history.
pub(crate) struct RequestParts<'a> {
    pub sink: &'a EventSink,
    pub provider: &'a dyn Provider,
    pub provider_model: &'a str,
    pub temperature: Option<f32>,
    pub system: &'a str,
    pub tools: &'a [ToolSpec],
    pub files: &'a FileTracker,
    /// The working directory, against which the model's relative paths resolve.
    pub cwd: &'a Path,
    pub cancel: &'a CancellationToken,
}

/// The messages to send, and their uncorrected count (to learn from the reported usage).
pub(crate) struct Prepared {
    pub messages: Vec<Message>,
    pub counted: u64,
}

/// What preparing a request came to.
pub(crate) enum Preparation {
    Ready(Prepared),
    /// It does not fit even after compaction: the `context_overflow` error's message and hint.
    Overflow {
        message: String,
        hint: String,
    },
    /// The summary request failed.
    SummaryFailed(ProviderError),
    Cancelled,
}

/// What `/compact` came to.
pub(crate) enum Compaction {
    Done,
    /// Nothing new to summarise; the warning says so.
    Nothing(String),
    Failed(ProviderError),
    Cancelled,
}

/// One session's context manager.
pub(crate) struct ContextManager {
    settings: ContextSettings,
    budget: Budget,
    state: ContextState,
    calibration: Calibration,
    counter: RequestCounter,
    /// Whether `counter` and `calibration` were set up for exact counts.
    exact: bool,
}

impl ContextManager {
    pub(crate) fn new(
        settings: ContextSettings,
        max_tokens: Option<u32>,
        state: ContextState,
    ) -> Self {
        let exact = settings.tokenizer.is_exact();
        ContextManager {
            budget: Budget::new(&settings, max_tokens),
            calibration: Calibration::new(exact),
            counter: RequestCounter::new(settings.tokenizer.clone()),
            exact,
            settings,
            state,
        }
    }

    /// Starts counting afresh when the tokenizer became exact (it loaded), so estimated and
    /// exact counts are never mixed, nor corrected by the same factor.
    fn follow_tokenizer(&mut self) {
        let exact = self.settings.tokenizer.is_exact();
        if exact != self.exact {
            self.exact = exact;
            self.calibration = Calibration::new(exact);
            self.counter = RequestCounter::new(self.settings.tokenizer.clone());
        }
    }

    /// Learns from the input tokens the provider reported for a request counted `counted`.
    pub(crate) fn observe(&mut self, counted: u64, usage: &Usage) {
        self.calibration.observe(counted, usage.input_tokens);
    }

    /// The provider refused a request counted `counted` as too long: count higher from now on.
    pub(crate) fn rejected(&mut self, counted: u64) {
        self.calibration
            .raise_for_rejection(counted, self.budget.limit);
    }

    /// The messages for the next request, compacted to fit when needed. `allow_summary` is
    /// false when this request step already made a summary. The returned usage is the
    /// summary request's, if one was made.
    pub(crate) async fn prepare(
        &mut self,
        history: &[Message],
        parts: &RequestParts<'_>,
        allow_summary: bool,
    ) -> Result<(Preparation, Option<Usage>), StoreError> {
        let available = self.budget.available();
        self.follow_tokenizer();
        let mut fixed = self.counter.fixed(parts.system, parts.tools);
        let mut view = View::build(history, &self.state);
        let mut tokens = self.estimate(fixed, &view);
        if tokens > available / 2 && !self.exact && self.settings.tokenizer.load_exact() {
            // Past half the window an estimate's error starts to matter: count exactly.
            self.follow_tokenizer();
            fixed = self.counter.fixed(parts.system, parts.tools);
            tokens = self.estimate(fixed, &view);
        }
        if tokens <= available {
            return Ok((self.ready(fixed, view), None));
        }
        tokens = self.prune(&mut view, fixed, tokens, parts.sink).await?;
        if tokens <= available {
            return Ok((self.ready(fixed, view), None));
        }
        if !self.settings.auto_summarize || !allow_summary {
            return Ok((self.overflow(tokens), None));
        }
        let Some(cut) = self.choose_cut(history, fixed) else {
            return Ok((self.overflow(tokens), None));
        };
        let (made, usage) = self.summarize(history, cut, tokens, parts).await?;
        match made {
            Ok(()) => {}
            Err(SummaryEnd::Failed(err)) => return Ok((Preparation::SummaryFailed(err), usage)),
            Err(SummaryEnd::Cancelled) => return Ok((Preparation::Cancelled, usage)),
        }
        view = View::build(history, &self.state);
        tokens = self.estimate(fixed, &view);
        if tokens > available {
            tokens = self.prune(&mut view, fixed, tokens, parts.sink).await?;
        }
        if tokens <= available {
            Ok((self.ready(fixed, view), usage))
        } else {
            Ok((self.overflow(tokens), usage))
        }
    }

    /// `/compact`: summarises everything not yet summarised, whatever the size.
    pub(crate) async fn compact(
        &mut self,
        history: &[Message],
        parts: &RequestParts<'_>,
    ) -> Result<(Compaction, Option<Usage>), StoreError> {
        let summarized_through = self.summarized_through();
        let Some(cut) = summary::cut_points(history, summarized_through, true).pop() else {
            let why = if history.is_empty() {
                "the session has no messages yet"
            } else {
                "the history is already summarised"
            };
            return Ok((
                Compaction::Nothing(format!("{NOTHING_TO_COMPACT}: {why}")),
                None,
            ));
        };
        let fixed = self.counter.fixed(parts.system, parts.tools);
        let tokens = self.estimate(fixed, &View::build(history, &self.state));
        let (made, usage) = self.summarize(history, cut, tokens, parts).await?;
        Ok((
            match made {
                Ok(()) => Compaction::Done,
                Err(SummaryEnd::Failed(err)) => Compaction::Failed(err),
                Err(SummaryEnd::Cancelled) => Compaction::Cancelled,
            },
            usage,
        ))
    }

    /// Most tokens the summariser may write.
    fn summary_tokens(&self) -> u64 {
        SUMMARY_MAX_TOKENS.min(self.budget.limit / 8).max(1)
    }

    pub(crate) fn summarized_through(&self) -> u64 {
        self.state.summary.as_ref().map_or(0, |s| s.through_seq)
    }

    fn estimate(&mut self, fixed: u64, view: &View) -> u64 {
        self.calibration
            .apply(fixed + view.count(&mut self.counter))
    }

    fn ready(&mut self, fixed: u64, view: View) -> Preparation {
        let counted = fixed + view.count(&mut self.counter);
        Preparation::Ready(Prepared {
            messages: view.into_messages(),
            counted,
        })
    }

    fn overflow(&self, tokens: u64) -> Preparation {
        let available = self.budget.available();
        let settings = &self.settings;
        let limited_by_setting = settings
            .window_tokens
            .is_none_or(|window| settings.max_context_size < window);
        let mut hint = if limited_by_setting {
            format!(
                "start a new session, or raise `[memory] max_context_size` (now {})",
                settings.max_context_size
            )
        } else {
            "start a new session, or use a model with a larger context window".to_owned()
        };
        if !settings.auto_summarize {
            hint.push_str("; summaries are off (`[memory] auto_summarize = false`), turn them on to fit longer conversations");
        }
        Preparation::Overflow {
            message: format!(
                "the next request does not fit the context window: it needs about {tokens} \
                 tokens with old tool outputs pruned and {available} are available (the limit \
                 is {} tokens less {} kept for the answer)",
                self.budget.limit, self.budget.reserve
            ),
            hint,
        }
    }

    /// Prunes old tool outputs until `tokens` fit or nothing more may go; reports what was
    /// pruned and returns the new estimate.
    async fn prune(
        &mut self,
        view: &mut View,
        fixed: u64,
        tokens: u64,
        sink: &EventSink,
    ) -> Result<u64, StoreError> {
        let available = self.budget.available();
        let before = tokens;
        let mut after = tokens;
        let mut outputs = 0;
        let mut through = self.state.pruned_through;
        for seq in prune::candidates(&view.messages, self.state.pruned_through) {
            if after <= available {
                break;
            }
            outputs += view.prune_through(seq);
            through = seq;
            after = self.estimate(fixed, view);
        }
        if through > self.state.pruned_through {
            self.state.pruned_through = through;
            sink.emit(EventKind::ContextCompacted {
                mode: CompactionMode::Pruned,
                through_seq: through,
                summary: None,
                pruned_outputs: outputs,
                tokens_before: before,
                tokens_after: after,
            })
            .await?;
        }
        Ok(after)
    }

    /// The earliest cut (keeping the most) whose kept part, pruned as far as allowed, fits
    /// beside a summary.
    fn choose_cut(&mut self, history: &[Message], fixed: u64) -> Option<u64> {
        let available = self.budget.available();
        for cut in summary::automatic_cuts(history, self.summarized_through()) {
            let mechanical = summary::assemble(
                "",
                &summary::user_prompts(history, cut),
                &summary::files_touched(history, 0, cut),
            );
            let state = ContextState {
                pruned_through: self.state.pruned_through.max(cut),
                summary: Some(ContextSummary {
                    through_seq: cut,
                    text: mechanical,
                }),
            };
            let mut view = View::build(history, &state);
            if let Some(last) = prune::candidates(&view.messages, state.pruned_through).last() {
                view.prune_through(*last);
            }
            let needed =
                self.estimate(fixed, &view) + self.calibration.apply(self.summary_tokens());
            if needed <= available {
                return Some(cut);
            }
        }
        None
    }

    /// Summarises the history up to `cut` with one request, then records and applies it.
    async fn summarize(
        &mut self,
        history: &[Message],
        cut: u64,
        tokens_before: u64,
        parts: &RequestParts<'_>,
    ) -> Result<(Result<(), SummaryEnd>, Option<Usage>), StoreError> {
        let summarized_through = self.summarized_through();
        let older: Vec<Message> = history::request_messages(history)
            .into_iter()
            .filter(|m| m.seq > summarized_through && m.seq <= cut)
            .collect();
        let previous = self.state.summary.as_ref().map(|s| s.text.as_str());
        let out_tokens = self.summary_tokens();
        let instructions = self.settings.tokenizer.count(summary::SUMMARY_SYSTEM)
            + self.settings.tokenizer.count(&summary::request_text(""))
            + 16;
        let room = self
            .budget
            .limit
            .saturating_sub(out_tokens)
            .saturating_sub(self.calibration.apply(instructions));
        let room = (room as f64 / self.calibration.factor()).floor() as u64;
        let transcript = summary::fit_transcript(
            summary::transcript(previous, &older),
            room,
            self.settings.tokenizer.as_ref(),
        );
        let text = summary::request_text(&transcript);
        let counted = instructions + self.settings.tokenizer.count(&transcript);
        let request = ModelRequest {
            model: parts.provider_model.to_owned(),
            system: summary::SUMMARY_SYSTEM.to_owned(),
            messages: vec![Message {
                seq: 1,
                role: Role::User,
                parts: vec![Part::Text { text }],
                model: None,
                usage: None,
                interrupted: false,
                created_at: crate::now_ms(),
            }],
            tools: Vec::new(),
            temperature: parts.temperature,
            max_tokens: u32::try_from(out_tokens).ok(),
        };
        let (answer, usage) = ask(parts.provider, request, parts.cancel).await;
        if let Some(usage) = &usage {
            self.observe(counted, usage);
        }
        let model_text = match answer {
            Ok(text) => text,
            Err(end) => return Ok((Err(end), usage)),
        };
        let text = summary::assemble(
            &model_text,
            &summary::user_prompts(history, cut),
            &summary::files_touched(history, 0, cut),
        );
        self.state.summary = Some(ContextSummary {
            through_seq: cut,
            text: text.clone(),
        });
        self.state.pruned_through = self.state.pruned_through.max(cut);
        let fixed = self.counter.fixed(parts.system, parts.tools);
        let tokens_after = self.estimate(fixed, &View::build(history, &self.state));
        // What the model read is gone from its context: edits wait for a fresh read, except
        // of files it read or wrote in the part kept whole.
        let kept: Vec<PathBuf> = summary::files_touched(history, cut, u64::MAX)
            .into_keys()
            .map(|path| normalize(&parts.cwd.join(path)))
            .collect();
        parts.files.mark_unread_except(&kept);
        parts
            .sink
            .emit(EventKind::ContextCompacted {
                mode: CompactionMode::Summarized,
                through_seq: cut,
                summary: Some(text),
                pruned_outputs: 0,
                tokens_before,
                tokens_after,
            })
            .await?;
        Ok((Ok(()), usage))
    }
}

/// Why no summary came back.
enum SummaryEnd {
    Failed(ProviderError),
    Cancelled,
}

/// Sends the summary request and gathers its text.
async fn ask(
    provider: &dyn Provider,
    request: ModelRequest,
    cancel: &CancellationToken,
) -> (Result<String, SummaryEnd>, Option<Usage>) {
    let opened = tokio::select! {
        biased;
        () = cancel.cancelled() => return (Err(SummaryEnd::Cancelled), None),
        opened = provider.stream(request) => opened,
    };
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(err) => return (Err(SummaryEnd::Failed(err)), None),
    };
    let mut text = String::new();
    let mut usage = None;
    let mut finished = false;
    loop {
        let item = tokio::select! {
            biased;
            () = cancel.cancelled() => return (Err(SummaryEnd::Cancelled), usage),
            item = stream.next() => item,
        };
        match item {
            None => break,
            Some(Err(err)) => return (Err(SummaryEnd::Failed(err)), usage),
            Some(Ok(StreamEvent::TextDelta(delta))) => text.push_str(&delta),
            Some(Ok(StreamEvent::Usage(reported))) => usage = Some(reported),
            Some(Ok(StreamEvent::Finished(_))) => finished = true,
            Some(Ok(_)) => {}
        }
    }
    if !finished {
        let err = ProviderError::new(
            ProviderErrorKind::StreamCut,
            provider.name(),
            format!(
                "the summary from `{}` ended before the model finished",
                provider.name()
            ),
        )
        .with_hint("the connection was cut; run again with `-c` to continue");
        return (Err(SummaryEnd::Failed(err)), usage);
    }
    (Ok(text), usage)
}

/// `path` without `.` and `..` components (the file tools key files by canonical path; this
/// matches them for paths without symbolic links).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
