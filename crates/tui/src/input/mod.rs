//! What the user types: the prompt editor and the slash commands.

mod commands;
mod editor;

pub use commands::{HELP, SlashCommand};
pub use editor::Editor;
