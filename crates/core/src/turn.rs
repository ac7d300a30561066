//! The turn loop: request, stream, run tools, repeat.

use std::sync::Arc;

use code_mesh_protocol::{
    ContextState, ErrorCode, EventKind, Message, Part, PermissionDecision, PermissionSource, Role,
    ToolCall, ToolKind, ToolResult, TurnEndReason, TurnId, Usage,
};
use futures::StreamExt;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::context::{Compaction, ContextManager, Preparation, Prepared, RequestParts};
use crate::events::EventSink;
use crate::permission::Verdict;
use crate::repeat::{RepeatCheck, RepeatGuard};
use crate::session::PendingPermissions;
use crate::{
    FileTracker, FinishReason, ModelRequest, PermissionPolicy, PermissionTarget, ProviderError,
    ProviderErrorKind, SessionConfig, Store, StoreError, Tool, ToolContext, ToolOutputSink,
    ToolRegistry, TurnHookContext, now_ms, prompt,
};

mod strategy;

pub(crate) use strategy::{StrategyOutcome, StrategyTurn};

pub(crate) struct TurnRunner {
    pub(crate) sink: Arc<EventSink>,
    pub(crate) pending: PendingPermissions,
    tools: ToolRegistry,
    config: SessionConfig,
    system: String,
    history: Vec<Message>,
    turns: u32,
    policy: PermissionPolicy,
    permission_requests: u64,
    files: Arc<FileTracker>,
    /// Failing calls of the current turn, to stop a model that repeats one.
    repeats: RepeatGuard,
    /// Set when a repeated failing call ends the turn: the error event's message.
    stopped: Option<String>,
    /// Keeps requests inside the context window (pruning, summaries).
    context: ContextManager,
    /// A resumed session's store, until its messages are read: they are read on the first turn
    /// or `/compact`, not when the session opens, so a front end showing an old session (the
    /// terminal UI opening it, a session picker) does not hold its history twice until the
    /// conversation goes on.
    unread_history: Option<Arc<dyn Store>>,
    /// A resumed session with a summary: files seen in earlier runs must be read again before
    /// an edit (their stamps come back with the first turn's hooks).
    reread_after_resume: bool,
}

/// How a turn ended, for `turn_finished`.
struct TurnSummary {
    reason: TurnEndReason,
    steps: u32,
    usage: Usage,
}

/// What one model request produced.
#[derive(Default)]
struct StepOutput {
    text: String,
    /// Reasoning text from deltas, kept when the wire sends no whole blocks.
    reasoning: String,
    /// Whole reasoning blocks, in order.
    reasoning_parts: Vec<Part>,
    calls: Vec<ToolCall>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    /// `provider/model` that answered, when a failover moved the request.
    model: Option<String>,
}

impl StepOutput {
    /// Nothing of an answer arrived.
    fn is_empty(&self) -> bool {
        self.text.is_empty()
            && self.reasoning.is_empty()
            && self.reasoning_parts.is_empty()
            && self.calls.is_empty()
    }
}

/// The error event of a summary request that failed.
fn summary_failed(err: &ProviderError) -> EventKind {
    EventKind::Error {
        code: err.kind.code(),
        message: format!(
            "summarising the conversation to fit the context window failed: {}",
            err.message
        ),
        hint: err.hint.clone(),
    }
}

enum StepEnd {
    Finished,
    Cancelled,
    Failed(ProviderError),
}

/// A tool call checked and ready to run.
struct ReadyCall {
    index: usize,
    tool: Arc<dyn Tool>,
    arguments: serde_json::Value,
}

