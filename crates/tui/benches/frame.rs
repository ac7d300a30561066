//! Keystroke-to-frame inside the process (issue 7): how long the terminal UI takes to take in
//! input and draw the frame that shows it, with a short and a long conversation open.
//!
//! Run: `cargo bench -p code-mesh-tui --bench frame [-- SIZES...]` (sizes in messages,
//! default `100 10000`).
//!
//! The conversation is folded from protocol events as a session's history arrives: a user
//! message, an assistant answer with Markdown and a code block that calls a tool, the tool's
//! result, repeated. For each size it measures
//! - fold: a fresh [`App`] taking in the whole history, event by event (`apply`, as live events
//!   come) and at once (`load_history`, as a resumed session's stored events come);
//! - key + frame: one key press handled and one full frame drawn into ratatui's `TestBackend`
//!   at 120x40 (alternately a character and Backspace, so the editor stays one row);
//! - delta + frame: one streamed text delta of a running answer and the frame that shows it;
//! - memory: resident memory taken by the folded conversation and by the first frame's layout
//!   (Linux's `/proc/self/status`).
//!
//! Frames are drawn the way the UI loop draws them (`Terminal::draw` with `render::draw`), so
//! the figures include ratatui's buffer diff; the backend only records cells, so they exclude
//! the terminal's own write. The frame measurements alternate between the histories, so on a
//! shared machine every size sees the same load. The workspace has no benchmark framework: like the store's
//! benches this times itself and prints median, 95th percentile and worst.

use std::time::{Duration, Instant};

use code_mesh_protocol::{
    Event, EventKind, Message, Part, Role, SessionId, ToolCall, ToolResult, TurnEndReason, TurnId,
    Usage,
};
use code_mesh_tui::app::App;
use code_mesh_tui::render;
use code_mesh_tui::theme::Theme;
use crossterm::event::{Event as TerminalEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
/// Timed repetitions of each single-frame measurement.
const FRAMES: usize = 400;
/// Timed folds of the whole history.
const FOLDS: usize = 7;

const ANSWER: &str = "## Step {n}\n\nThe parser reads **nested blocks** one level at a time; \
`parse_block` recurses and the *depth* is checked against the limit:\n\n\
- `src/lib.rs`: the entry point\n- `src/block.rs`: the recursion\n\n\
```rust\nfn parse_block(input: &str, depth: usize) -> Result<Block, Error> {\n    \
if depth > MAX_DEPTH {\n        return Err(Error::TooDeep);\n    }\n    \
let inner = parse_expression(input)?;\n    Ok(Block { inner, depth })\n}\n```\n\n\
Let me read the test file next.";

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        session_id: SessionId("ses_bench".into()),
        at: 1_764_245_000_000 + seq,
        kind,
    }
}

fn message(seq: u64, role: Role, parts: Vec<Part>) -> Message {
    let assistant = role == Role::Assistant;
    Message {
        seq,
        role,
        parts,
        model: assistant.then(|| "openai/gpt-5-mini".to_owned()),
        usage: assistant.then(|| Usage {
            input_tokens: 1_200,
            output_tokens: 80,
            ..Usage::default()
        }),
        interrupted: false,
        created_at: 1_764_245_000_000 + seq,
    }
}

/// The events of a history of `messages` messages, in turns of three: the user's prompt, the
/// assistant's answer with a tool call, the tool's result.
fn history(messages: u64) -> Vec<Event> {
    let mut events = vec![event(
        0,
        EventKind::SessionStarted {
            cwd: "/bench".into(),
            workspace: "/bench".into(),
            model: "openai/gpt-5-mini".into(),
            resumed: true,
        },
    )];
    let mut seq = 0;
    while seq < messages {
        let turn = TurnId((seq / 3 + 1) as u32);
        events.push(event(seq, EventKind::TurnStarted { turn }));
        for _ in 0..3 {
            if seq == messages {
                break;
            }
            seq += 1;
            let call_id = format!("call_{}", seq / 3);
            let message = match seq % 3 {
                1 => message(
                    seq,
                    Role::User,
                    vec![Part::Text {
                        text: format!(
                            "Step {seq}: look at src/lib.rs and tell me what the parser does \
                             with nested blocks."
                        ),
                    }],
                ),
                2 => message(
                    seq,
                    Role::Assistant,
                    vec![
                        Part::Text {
                            text: ANSWER.replace("{n}", &seq.to_string()),
                        },
                        Part::ToolCall(ToolCall {
                            call_id,
                            name: "read".into(),
                            arguments: r#"{"path":"tests/parse.rs","offset":0,"limit":200}"#.into(),
                            signature: None,
                        }),
                    ],
                ),
                _ => message(
                    seq,
                    Role::Tool,
                    vec![Part::ToolResult(ToolResult {
                        call_id,
                        name: "read".into(),
                        output: "#[test]\nfn nested() { assert!(parse(\"{{}}\").is_ok()); }\n"
                            .repeat(6),
                        is_error: false,
                    })],
                ),
            };
            events.push(event(seq, EventKind::MessageAdded { message }));
        }
        events.push(event(
            seq,
            EventKind::TurnFinished {
                turn,
                reason: TurnEndReason::Completed,
                steps: 1,
                usage: Usage::default(),
            },
        ));
    }
    events
}

fn fold(events: &[Event]) -> App {
    let mut app = App::new(Some(400_000));
    for event in events {
        app.apply(event);
    }
    app
}

