//! The conversation as the screen shows it, folded from the session's events. Pure data: no
//! terminal, so every state the view can be in is reachable from a test with a few events.

use code_mesh_protocol::{
    CompactionMode, ErrorCode, EventKind, Message, Part, PermissionDecision, PermissionSource,
    Role, ToolKind, TurnEndReason,
};

use std::collections::HashSet;

use super::summary::{arguments_summary, count_label};

/// One block of the conversation, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    User {
        text: String,
    },
    /// Assistant text: streamed from `text_delta` (`streaming`), then replaced by the finished
    /// message, which is what the model really said (deltas may be cut or repaired).
    Assistant {
        text: String,
        streaming: bool,
        interrupted: bool,
    },
    /// The model's reasoning, folded unless `expanded`.
    Reasoning {
        text: String,
        streaming: bool,
        expanded: bool,
    },
    Tool(Box<ToolBlock>),
    /// A permission question and, once settled, its answer.
    Permission(Box<PermissionEntry>),
    Error {
        code: ErrorCode,
        message: String,
        hint: Option<String>,
    },
    Warning {
        message: String,
    },
    /// Engine news that is neither an error nor a warning (compaction, retries, failover,
    /// task progress, a turn that ended early) and the UI's own answers (`/cost`, `/help`).
    Notice {
        text: String,
    },
}

/// A tool call: what was asked, what it printed, how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolBlock {
    pub call_id: String,
    pub name: String,
    /// One line saying what the call is about (its command, path or pattern).
    pub summary: String,
    pub arguments: String,
    /// Streamed output while it runs; the finished call's output after.
    pub output: String,
    pub status: ToolStatus,
    pub duration_ms: Option<u64>,
    pub expanded: bool,
}

/// Where a tool call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolStatus {
    Running,
    /// Waiting for the user's answer in the permission dialog.
    AwaitingPermission,
    Ok,
    Failed,
    /// Refused by a rule or by the user; the model was told so.
    Denied,
}

impl ToolStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ToolStatus::Ok | ToolStatus::Failed | ToolStatus::Denied
        )
    }
}

/// A permission question shown in the conversation (the dialog answers the pending ones).
#[derive(Clone, Debug, PartialEq)]
pub struct PermissionEntry {
    pub request_id: String,
    pub call_id: String,
    pub tool: String,
    pub kind: ToolKind,
    pub summary: String,
    pub decision: Option<(PermissionDecision, PermissionSource)>,
}

/// Whether a turn is running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TurnState {
    #[default]
    Idle,
    Running,
}

/// The conversation of one session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversation {
    entries: Vec<Entry>,
    turn: TurnState,
    /// Bumped on every change, so a view can tell whether it must redraw.
    revision: u64,
    /// The first entry changed since the view last laid entries out; the ones before it keep
    /// their rows, so a stream re-lays out only its own entry.
    changed_from: Option<usize>,
    /// Whether new tool and reasoning blocks start opened (Ctrl-O was pressed).
    expand_new: bool,
    /// Entries before this index do not stream: where the searches for streams start, so a
    /// long history is folded in linear time.
    settled: usize,
    /// The call ids tool blocks were made for, and the request ids of permission questions:
    /// an id not here has no entry, found without a scan.
    call_ids: HashSet<String>,
    request_ids: HashSet<String>,
}

impl Conversation {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn turn(&self) -> TurnState {
        self.turn
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The first entry changed since the last call (`None`: none changed).
    pub fn take_changed_from(&mut self) -> Option<usize> {
        self.changed_from.take()
    }

    fn touch(&mut self, index: usize) {
        self.revision += 1;
        self.changed_from = Some(self.changed_from.map_or(index, |from| from.min(index)));
    }

    /// Permission questions nobody has answered yet, oldest first.
    pub fn pending_permissions(&self) -> impl Iterator<Item = &PermissionEntry> {
        self.entries.iter().filter_map(|entry| match entry {
            Entry::Permission(permission) if permission.decision.is_none() => Some(&**permission),
            _ => None,
        })
    }

    /// Adds a line of the UI's own (an answer to `/cost`, a refused command).
    pub fn push_notice(&mut self, text: impl Into<String>) {
        self.push(Entry::Notice { text: text.into() });
    }

