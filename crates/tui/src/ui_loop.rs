//! The UI's loop: waits on the terminal and the engine at once and draws only after a change.
//! Nothing ticks while idle; the spinner ticks only while a turn runs, and frames are spaced
//! at least [`FRAME_SPACING`] apart so a fast stream does not redraw for every delta.

use std::sync::Arc;
use std::time::Duration;

use code_mesh_core::{SessionHandle, Store};
use code_mesh_protocol::Op;
use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app::{App, Effect};
use crate::render;
use crate::terminal::TerminalSession;
use crate::theme::Theme;

/// Shortest time between two frames (about 60 a second at most).
const FRAME_SPACING: Duration = Duration::from_millis(16);
/// How often the spinner moves while a turn runs.
const SPINNER_PERIOD: Duration = Duration::from_millis(120);

/// How the terminal UI is set up.
#[derive(Clone, Default)]
pub struct TuiOptions {
    /// A first prompt, sent as soon as the UI opens.
    pub prompt: Option<String>,
    /// Colours on (false when `NO_COLOR` is set; the binary reads the environment).
    pub color: bool,
    /// The model's context window in tokens, for the status line's "context used".
    pub context_window: Option<u64>,
    /// The store the session lives in, for what the live events do not carry: other sessions
    /// (the session picker) and agents' own conversations (the agent view).
    pub store: Option<Arc<dyn Store>>,
}

/// Why the UI ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TuiExit {
    /// The user quit (`/quit`, Ctrl-C or Ctrl-D on an empty prompt).
    Quit,
    /// The user asked for a fresh session (`/new`); the caller opens it and runs the UI again.
    NewSession,
    /// The session's engine stopped.
    EngineStopped,
}

/// What can stop the UI.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("cannot use the terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs the terminal UI over a session until the user quits or the engine stops. The session
/// is asked to shut down on the way out; the caller awaits its driver.
pub async fn run(mut handle: SessionHandle, options: TuiOptions) -> Result<TuiExit, TuiError> {
    let theme = Theme::new(options.color);
    let mut app = App::new(options.context_window);
    let mut session = TerminalSession::enter()?;
    if let Some(prompt) = options.prompt.filter(|prompt| !prompt.trim().is_empty())
        && handle.submit(Op::UserTurn { text: prompt }).is_err()
    {
        return Ok(TuiExit::EngineStopped);
    }
    let mut input = EventStream::new();
    let mut spinner = tokio::time::interval(SPINNER_PERIOD);
    spinner.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_frame: Option<Instant> = None;
    let mut frame_pending = false;
    let exit = 'ui: loop {
        frame_pending |= app.take_dirty();
        let due = last_frame.map_or_else(Instant::now, |at| at + FRAME_SPACING);
        if frame_pending && Instant::now() >= due {
            session
                .terminal
                .draw(|frame| render::draw(frame, &mut app, &theme))?;
            last_frame = Some(Instant::now());
            frame_pending = false;
        }
        tokio::select! {
            terminal_event = input.next() => match terminal_event {
                Some(Ok(event)) => {
                    for effect in app.handle_terminal_event(event) {
                        match effect {
                            Effect::Submit(op) => {
                                if handle.submit(op).is_err() {
                                    break 'ui TuiExit::EngineStopped;
                                }
                            }
                            Effect::Quit => break 'ui TuiExit::Quit,
                            Effect::NewSession => break 'ui TuiExit::NewSession,
                        }
                    }
                }
                Some(Err(err)) => return Err(TuiError::Terminal(err)),
                None => break 'ui TuiExit::Quit,
            },
            engine_event = handle.next_event() => match engine_event {
                Some(event) => app.apply(&event),
                None => break 'ui TuiExit::EngineStopped,
            },
            _ = spinner.tick(), if app.is_running() => app.tick(),
            () = tokio::time::sleep_until(due), if frame_pending => {}
        }
    };
    // Cancels a running turn and ends the session's loop; its events need no reader now.
    let _ = handle.submit(Op::Shutdown);
    drop(session);
    Ok(exit)
}
