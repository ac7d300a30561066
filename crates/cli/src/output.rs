//! How `run` shows events: assistant text on stdout as it streams, progress and problems on
//! stderr, or every event as a JSON line with `--json`.

use std::io::Write;

use code_mesh_protocol::{Event, EventKind, TurnEndReason};

/// Prints events for a person or for a program.
pub struct EventPrinter {
    json: bool,
    /// Whether stdout's last byte was a newline, so text and progress don't run together.
    at_line_start: bool,
    /// Whether the user is shown a fresh-line separator before the next text.
    wrote_text: bool,
}

impl EventPrinter {
    pub fn new(json: bool) -> Self {
        EventPrinter {
            json,
            at_line_start: true,
            wrote_text: false,
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
            EventKind::TurnFinished {
                reason,
                steps,
                usage,
                ..
            } => {
                self.end_text_line();
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
                    eprintln!(
                        "tokens: {} in, {} out",
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