fn key(code: KeyCode) -> TerminalEvent {
    TerminalEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Median, 95th percentile and worst of `samples`.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95), at(1.0))
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn row(label: &str, size: u64, samples: Vec<Duration>, unit: &str) {
    let (median, p95, worst) = summary(samples);
    let scale = |d: Duration| match unit {
        "ms" => d.as_secs_f64() * 1e3,
        _ => micros(d),
    };
    println!(
        "{label:<14} {size:>8} {:>10.2} {:>10.2} {:>10.2}  {unit}",
        scale(median),
        scale(p95),
        scale(worst),
    );
}

/// One history folded and drawn once, ready for the frame measurements.
struct Loaded {
    size: u64,
    app: App,
    terminal: Terminal<TestBackend>,
}

/// The process's resident memory in KiB (`VmRSS`), where `/proc` has it.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib_between(before: Option<u64>, after: Option<u64>) -> String {
    match (before, after) {
        (Some(before), Some(after)) => {
            format!("{:+.1} MiB", (after as f64 - before as f64) / 1024.0)
        }
        _ => "unknown (no /proc)".to_owned(),
    }
}

fn load(size: u64, theme: &Theme) -> Result<Loaded, Box<dyn std::error::Error>> {
    let events = history(size);
    // Memory first, before timed folds leave freed memory behind for these to reuse.
    let before = resident_kib();
    let mut app = App::new(Some(400_000));
    app.load_history(&events);
    let folded = resident_kib();
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    let started = Instant::now();
    terminal.draw(|frame| render::draw(frame, &mut app, theme))?;
    let first_frame = started.elapsed();
    let drawn = resident_kib();
    println!(
        "{:<14} {size:>8} conversation {}, laid out by the first frame {} (VmRSS)",
        "memory",
        mib_between(before, folded),
        mib_between(folded, drawn),
    );
    // The last user message (numbers 1, 4, 7, …) must be on screen: the view follows the end.
    let last = format!("Step {}:", size - (size + 2) % 3);
    let shown: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|cell| cell.symbol())
        .collect();
    if size > 0 && !shown.contains(&last) {
        return Err(
            format!("the first frame does not show the end of the history ({last})").into(),
        );
    }

    let mut folds = Vec::with_capacity(FOLDS);
    for _ in 0..FOLDS {
        let started = Instant::now();
        let app = fold(&events);
        folds.push(started.elapsed());
        std::hint::black_box(app);
    }
    row("fold (apply)", size, folds, "ms");
    // How a resumed session's stored events come in: at once, settled, one frame after.
    let mut loads = Vec::with_capacity(FOLDS);
    for _ in 0..FOLDS {
        let mut app = App::new(Some(400_000));
        let started = Instant::now();
        app.load_history(&events);
        loads.push(started.elapsed());
        std::hint::black_box(app);
    }
    row("load_history", size, loads, "ms");
    row("first frame", size, vec![first_frame], "ms");
    Ok(Loaded {
        size,
        app,
        terminal,
    })
}

/// Times `step` (an input and the frame after it) on every history in turn, `FRAMES` times
/// each, so the histories are compared under the same load of a shared machine.
fn interleaved(
    label: &str,
    loaded: &mut [Loaded],
    theme: &Theme,
    mut step: impl FnMut(&mut App, usize),
) -> Result<(), Box<dyn std::error::Error>> {
    let mut samples = vec![Vec::with_capacity(FRAMES); loaded.len()];
    for index in 0..FRAMES {
        for (history, samples) in loaded.iter_mut().zip(&mut samples) {
            let started = Instant::now();
            step(&mut history.app, index);
            let app = &mut history.app;
            history
                .terminal
                .draw(|frame| render::draw(frame, app, theme))?;
            samples.push(started.elapsed());
        }
    }
    for (history, samples) in loaded.iter().zip(samples) {
        row(label, history.size, samples, "µs");
    }
    Ok(())
}

fn measure(sizes: &[u64]) -> Result<(), Box<dyn std::error::Error>> {
    let theme = Theme::colored();
    let mut loaded = sizes
        .iter()
        .map(|&size| load(size, &theme))
        .collect::<Result<Vec<_>, _>>()?;
    // Alternately a character and Backspace, so the editor stays one row.
    interleaved("key + frame", &mut loaded, &theme, |app, index| {
        let code = if index % 2 == 0 {
            KeyCode::Char('x')
        } else {
            KeyCode::Backspace
        };
        app.handle_terminal_event(key(code));
    })?;
    for history in &mut loaded {
        let turn = TurnId(u32::MAX);
        let seq = history.size + 1;
        history
            .app
            .apply(&event(seq, EventKind::TurnStarted { turn }));
    }
    // Words, and a paragraph break now and then, as a model streams them.
    interleaved("delta + frame", &mut loaded, &theme, |app, index| {
        let delta = if index % 20 == 19 {
            "done.\n\n".to_owned()
        } else {
            format!("word{index} ")
        };
        app.apply(&event(0, EventKind::TextDelta { delta }));
    })?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; sizes are the other arguments.
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .map(|arg| arg.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![100, 10_000]
    } else {
        sizes
    };
    println!(
        "frames at {WIDTH}x{HEIGHT} into ratatui's TestBackend; {FRAMES} frames, {FOLDS} folds"
    );
    println!(
        "{:<14} {:>8} {:>10} {:>10} {:>10}",
        "measure", "messages", "median", "p95", "worst"
    );
    measure(&sizes)
}
