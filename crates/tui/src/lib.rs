//! Code Mesh's terminal UI: a full-screen front end (ratatui over crossterm) on the same
//! engine API as every other front end — it submits `Op`s to a session and renders the
//! `Event`s it reports. It must not depend on providers, tools or the store: the binary opens
//! the session and hands the TUI its handle.

pub mod app;
pub mod input;
pub mod render;
mod terminal;
pub mod theme;
mod ui_loop;
mod watch;

pub use app::picker::ModelChoice;
pub use app::saved_rules::RuleSaver;
pub use app::{SessionSwitch, SwitchNotice};
pub use ui_loop::{TuiError, TuiExit, TuiOptions, run};