impl TurnRunner {
    pub(crate) fn new(sink: Arc<EventSink>, tools: ToolRegistry, config: SessionConfig) -> Self {
        let system = prompt::system_prompt(
            &config.system_prompt,
            &config.workspace,
            &config.cwd,
            &config.instructions,
        );
        let policy = PermissionPolicy::new(
            config.auto_approve,
            config.permissions.clone(),
            &config.workspace,
            &config.cwd,
            &config.allowed_paths,
        );
        let context = ContextManager::new(
            config.context.clone(),
            config.max_tokens,
            ContextState::default(),
        );
        TurnRunner {
            context,
            unread_history: None,
            reread_after_resume: false,
            sink,
            pending: PendingPermissions::default(),
            tools,
            config,
            system,
            history: Vec::new(),
            turns: 0,
            policy,
            permission_requests: 0,
            files: Arc::new(FileTracker::new()),
            repeats: RepeatGuard::default(),
            stopped: None,
        }
    }

    /// Reads the session's messages from `store` before the next turn or compaction.
    pub(crate) fn read_history_later(&mut self, store: Arc<dyn Store>) {
        self.unread_history = Some(store);
    }

    /// Reads a resumed session's messages if they are not read yet. False, after an `error`
    /// event, when the store cannot give them: the turn does not start on a partial history
    /// (a later one tries again).
    pub(crate) async fn history_ready(&mut self) -> bool {
        let Some(store) = self.unread_history.take() else {
            return true;
        };
        match store.messages(self.sink.session_id()).await {
            Ok(history) => {
                self.turns = history.iter().filter(|m| m.role == Role::User).count() as u32;
                self.history = history;
                true
            }
            Err(err) => {
                self.unread_history = Some(store);
                let _ = self
                    .sink
                    .emit(EventKind::Error {
                        code: ErrorCode::Store,
                        message: format!("the session's earlier messages could not be read: {err}"),
                        hint: err.hint(),
                    })
                    .await;
                false
            }
        }
    }

    /// Appends a section (the memory from earlier sessions) to the system prompt.
    pub(crate) fn add_to_system_prompt(&mut self, section: &str) {
        self.system.push_str(section);
    }

    /// Continues from what the session's `context_compacted` events left, so a resumed
    /// session sends the same view as before.
    pub(crate) fn restore_context(&mut self, state: ContextState) {
        self.reread_after_resume = state.summary.is_some();
        self.context =
            ContextManager::new(self.config.context.clone(), self.config.max_tokens, state);
    }

    /// `Op::Compact` between turns: summarise the history now, whatever its size. Ends with a
    /// `context_compacted`, a warning (nothing to compact) or an error event.
    pub(crate) async fn compact_on_request(&mut self) {
        let cancel = CancellationToken::new();
        let specs = self.tools.specs();
        let parts = RequestParts {
            sink: &self.sink,
            provider: self.config.provider.as_ref(),
            provider_model: &self.config.provider_model,
            temperature: self.config.temperature,
            system: &self.system,
            tools: &specs,
            files: &self.files,
            cwd: &self.config.cwd,
            cancel: &cancel,
        };
        let (outcome, usage) = match self.context.compact(&self.history, &parts).await {
            Ok(done) => done,
            Err(err) => {
                let _ = self
                    .sink
                    .emit(EventKind::Error {
                        code: ErrorCode::Store,
                        message: err.to_string(),
                        hint: err.hint(),
                    })
                    .await;
                return;
            }
        };
        if let Some(usage) = usage {
            let _ = self.sink.add_usage(usage).await;
        }
        match outcome {
            Compaction::Done => {}
            Compaction::Nothing(message) => self.warn(message).await,
            Compaction::Failed(err) => {
                let _ = self.sink.emit(summary_failed(&err)).await;
            }
            Compaction::Cancelled => self.warn("compaction was cancelled".into()).await,
        }
    }

