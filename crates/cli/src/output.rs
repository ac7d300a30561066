//! How `run` shows events: assistant text on stdout as it streams, progress and problems on
//! stderr, or every event as a JSON line with `--json`.

use std::io::Write;

use code_mesh_protocol::{CompactionMode, Event, EventKind, TurnEndReason};

/// Prints events for a person or for a program.
pub struct EventPrinter {
    json: bool,
    /// Whether stdout's last byte was a newline, so text and progress don't run together.
    at_line_start: bool,
    /// Whether the user is shown a fresh-line separator before the next text.
    wrote_text: bool,
    /// The agent profile of each task of an orchestrated run, for its progress lines.
    task_agents: std::collections::HashMap<String, String>,
    /// The run's agents and tasks, printed when the turn ends.
    tree: code_mesh_core::orchestra::RunTree,
}

impl EventPrinter {
    /// `task_2 [tester]`, or the bare id of a task this printer never saw created.
    fn task_label(&self, task: &str) -> String {
        match self.task_agents.get(task) {
            Some(agent) => format!("{task} [{agent}]"),
            None => task.to_owned(),
        }
    }

    /// `agent_2 (coder)`, or the bare id of an agent this printer never saw start.
    fn agent_label(&self, agent: &code_mesh_protocol::AgentId) -> String {
        match self.tree.agent(agent) {
            Some(node) => format!("{agent} ({})", node.info.profile),
            None => agent.to_string(),
        }
    }

    pub fn new(json: bool) -> Self {
        EventPrinter {
            json,
            at_line_start: true,
            wrote_text: false,
            task_agents: std::collections::HashMap::new(),
            tree: code_mesh_core::orchestra::RunTree::new(),
        }
    }

    pub fn print(&mut self, event: &Event) {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) must not abort the run; the session is kept.
            if let Ok(line) = serde_json::to_string(event) {
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
            return;
        }
        self.tree.apply(&event.kind);
        match &event.kind {
            EventKind::TextDelta { delta } => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(delta.as_bytes());
                let _ = stdout.flush();
                if !delta.is_empty() {
                    self.at_line_start = delta.ends_with('\n');
                    self.wrote_text = true;
                }
            }
            EventKind::ToolCallStarted {
                name, arguments, ..
            } => {
                self.end_text_line();
                eprintln!("▸ {name} {}", one_line(arguments, 160));
            }
            EventKind::ToolCallFinished {
                is_error,
                output,
                duration_ms,
                ..
            } => {
                if *is_error {
                    eprintln!("  ✗ {}", one_line(output, 200));
                } else {
                    let lines = output.lines().count();
                    eprintln!("  ✓ {lines} line{} ({duration_ms} ms)", plural(lines));
                }
            }
            EventKind::Error { message, hint, .. } => {
                self.end_text_line();
                eprintln!("error: {message}");
                if let Some(hint) = hint {
                    eprintln!("hint: {hint}");
                }
            }
            EventKind::Warning { message } => {
                self.end_text_line();
                eprintln!("warning: {message}");
            }
            EventKind::ProviderRetry {
                attempt,
                delay_ms,
                message,
                ..
            } => {
                self.end_text_line();
                eprintln!(
                    "{message}; retrying in {} (retry {attempt})",
                    human_delay(*delay_ms)
                );
            }
            EventKind::ProviderFailover { from, to, message } => {
                self.end_text_line();
                eprintln!("{message}; `{from}` failed, switching to `{to}`");
            }
            EventKind::ResponseCacheHit { model } => {
                self.end_text_line();
                eprintln!("answered from the response cache (`{model}`, temperature 0)");
            }
            EventKind::ContextCompacted {
                mode,
                through_seq,
                pruned_outputs,
                tokens_before,
                tokens_after,
                ..
            } => {
                self.end_text_line();
                eprintln!(
                    "{}",
                    compaction_line(
                        *mode,
                        *through_seq,
                        *pruned_outputs,
                        *tokens_before,
                        *tokens_after
                    )
                );
            }
            EventKind::TaskCreated { task } => {
                self.end_text_line();
                self.task_agents
                    .insert(task.id.0.clone(), task.agent.clone());
                eprintln!(
                    "{} [{}] created: {}",
                    task.id,
                    task.agent,
                    one_line(&task.description, 120)
                );
            }
            EventKind::TaskStarted { task, .. } => {
                self.end_text_line();
                eprintln!("{} started", self.task_label(&task.0));
            }
            EventKind::TaskCompleted { task, outcome } => {
                self.end_text_line();
                let spent = match outcome.usage.cost_usd {
                    Some(cost) => dollars(cost).trim_start_matches(", ").to_owned(),
                    None => format!("{} tokens", outcome.usage.total_tokens()),
                };
                eprintln!("{} done ({spent})", self.task_label(&task.0));
            }
            EventKind::TaskFailed { task, reason } => {
                self.end_text_line();
                eprintln!(
                    "{} failed: {}",
                    self.task_label(&task.0),
                    one_line(reason, 200)
                );
            }
            EventKind::AgentMessage {
                from,
                to,
                topic,
                text,
            } => {
                self.end_text_line();
                let to = match (to, topic) {
                    (_, Some(topic)) => format!("topic {topic}"),
                    (Some(to), None) => self.agent_label(to),
                    (None, None) => "everyone".to_owned(),
                };
                eprintln!("{} → {to}: {}", self.agent_label(from), one_line(text, 160));
            }
            EventKind::TaskOutcomeRecorded { lessons, .. } => {
                self.end_text_line();
                for lesson in lessons {
                    eprintln!("learned: {}", lesson.content);
                }
            }
            EventKind::TurnFinished {
                reason,
                steps,
                usage,
                ..
            } => {
                self.end_text_line();
                eprint!("{}", crate::agent_tree::render(&self.tree));
                match reason {
                    TurnEndReason::Completed => {}
                    TurnEndReason::MaxTurns => eprintln!(
                        "stopped: the turn used its {steps} model requests (--max-turns) before the model finished; `code-mesh run -c` continues"
                    ),
                    TurnEndReason::Cancelled => eprintln!(
                        "cancelled: the session is saved; `code-mesh run -c` continues it"
                    ),
                    TurnEndReason::Failed => {}
                }
                if !usage.is_zero() {
                    let cost = usage.cost_usd.map(dollars).unwrap_or_default();
                    eprintln!(
                        "tokens: {} in, {} out{cost}",
                        usage.input_tokens, usage.output_tokens
                    );
                }
            }
            _ => {}
        }
    }

    /// Ends a line of streamed text before stderr output, so the two don't interleave on one
    /// terminal line.
    fn end_text_line(&mut self) {
        if !self.at_line_start {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(b"\n");
            let _ = stdout.flush();
            self.at_line_start = true;
        }
    }

    pub fn finish(&mut self) {
        if !self.json && self.wrote_text {
            self.end_text_line();
        }
    }
}

