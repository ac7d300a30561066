//! What the user types: the prompt editor, the slash commands, and the completion of `@file`
//! mentions and command names.

mod commands;
mod editor;
pub mod mentions;

pub use commands::{HELP, SlashCommand};
pub use editor::{Editor, Word};
pub use mentions::Completer;