    /// Opens or folds every tool block and reasoning block at once, and those to come.
    pub fn set_expanded(&mut self, expanded: bool) {
        self.expand_new = expanded;
        for entry in &mut self.entries {
            match entry {
                Entry::Tool(block) => block.expanded = expanded,
                Entry::Reasoning { expanded: e, .. } => *e = expanded,
                _ => {}
            }
        }
        self.touch(0);
    }

    /// Opens or folds one tool block.
    pub fn toggle_tool(&mut self, call_id: &str) {
        if let Some(block) = self.tool_mut(call_id) {
            block.expanded = !block.expanded;
        }
    }

    /// Closes what a stored history left open: the run it comes from has ended (or crashed),
    /// so nothing in it still streams, runs or waits for an answer.
    pub fn settle_history(&mut self) {
        self.end_streams();
        self.set_turn(TurnState::Idle);
        for entry in &mut self.entries {
            match entry {
                Entry::Permission(permission) if permission.decision.is_none() => {
                    permission.decision =
                        Some((PermissionDecision::Deny, PermissionSource::NoOneToAsk));
                }
                Entry::Tool(block) if !block.status.is_finished() => {
                    block.status = ToolStatus::Failed;
                }
                _ => {}
            }
        }
        self.touch(0);
    }

    /// Takes in one event of the session. Returns whether anything visible changed.
    pub fn apply(&mut self, event: &EventKind) -> bool {
        let before = self.revision;
        match event {
            EventKind::TurnStarted { .. } => self.set_turn(TurnState::Running),
            EventKind::TurnFinished { reason, .. } => {
                self.end_streams();
                self.set_turn(TurnState::Idle);
                match reason {
                    TurnEndReason::Completed | TurnEndReason::Failed => {}
                    TurnEndReason::Cancelled => self.push_notice("cancelled; what arrived is kept"),
                    TurnEndReason::MaxTurns => self.push_notice(
                        "stopped: the turn used its model requests (`--max-turns`); send \
                         `continue` to go on",
                    ),
                }
            }
            EventKind::TextDelta { delta } => self.stream_text(delta),
            EventKind::ReasoningDelta { delta } => self.stream_reasoning(delta),
            EventKind::MessageAdded { message } => self.add_message(message),
            EventKind::ToolCallStarted {
                call_id,
                name,
                arguments,
            } => {
                // The assistant message listing the call may have made its block already.
                if let Some(block) = self.tool_mut(call_id) {
                    block.arguments.clone_from(arguments);
                    block.summary = arguments_summary(arguments);
                    block.status = ToolStatus::Running;
                } else {
                    self.start_tool(call_id, name, arguments);
                }
            }
            EventKind::ToolOutputDelta { call_id, delta } => {
                if let Some(block) = self.tool_mut(call_id) {
                    block.output.push_str(delta);
                }
            }
            EventKind::ToolCallFinished {
                call_id,
                name,
                output,
                is_error,
                duration_ms,
            } => {
                if !self.has_tool(call_id) {
                    self.start_tool(call_id, name, "");
                }
                if let Some(block) = self.tool_mut(call_id) {
                    block.output.clone_from(output);
                    block.duration_ms = Some(*duration_ms);
                    block.status = match (block.status, is_error) {
                        (ToolStatus::Denied, _) => ToolStatus::Denied,
                        (_, true) => ToolStatus::Failed,
                        (_, false) => ToolStatus::Ok,
                    };
                }
            }
            EventKind::PermissionRequested {
                request_id,
                call_id,
                tool,
                kind,
                summary,
            } => {
                if let Some(block) = self.tool_mut(call_id) {
                    block.status = ToolStatus::AwaitingPermission;
                }
                self.request_ids.insert(request_id.clone());
                self.push(Entry::Permission(Box::new(PermissionEntry {
                    request_id: request_id.clone(),
                    call_id: call_id.clone(),
                    tool: tool.clone(),
                    kind: *kind,
                    summary: summary.clone(),
                    decision: None,
                })));
            }
            EventKind::PermissionDecided {
                request_id,
                call_id,
                decision,
                source,
                ..
            } => self.decide(request_id, call_id, *decision, *source),
            EventKind::Error {
                code,
                message,
                hint,
            } => {
                self.end_streams();
                self.push(Entry::Error {
                    code: *code,
                    message: message.clone(),
                    hint: hint.clone(),
                });
            }
            EventKind::Warning { message } => self.push(Entry::Warning {
                message: message.clone(),
            }),
            EventKind::ProviderRetry {
                attempt,
                delay_ms,
                message,
                ..
            } => self.push_notice(format!(
                "{message}; retrying in {:.1}s (retry {attempt})",
                *delay_ms as f64 / 1000.0
            )),
            EventKind::ProviderFailover { from, to, message } => {
                self.push_notice(format!("{message}; `{from}` failed, switching to `{to}`"));
            }
            EventKind::ResponseCacheHit { model } => {
                self.push_notice(format!("answered from the response cache (`{model}`)"));
            }
            EventKind::ContextCompacted {
                mode,
                pruned_outputs,
                tokens_before,
                tokens_after,
                ..
            } => {
                let what = match mode {
                    CompactionMode::Pruned => {
                        format!(
                            "pruned {}",
                            count_label(*pruned_outputs as usize, "old tool output")
                        )
                    }
                    CompactionMode::Summarized => "summarised the older history".to_owned(),
                };
                self.push_notice(format!(
                    "context compacted: {what} ({tokens_before} → {tokens_after} tokens)"
                ));
            }
            EventKind::TaskCreated { task } => self.push_notice(format!(
                "{} [{}] created: {}",
                task.id, task.agent, task.description
            )),
            EventKind::TaskFailed { task, reason } => {
                self.push_notice(format!("{task} failed: {reason}"));
            }
            _ => {}
        }
        self.revision != before
    }

    fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
        self.touch(self.entries.len() - 1);
    }

    fn set_turn(&mut self, turn: TurnState) {
        if self.turn != turn {
            self.turn = turn;
            self.revision += 1;
        }
    }

    /// The block of a call, counted as changed since callers take it to change it.
    fn tool_mut(&mut self, call_id: &str) -> Option<&mut ToolBlock> {
        if !self.call_ids.contains(call_id) {
            return None;
        }
        let index = self
            .entries
            .iter()
            .rposition(|entry| matches!(entry, Entry::Tool(block) if block.call_id == call_id))?;
        self.touch(index);
        match &mut self.entries[index] {
            Entry::Tool(block) => Some(block),
            _ => None,
        }
    }

    fn has_tool(&self, call_id: &str) -> bool {
        self.call_ids.contains(call_id)
            && self
                .entries
                .iter()
                .rev()
                .any(|entry| matches!(entry, Entry::Tool(block) if block.call_id == call_id))
    }

    fn start_tool(&mut self, call_id: &str, name: &str, arguments: &str) {
        self.call_ids.insert(call_id.to_owned());
        self.push(Entry::Tool(Box::new(ToolBlock {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            summary: arguments_summary(arguments),
            arguments: arguments.to_owned(),
            output: String::new(),
            status: ToolStatus::Running,
            duration_ms: None,
            expanded: self.expand_new,
        })));
    }

    fn stream_text(&mut self, delta: &str) {
        if let Some(Entry::Assistant {
            text,
            streaming: true,
            ..
        }) = self.entries.last_mut()
        {
            text.push_str(delta);
        } else {
            self.entries.push(Entry::Assistant {
                text: delta.to_owned(),
                streaming: true,
                interrupted: false,
            });
        }
        self.touch(self.entries.len() - 1);
    }

    fn stream_reasoning(&mut self, delta: &str) {
        if let Some(Entry::Reasoning {
            text,
            streaming: true,
            ..
        }) = self.entries.last_mut()
        {
            text.push_str(delta);
        } else {
            self.entries.push(Entry::Reasoning {
                text: delta.to_owned(),
                streaming: true,
                expanded: self.expand_new,
            });
        }
        self.touch(self.entries.len() - 1);
    }

    /// Streams that never got their finished message (an error, a cancel) stay as they are,
    /// marked as no longer streaming.
    fn end_streams(&mut self) {
        let mut changed = None;
        let from = self.settled.min(self.entries.len());
        for (index, entry) in self.entries.iter_mut().enumerate().skip(from) {
            match entry {
                Entry::Assistant {
                    streaming,
                    interrupted,
                    ..
                } if *streaming => {
                    *streaming = false;
                    *interrupted = true;
                }
                Entry::Reasoning { streaming, .. } if *streaming => *streaming = false,
                _ => continue,
            }
            changed.get_or_insert(index);
        }
        self.settled = self.entries.len();
        if let Some(index) = changed {
            self.touch(index);
        }
    }