/// `, $0.0123`: a cost to the hundredth of a cent, and `<$0.0001` for less but not nothing.
pub fn dollars(cost: f64) -> String {
    if cost > 0.0 && cost < 0.0001 {
        ", <$0.0001".to_owned()
    } else {
        format!(", ${cost:.4}")
    }
}

/// `context: pruned 3 tool outputs (41k → 12k tokens)`, or for a summary `context: summarised
/// messages 1–14 (41k → 3.2k tokens)`.
fn compaction_line(
    mode: CompactionMode,
    through_seq: u64,
    pruned_outputs: u32,
    before: u64,
    after: u64,
) -> String {
    let what = match mode {
        CompactionMode::Pruned => format!(
            "pruned {pruned_outputs} tool output{}",
            plural(pruned_outputs as usize)
        ),
        CompactionMode::Summarized => format!("summarised messages 1–{through_seq}"),
    };
    format!(
        "context: {what} ({} → {} tokens)",
        short_tokens(before),
        short_tokens(after)
    )
}

/// `950`, `12k`, `3.2k`, `1.5M`.
fn short_tokens(tokens: u64) -> String {
    match tokens {
        0..1000 => tokens.to_string(),
        1000..10_000 => format!("{:.1}k", tokens as f64 / 1000.0).replace(".0k", "k"),
        10_000..1_000_000 => format!("{}k", (tokens + 500) / 1000),
        _ => format!("{:.1}M", tokens as f64 / 1_000_000.0),
    }
}

/// `800 ms`, or `1.5 s` from a second on.
fn human_delay(millis: u64) -> String {
    if millis < 1000 {
        format!("{millis} ms")
    } else {
        format!("{:.1} s", millis as f64 / 1000.0)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The text on one line, cut to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_show_to_the_hundredth_of_a_cent() {
        assert_eq!(dollars(0.0123), ", $0.0123");
        assert_eq!(dollars(2.0), ", $2.0000");
        assert_eq!(dollars(0.00001), ", <$0.0001");
        assert_eq!(dollars(0.0), ", $0.0000");
        assert_eq!(human_delay(250), "250 ms");
        assert_eq!(human_delay(1500), "1.5 s");
    }

    #[test]
    fn compaction_is_one_progress_line() {
        assert_eq!(
            compaction_line(CompactionMode::Pruned, 9, 3, 41_234, 12_000),
            "context: pruned 3 tool outputs (41k → 12k tokens)"
        );
        assert_eq!(
            compaction_line(CompactionMode::Pruned, 9, 1, 950, 900),
            "context: pruned 1 tool output (950 → 900 tokens)"
        );
        assert_eq!(
            compaction_line(CompactionMode::Summarized, 14, 0, 1_500_000, 3_240),
            "context: summarised messages 1–14 (1.5M → 3.2k tokens)"
        );
    }
}
