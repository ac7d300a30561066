//! The UI's loop: waits on the terminal and the engine at once and draws only after a change.
//! Nothing ticks while idle; the spinner ticks only while a turn runs, and frames are spaced
//! at least [`FRAME_SPACING`] apart so a fast stream does not redraw for every delta.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use code_mesh_core::{SessionHandle, Store};
use code_mesh_protocol::config::Strategy;
use code_mesh_protocol::{Op, SessionId};
use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app::picker::ModelChoice;
use crate::app::saved_rules::{RuleSaver, rules_to_save};
use crate::app::{App, Effect, SESSION_PICKER_LIMIT, SessionSwitch, SwitchNotice};
use crate::render;
use crate::terminal::TerminalSession;
use crate::theme::Theme;
use crate::watch;

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
    /// The directory whose files `@` mentions complete (the session's working directory);
    /// without one the prompt offers no files.
    pub workspace: Option<PathBuf>,
    /// Whether the session was resumed: its stored events are read from `store` a page at a
    /// time and shown before the live ones (live events already among them are not shown
    /// twice).
    pub resumed: bool,
    /// What the switch that opened this UI did (or why it failed), shown first.
    pub notice: Option<SwitchNotice>,
    /// The strategy the session runs with, for `/strategy`.
    pub strategy: Strategy,
    /// What the model picker offers from the start (the catalogue's models).
    pub models: Vec<ModelChoice>,
    /// The full list again once slower sources (local servers) answered; the UI does not wait
    /// for them to open.
    pub more_models: Option<tokio::sync::watch::Receiver<Vec<ModelChoice>>>,
    /// Where "allow always" answers are saved as config rules; without one they hold for the
    /// session only.
    pub rule_saver: Option<Arc<dyn RuleSaver>>,
}

/// Why the UI ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TuiExit {
    /// The user quit (`/quit`, Ctrl-C or Ctrl-D on an empty prompt).
    Quit,
    /// The user asked for another session, or this one changed (`/new`, `/sessions`,
    /// `/model`, `/strategy`, `/undo`); the caller opens it and runs the UI again.
    Switch(SessionSwitch),
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
    app.session.id = Some(handle.id().clone());
    app.session.strategy = options.strategy;
    app.session.models = options.models;
    if options.resumed
        && let Some(store) = &options.store
    {
        load_history(&mut app, store.as_ref(), handle.id()).await;
    }
    if let Some(notice) = options.notice {
        app.show_switch_notice(notice);
    }
    let mut more_models = options.more_models;
    if let Some(models) = &mut more_models {
        // Models that arrived before this UI opened (a UI reopened after a switch).
        let arrived = models.borrow_and_update().clone();
        if !arrived.is_empty() {
            app.set_models(arrived);
        }
    }
    let store = options.store;
    let rule_saver = options.rule_saver;
    app.saves_rules = rule_saver.is_some();
    if let Some(root) = options.workspace {
        app.session.cwd = Some(root.display().to_string());
        app.completion.set_root(root);
    }
    // Told when the file list for `@` mentions is walked, so an open popup fills at once.
    let files_listed = app.completion.ready_signal();
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
    // The open agent view's events (see `watch`); `None` subscribes to nothing.
    let mut agent_feed = None;
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
                            Effect::Switch(switch) => break 'ui TuiExit::Switch(switch),
                            Effect::ListSessions => {
                                let sessions = list_sessions(store.as_deref()).await;
                                app.open_session_picker(sessions, now_ms());
                            }
                            Effect::WatchAgent(session) => {
                                let bus = handle.watch_session(&session);
                                agent_feed = Some(watch::agent_feed(session, bus, store.clone()));
                            }
                            Effect::UnwatchAgent => agent_feed = None,
                        }
                    }
                }
                Some(Err(err)) => return Err(TuiError::Terminal(err)),
                None => break 'ui TuiExit::Quit,
            },
            engine_event = handle.next_event() => match engine_event {
                Some(event) => {
                    app.apply(&event);
                    // A small file written once per answer; not worth a thread.
                    if let Some(rules) = rules_to_save(&event.kind) {
                        let outcome = rule_saver
                            .as_deref()
                            .filter(|_| !rules.is_empty())
                            .map(|saver| saver.save(rules));
                        app.rules_saved(rules, outcome);
                    }
                }
                None => break 'ui TuiExit::EngineStopped,
            },
            _ = spinner.tick(), if app.is_running() => app.tick(),
            changed = wait_for_models(more_models.as_mut()), if more_models.is_some() => {
                match changed {
                    Some(models) => app.set_models(models),
                    // Nothing more will come.
                    None => more_models = None,
                }
            }
            feed = watch::next(agent_feed.as_mut()), if agent_feed.is_some() => match feed {
                Some(feed) => app.agent_feed(feed),
                None => agent_feed = None,
            },
            () = files_listed.notified() => app.refresh_completion(),
            () = tokio::time::sleep_until(due), if frame_pending => {}
        }
    };
    // Cancels a running turn and ends the session's loop; its events need no reader now.
    let _ = handle.submit(Op::Shutdown);
    drop(session);
    Ok(exit)
}

/// The recent sessions for the session picker.
async fn list_sessions(
    store: Option<&dyn Store>,
) -> Result<Vec<code_mesh_protocol::SessionInfo>, String> {
    let Some(store) = store else {
        return Err("this UI was opened without its session store".to_owned());
    };
    store
        .list_sessions(SESSION_PICKER_LIMIT)
        .await
        .map_err(|err| err.to_string())
}

/// The next full list of models, or `None` once the sender is gone.
async fn wait_for_models(
    models: Option<&mut tokio::sync::watch::Receiver<Vec<ModelChoice>>>,
) -> Option<Vec<ModelChoice>> {
    let models = models?;
    models.changed().await.ok()?;
    Some(models.borrow_and_update().clone())
}

/// Milliseconds since the Unix epoch ("3 h ago" in the session picker).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// How many stored events one read brings in: a page's events are folded and dropped before the
/// next is read, so opening a long session never holds all of its events at once.
pub(crate) const HISTORY_PAGE: usize = 1_000;

/// Folds a resumed session's stored events into the conversation, a page at a time. A failed
/// read is shown as an error; what was read before it stays.
pub(crate) async fn load_history(app: &mut App, store: &dyn Store, session: &SessionId) {
    let mut after = 0;
    loop {
        match store.events_after(session, after, HISTORY_PAGE).await {
            Ok(page) => {
                let Some(last) = page.last() else { break };
                after = last.seq;
                app.fold_history_page(&page);
                if page.len() < HISTORY_PAGE {
                    break;
                }
            }
            Err(err) => {
                app.show_history_error(&err);
                break;
            }
        }
    }
    app.finish_history();
}