    fn add_message(&mut self, message: &Message) {
        match message.role {
            // The person's own words are the first part; notices the engine adds for the model
            // (files changed behind its back, …) were shown as warnings already.
            Role::User => self.push(Entry::User {
                text: match message.parts.first() {
                    Some(Part::Text { text }) => text.clone(),
                    _ => message.text(),
                },
            }),
            Role::Assistant => self.finish_assistant(message),
            // Results of calls this view saw start already arrived in `tool_call_finished`;
            // others (a history read back) fill their blocks here.
            Role::Tool => {
                for result in message.tool_results() {
                    if !self.has_tool(&result.call_id) {
                        self.start_tool(&result.call_id, &result.name, "");
                    }
                    if let Some(block) = self.tool_mut(&result.call_id)
                        && !block.status.is_finished()
                    {
                        block.output.clone_from(&result.output);
                        block.status = if result.is_error {
                            ToolStatus::Failed
                        } else {
                            ToolStatus::Ok
                        };
                    }
                }
            }
        }
    }

    /// The streamed text and reasoning of this step give way to the finished message, at the
    /// place the stream began.
    fn finish_assistant(&mut self, message: &Message) {
        let from = self.settled.min(self.entries.len());
        let start = self.entries[from..]
            .iter()
            .position(|entry| {
                matches!(
                    entry,
                    Entry::Assistant {
                        streaming: true,
                        ..
                    } | Entry::Reasoning {
                        streaming: true,
                        ..
                    }
                )
            })
            .map_or(self.entries.len(), |index| from + index);
        let expanded_reasoning = self.entries[start..]
            .iter()
            .any(|entry| matches!(entry, Entry::Reasoning { expanded: true, .. }));
        let mut kept: Vec<Entry> = self.entries.drain(start..).collect();
        kept.retain(|entry| {
            !matches!(
                entry,
                Entry::Assistant {
                    streaming: true,
                    ..
                } | Entry::Reasoning {
                    streaming: true,
                    ..
                }
            )
        });
        let mut finished = Vec::new();
        let mut text = String::new();
        for part in &message.parts {
            match part {
                Part::Reasoning { text, .. } if !text.trim().is_empty() => {
                    finished.push(Entry::Reasoning {
                        text: text.clone(),
                        streaming: false,
                        expanded: expanded_reasoning || self.expand_new,
                    });
                }
                Part::Text { text: part } => text.push_str(part),
                _ => {}
            }
        }
        if !text.trim().is_empty() || message.interrupted {
            finished.push(Entry::Assistant {
                text,
                streaming: false,
                interrupted: message.interrupted,
            });
        }
        self.entries.extend(finished);
        self.entries.extend(kept);
        // No stream is left: the step's streamed entries gave way to the message.
        self.settled = self.entries.len();
        // Calls read back from a stored history have no `tool_call_started`.
        for call in message.tool_calls() {
            if !self.has_tool(&call.call_id) {
                self.start_tool(&call.call_id, &call.name, &call.arguments);
            }
        }
        self.touch(start);
    }

    fn decide(
        &mut self,
        request_id: &str,
        call_id: &str,
        decision: PermissionDecision,
        source: PermissionSource,
    ) {
        let mut asked = None;
        // Rules settle most calls without a question, so most requests have no entry.
        if self.request_ids.contains(request_id) {
            for (index, entry) in self.entries.iter_mut().enumerate().rev() {
                if let Entry::Permission(permission) = entry
                    && permission.request_id == request_id
                {
                    permission.decision = Some((decision, source));
                    asked = Some(index);
                    break;
                }
            }
        }
        if let Some(index) = asked {
            self.touch(index);
        }
        // Rules settle most calls silently: the block changes only when refused or when it
        // was waiting for this answer.
        let denied = !decision.allows();
        let waiting = self.call_ids.contains(call_id)
            && self.entries.iter().rev().any(|entry| {
                matches!(entry, Entry::Tool(block)
                if block.call_id == call_id && block.status == ToolStatus::AwaitingPermission)
            });
        if (denied || waiting)
            && let Some(block) = self.tool_mut(call_id)
        {
            block.status = if denied {
                ToolStatus::Denied
            } else {
                ToolStatus::Running
            };
        }
    }
}