    /// Fits the history into the context window for the next request. `None` when the turn
    /// ends instead (its reason is set and any error reported).
    async fn fit_context(
        &mut self,
        allow_summary: bool,
        cancel: &CancellationToken,
        summary: &mut TurnSummary,
    ) -> Result<Option<Prepared>, StoreError> {
        let specs = self.tools.specs();
        let parts = RequestParts {
            sink: &self.sink,
            provider: self.config.provider.as_ref(),
            provider_model: &self.config.provider_model,
            temperature: self.config.temperature,
            system: &self.system,
            tools: &specs,
            files: &self.files,
            cwd: &self.config.cwd,
            cancel,
        };
        let (outcome, usage) = self
            .context
            .prepare(&self.history, &parts, allow_summary)
            .await?;
        if let Some(usage) = usage {
            summary.usage += usage;
            self.sink.add_usage(usage).await?;
        }
        match outcome {
            Preparation::Ready(prepared) => return Ok(Some(prepared)),
            Preparation::Overflow { message, hint } => {
                self.sink
                    .emit(EventKind::Error {
                        code: ErrorCode::ContextOverflow,
                        message,
                        hint: Some(hint),
                    })
                    .await?;
                summary.reason = TurnEndReason::Failed;
            }
            Preparation::SummaryFailed(err) => {
                self.sink.emit(summary_failed(&err)).await?;
                summary.reason = TurnEndReason::Failed;
            }
            Preparation::Cancelled => summary.reason = TurnEndReason::Cancelled,
        }
        Ok(None)
    }

    /// The texts of the hooks' `before_step`, joined; `None` when there are none.
    async fn step_notices(&self, context: &TurnHookContext) -> Option<String> {
        let mut texts = Vec::new();
        for hook in &self.config.hooks {
            texts.extend(hook.before_step(context).await);
        }
        (!texts.is_empty()).then(|| texts.join("\n\n"))
    }

    pub(crate) async fn warn(&self, message: String) {
        let _ = self.sink.emit(EventKind::Warning { message }).await;
    }

    /// Runs one user turn to its end and reports `turn_finished`.
    pub(crate) async fn run_turn(&mut self, text: String, cancel: CancellationToken) {
        self.turns += 1;
        self.repeats.reset();
        self.stopped = None;
        let turn = TurnId(self.turns);
        let mut summary = TurnSummary {
            reason: TurnEndReason::Failed,
            steps: 0,
            usage: Usage::default(),
        };
        let hook_context = TurnHookContext {
            session_id: self.sink.session_id().clone(),
            turn,
            workspace: self.config.workspace.clone(),
            cwd: self.config.cwd.clone(),
            files: self.files.clone(),
        };
        let first_message = self.history.len();
        let outcome = self
            .turn_steps(turn, text, &hook_context, &cancel, &mut summary)
            .await;
        for hook in &self.config.hooks {
            hook.after_turn(&hook_context).await;
        }
        if let Err(err) = outcome {
            summary.reason = TurnEndReason::Failed;
            let _ = self
                .sink
                .emit(EventKind::Error {
                    code: ErrorCode::Store,
                    message: err.to_string(),
                    hint: err.hint(),
                })
                .await;
        }
        // What the task taught (the test command, a fix), kept as project memory.
        if let Some((outcome, lessons)) = crate::learning::learn(
            self.history.get(first_message..).unwrap_or_default(),
            summary.reason,
            &self.config.workspace,
            &self.config.cwd,
            now_ms(),
        ) {
            let _ = self
                .sink
                .emit(EventKind::TaskOutcomeRecorded { outcome, lessons })
                .await;
        }
        let _ = self
            .sink
            .emit(EventKind::TurnFinished {
                turn,
                reason: summary.reason,
                steps: summary.steps,
                usage: summary.usage,
            })
            .await;
    }

    async fn turn_steps(
        &mut self,
        turn: TurnId,
        text: String,
        hook_context: &TurnHookContext,
        cancel: &CancellationToken,
        summary: &mut TurnSummary,
    ) -> Result<(), StoreError> {
        self.sink.emit(EventKind::TurnStarted { turn }).await?;
        let mut notes = Vec::new();
        for hook in &self.config.hooks {
            notes.extend(hook.before_turn(hook_context).await);
        }
        let mut parts = vec![Part::Text { text }];
        if !notes.is_empty() {
            for note in &notes {
                self.sink
                    .emit(EventKind::Warning {
                        message: note.clone(),
                    })
                    .await?;
            }
            // The model hears of it too, beside (not inside) the user's own words.
            parts.push(Part::Text {
                text: format!("\n\n[Code Mesh notices]\n- {}", notes.join("\n- ")),
            });
        }
        if let Some(news) = self.step_notices(hook_context).await {
            parts.push(Part::Text {
                text: format!("\n\n{news}"),
            });
        }
        self.add_message(Role::User, parts, None, false, None)
            .await?;
        if std::mem::take(&mut self.reread_after_resume) {
            // Stamps of earlier runs are back; what those reads showed is in the summary only.
            self.files.mark_all_unread();
        }
        loop {
            if cancel.is_cancelled() {
                summary.reason = TurnEndReason::Cancelled;
                return Ok(());
            }
            if summary.steps >= self.config.max_turns {
                summary.reason = TurnEndReason::MaxTurns;
                return Ok(());
            }
            let summarized_before = self.context.summarized_through();
            let Some(prepared) = self.fit_context(true, cancel, summary).await? else {
                return Ok(());
            };
            summary.steps += 1;
            self.sink
                .emit(EventKind::RequestStarted {
                    turn,
                    step: summary.steps,
                    model: self.config.model.clone(),
                })
                .await?;
            let mut counted = prepared.counted;
            let (mut output, mut end) = self.stream_step(cancel, prepared.messages).await?;
            if let StepEnd::Failed(err) = &end
                && err.kind == ProviderErrorKind::ContextTooLong
                && output.is_empty()
                && summary.steps < self.config.max_turns
            {
                // The provider counts more than the estimate did: count higher from now on,
                // compact once more (a second summary in this step is not allowed) and retry
                // once.
                self.context.rejected(counted);
                self.warn(format!(
                    "{}; compacting the context and trying once more",
                    err.message
                ))
                .await;
                let allow_summary = self.context.summarized_through() == summarized_before;
                let Some(prepared) = self.fit_context(allow_summary, cancel, summary).await? else {
                    return Ok(());
                };
                summary.steps += 1;
                self.sink
                    .emit(EventKind::RequestStarted {
                        turn,
                        step: summary.steps,
                        model: self.config.model.clone(),
                    })
                    .await?;
                counted = prepared.counted;
                (output, end) = self.stream_step(cancel, prepared.messages).await?;
            }
            if let Some(usage) = &output.usage {
                self.context.observe(counted, usage);
            }
            if let Some(usage) = output.usage {
                summary.usage += usage;
                self.sink.add_usage(usage).await?;
            }
            match end {
                StepEnd::Finished => {}
                StepEnd::Cancelled => {
                    self.keep_partial(output).await?;
                    summary.reason = TurnEndReason::Cancelled;
                    return Ok(());
                }
                StepEnd::Failed(err) => {
                    self.keep_partial(output).await?;
                    self.sink
                        .emit(EventKind::Error {
                            code: err.kind.code(),
                            message: err.message.clone(),
                            hint: err.hint.clone(),
                        })
                        .await?;
                    summary.reason = TurnEndReason::Failed;
                    return Ok(());
                }
            }
            if output.finish == Some(FinishReason::Length) {
                self.warn("the model's answer hit its output token limit and may be cut".into())
                    .await;
            }
            let calls = output.calls.clone();
            self.add_assistant_message(output, false).await?;
            if calls.is_empty() {
                summary.reason = TurnEndReason::Completed;
                return Ok(());
            }
            let results = self.run_tools(&calls, cancel).await;
            let mut parts: Vec<Part> = results.into_iter().map(Part::ToolResult).collect();
            if !cancel.is_cancelled()
                && self.stopped.is_none()
                && summary.steps < self.config.max_turns
                && let Some(news) = self.step_notices(hook_context).await
            {
                // What arrived while the tools ran reaches the next request beside the results.
                parts.push(Part::Text { text: news });
            }
            self.add_message(Role::Tool, parts, None, cancel.is_cancelled(), None)
                .await?;
            if let Some(message) = self.stopped.take() {
                self.sink
                    .emit(EventKind::Error {
                        code: ErrorCode::RepeatedFailure,
                        message,
                        hint: Some(
                            "tell the model what it is missing or ask for something else, then \
                             `code-mesh run -c` to continue the session"
                                .into(),
                        ),
                    })
                    .await?;
                summary.reason = TurnEndReason::Failed;
                return Ok(());
            }
        }
    }

    /// Sends one request with `messages` (the history as the context manager shaped it) and
    /// gathers its answer, reporting deltas as they arrive.
    async fn stream_step(
        &mut self,
        cancel: &CancellationToken,
        messages: Vec<Message>,
    ) -> Result<(StepOutput, StepEnd), StoreError> {
        let request = ModelRequest {
            model: self.config.provider_model.clone(),
            system: self.system.clone(),
            messages,
            tools: self.tools.specs(),
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
        };
        let mut output = StepOutput::default();
        let provider = self.config.provider.clone();
        let opened = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok((output, StepEnd::Cancelled)),
            opened = provider.stream(request) => opened,
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(err) => return Ok((output, StepEnd::Failed(err))),
        };
        loop {
            let item = tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok((output, StepEnd::Cancelled)),
                item = stream.next() => item,
            };
            match item {
                None if output.finish.is_some() => return Ok((output, StepEnd::Finished)),
                None => {
                    let err = ProviderError::new(
                        crate::ProviderErrorKind::StreamCut,
                        provider.name(),
                        format!(
                            "the response from `{}` ended before the model finished",
                            provider.name()
                        ),
                    )
                    .with_hint("the connection was cut; run again with `-c` to continue");
                    return Ok((output, StepEnd::Failed(err)));
                }
                Some(Err(err)) => return Ok((output, StepEnd::Failed(err))),
                Some(Ok(event)) => match event {
                    crate::StreamEvent::TextDelta(delta) => {
                        output.text.push_str(&delta);
                        self.sink.emit(EventKind::TextDelta { delta }).await?;
                    }
                    crate::StreamEvent::ReasoningDelta(delta) => {
                        output.reasoning.push_str(&delta);
                        self.sink.emit(EventKind::ReasoningDelta { delta }).await?;
                    }
                    crate::StreamEvent::Reasoning {
                        text,
                        signature,
                        id,
                        redacted,
                    } => output.reasoning_parts.push(Part::Reasoning {
                        text,
                        signature,
                        id,
                        redacted,
                    }),
                    crate::StreamEvent::ToolCall(call) => output.calls.push(call),
                    crate::StreamEvent::Usage(usage) => output.usage = Some(usage),
                    crate::StreamEvent::Finished(reason) => output.finish = Some(reason),
                    crate::StreamEvent::Retry {
                        provider,
                        attempt,
                        delay_ms,
                        message,
                    } => {
                        self.sink
                            .emit(EventKind::ProviderRetry {
                                provider,
                                attempt,
                                delay_ms,
                                message,
                            })
                            .await?;
                    }
                    crate::StreamEvent::Failover { from, to, message } => {
                        output.model = Some(to.clone());
                        self.sink
                            .emit(EventKind::ProviderFailover { from, to, message })
                            .await?;
                    }
                    crate::StreamEvent::CacheHit => {
                        let model = output
                            .model
                            .clone()
                            .unwrap_or_else(|| self.config.model.clone());
                        self.sink
                            .emit(EventKind::ResponseCacheHit { model })
                            .await?;
                    }
                },
            }
        }
    }

    /// Keeps what arrived before a cancel or failure. Tool calls are dropped: none of them
    /// ran, and a call without a result would break the history.
    async fn keep_partial(&mut self, mut output: StepOutput) -> Result<(), StoreError> {
        output.calls.clear();
        if output.text.is_empty()
            && output.reasoning.is_empty()
            && output.reasoning_parts.is_empty()
        {
            return Ok(());
        }
        self.add_assistant_message(output, true).await
    }

    async fn add_assistant_message(
        &mut self,
        output: StepOutput,
        interrupted: bool,
    ) -> Result<(), StoreError> {
        let mut parts = Vec::with_capacity(output.calls.len() + output.reasoning_parts.len() + 1);
        if !output.reasoning_parts.is_empty() {
            parts.extend(output.reasoning_parts);
        } else if !output.reasoning.is_empty() {
            parts.push(Part::Reasoning {
                text: output.reasoning,
                signature: None,
                id: None,
                redacted: false,
            });
        }
        if !output.text.is_empty() || output.calls.is_empty() {
            parts.push(Part::Text { text: output.text });
        }
        parts.extend(output.calls.into_iter().map(Part::ToolCall));
        let model = output.model.unwrap_or_else(|| self.config.model.clone());
        self.add_message(
            Role::Assistant,
            parts,
            output.usage,
            interrupted,
            Some(model),
        )
        .await
    }

    async fn add_message(
        &mut self,
        role: Role,
        parts: Vec<Part>,
        usage: Option<Usage>,
        interrupted: bool,
        model: Option<String>,
    ) -> Result<(), StoreError> {
        let message = Message {
            seq: self.history.last().map_or(1, |m| m.seq + 1),
            role,
            parts,
            model,
            usage,
            interrupted,
            created_at: now_ms(),
        };
        self.sink
            .emit(EventKind::MessageAdded {
                message: message.clone(),
            })
            .await?;
        self.history.push(message);
        Ok(())
    }

    /// Runs the calls of one step: consecutive reads together, anything else alone, in the
    /// model's order. Every call gets a result, also when cancelled.
    async fn run_tools(
        &mut self,
        calls: &[ToolCall],
        cancel: &CancellationToken,
    ) -> Vec<ToolResult> {
        let mut results: Vec<Option<ToolResult>> = vec![None; calls.len()];
        let mut start = 0;
        while start < calls.len() && !cancel.is_cancelled() && self.stopped.is_none() {
            let read_only = self.is_read_only(&calls[start]);
            let mut end = start + 1;
            while read_only && end < calls.len() && self.is_read_only(&calls[end]) {
                end += 1;
            }
            let mut ready = Vec::new();
            for index in start..end {
                match self.prepare(index, &calls[index], cancel).await {
                    Ok(call) => ready.push(call),
                    Err(result) => results[index] = Some(result),
                }
            }
            let finished = join_all(
                ready
                    .into_iter()
                    .map(|call| self.execute(call, calls, cancel)),
            )
            .await;
            for (index, result) in finished {
                results[index] = Some(result);
            }
            if !cancel.is_cancelled() {
                for index in start..end {
                    if let Some(result) = &results[index] {
                        self.repeats.record(&calls[index], result.is_error);
                    }
                }
            }
            start = end;
        }
        let unrun = if self.stopped.is_some() {
            "not run: the turn was stopped because the model kept repeating a failing call"
        } else {
            "cancelled by the user before this call ran"
        };
        results
            .into_iter()
            .zip(calls)
            .map(|(result, call)| {
                result.unwrap_or_else(|| ToolResult {
                    call_id: call.call_id.clone(),
                    name: call.name.clone(),
                    output: unrun.into(),
                    is_error: true,
                })
            })
            .collect()
    }

    fn is_read_only(&self, call: &ToolCall) -> bool {
        // Unknown tools fail without running, so they may join a read batch.
        self.tools
            .get(&call.name)
            .is_none_or(|tool| tool.kind().is_read_only())
    }

    /// Announces the call, checks the tool and its arguments, and settles its permission.
    /// `Err` carries the failed result to send back.
    async fn prepare(
        &mut self,
        index: usize,
        call: &ToolCall,
        cancel: &CancellationToken,
    ) -> Result<ReadyCall, ToolResult> {
        let _ = self
            .sink
            .emit(EventKind::ToolCallStarted {
                call_id: call.call_id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            })
            .await;
        let fail = |output: String| ToolResult {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            output,
            is_error: true,
        };
        let checked = match self.repeats.check(call) {
            RepeatCheck::Run => self.check(call),
            RepeatCheck::Refuse(message) => Err(message),
            RepeatCheck::Stop(message) => {
                self.stopped = Some(message);
                Err("not run: the turn was stopped because this call kept failing".into())
            }
        };
        let (tool, arguments) = match checked {
            Ok(ok) => ok,
            Err(message) => {
                let result = fail(message);
                self.report_finished(&result, 0).await;
                return Err(result);
            }
        };
        let kind = tool.kind();
        let target = tool.permission_target(&arguments);
        let denied = match self.policy.evaluate(&call.name, kind, &target) {
            Verdict::Allow { source, rule } => {
                self.record_decision(call, PermissionDecision::AllowOnce, source, rule)
                    .await;
                None
            }
            Verdict::Deny {
                rule,
                subject,
                reason,
            } => {
                self.record_decision(
                    call,
                    PermissionDecision::Deny,
                    PermissionSource::Policy,
                    rule,
                )
                .await;
                Some(format!(
                    "permission denied for `{subject}`: {reason}. This call was not run; do not \
                     retry it or work around the rule. Continue without it, or tell the user \
                     what you need and why."
                ))
            }
            Verdict::Ask { parts, .. } => {
                let mut summary = tool.summarize(&arguments);
                let whole = matches!(&target, PermissionTarget::Command(line) if parts.len() == 1 && parts[0] == line.trim());
                if !parts.is_empty() && !whole && !matches!(target, PermissionTarget::None) {
                    let listed: Vec<String> =
                        parts.iter().map(|part| format!("`{part}`")).collect();
                    summary.push_str(&format!(" (needs approval: {})", listed.join(", ")));
                }
                let decision = self.ask(call, kind, &target, summary, cancel).await;
                (!decision.allows()).then(|| {
                    format!(
                        "permission denied: the user did not allow this `{}` call. Do not retry \
                         it unchanged; continue without it or explain what you need and why.",
                        call.name
                    )
                })
            }
        };
        if let Some(message) = denied {
            let result = fail(message);
            self.report_finished(&result, 0).await;
            return Err(result);
        }
        Ok(ReadyCall {
            index,
            tool,
            arguments,
        })
    }

    /// Finds the tool and parses the arguments the model wrote.
    fn check(&self, call: &ToolCall) -> Result<(Arc<dyn Tool>, serde_json::Value), String> {
        let Some(tool) = self.tools.get(&call.name) else {
            return Err(format!(
                "unknown tool `{}`; the available tools are: {}",
                call.name,
                self.tools.names().join(", ")
            ));
        };
        let raw = call.arguments.trim();
        let arguments = if raw.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str::<serde_json::Value>(raw).map_err(|err| {
                format!(
                    "the arguments of this `{}` call are not valid JSON ({err}); received: {}. \
                     Send one JSON object matching the tool's parameters.",
                    call.name,
                    clip(raw, 400)
                )
            })?
        };
        if !arguments.is_object() {
            return Err(format!(
                "the arguments of a `{}` call must be a JSON object, not {}",
                call.name,
                clip(raw, 200)
            ));
        }
        Ok((tool.clone(), arguments))
    }

    async fn ask(
        &mut self,
        call: &ToolCall,
        kind: ToolKind,
        target: &PermissionTarget,
        summary: String,
        cancel: &CancellationToken,
    ) -> PermissionDecision {
        self.permission_requests += 1;
        let request_id = format!("perm_{}_{}", self.turns, self.permission_requests);
        let answer = self.pending.insert(&request_id);
        let _ = self
            .sink
            .emit(EventKind::PermissionRequested {
                request_id: request_id.clone(),
                call_id: call.call_id.clone(),
                tool: call.name.clone(),
                kind,
                summary,
            })
            .await;
        let decision = tokio::select! {
            answer = answer => answer.unwrap_or(PermissionDecision::Deny),
            () = cancel.cancelled() => PermissionDecision::Deny,
        };
        self.pending.remove(&request_id);
        let remembered = self.policy.record(&call.name, kind, target, decision);
        let _ = self
            .sink
            .emit(EventKind::PermissionDecided {
                request_id,
                call_id: call.call_id.clone(),
                decision,
                source: PermissionSource::User,
                rule: None,
                remembered,
            })
            .await;
        decision
    }

    /// Reports a decision the policy made without asking, with the rule that made it.
    async fn record_decision(
        &self,
        call: &ToolCall,
        decision: PermissionDecision,
        source: PermissionSource,
        rule: String,
    ) {
        let _ = self
            .sink
            .emit(EventKind::PermissionDecided {
                request_id: format!("auto_{}", call.call_id),
                call_id: call.call_id.clone(),
                decision,
                source,
                rule: Some(rule),
                remembered: Vec::new(),
            })
            .await;
    }

    /// Runs one ready call; a cancel stops it (dropping the tool's future, which kills what it
    /// started) and answers "cancelled".
    async fn execute(
        &self,
        ready: ReadyCall,
        calls: &[ToolCall],
        cancel: &CancellationToken,
    ) -> (usize, ToolResult) {
        let call = &calls[ready.index];
        let context = ToolContext {
            session_id: self.sink.session_id().clone(),
            workspace: self.config.workspace.clone(),
            cwd: self.config.cwd.clone(),
            allowed_paths: self.config.allowed_paths.clone(),
            call_id: call.call_id.clone(),
            cancel: cancel.child_token(),
            limits: self.config.limits,
            sandbox: self.config.sandbox.clone(),
            files: self.files.clone(),
            output: ToolOutputSink::new(self.sink.clone(), call.call_id.clone()),
        };
        let started = now_ms();
        // A tool that finished as the cancel came keeps its real result.
        let outcome = tokio::select! {
            biased;
            outcome = ready.tool.call(ready.arguments, &context) => Some(outcome),
            () = cancel.cancelled() => None,
        };
        let (output, is_error) = match outcome {
            Some(Ok(output)) => (output.text, false),
            Some(Err(err)) => (err.message, true),
            None => ("cancelled by the user while running".to_string(), true),
        };
        let result = ToolResult {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            output: truncate_middle(output, self.config.limits.max_output_bytes),
            is_error,
        };
        self.report_finished(&result, now_ms().saturating_sub(started))
            .await;
        (ready.index, result)
    }

    async fn report_finished(&self, result: &ToolResult, duration_ms: u64) {
        let _ = self
            .sink
            .emit(EventKind::ToolCallFinished {
                call_id: result.call_id.clone(),
                name: result.name.clone(),
                output: result.output.clone(),
                is_error: result.is_error,
                duration_ms,
            })
            .await;
    }
}

/// The first `max` bytes of `text` (on a character boundary), marked when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// Keeps the head and tail of an output longer than `max` bytes: the start says what ran and
/// the end usually holds the error.
pub(crate) fn truncate_middle(text: String, max: usize) -> String {
    if text.len() <= max || max == 0 {
        return text;
    }
    let keep = max / 2;
    let mut head_end = keep;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - keep;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[… {} bytes omitted …]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_middle_keeps_both_ends_on_char_boundaries() {
        let text = "é".repeat(100);
        let cut = truncate_middle(text.clone(), 51);
        assert!(cut.starts_with('é'));
        assert!(cut.ends_with('é'));
        assert!(cut.contains("bytes omitted"));
        assert_eq!(truncate_middle("short".into(), 10), "short");
    }
}
