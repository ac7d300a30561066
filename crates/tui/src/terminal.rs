//! Taking over the terminal and giving it back: raw mode, the alternate screen, mouse
//! reporting, bracketed paste and (where the terminal has it) the keyboard protocol that tells
//! Shift+Enter from Enter. Given back when the UI ends, on error, and on panic, so a crash
//! never leaves the user's shell in raw mode.

use std::io::{self, Stdout, Write};
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::thread::ThreadId;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
    supports_keyboard_enhancement,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether the terminal is ours now; the panic hook restores it only then.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether the keyboard protocol was pushed and must be popped.
static ENHANCED: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();
/// The thread that took the terminal (the UI's). A panic on another thread (a background file
/// walk, a blocking store call) leaves the UI running, so the terminal stays as it is.
static OWNER: Mutex<Option<ThreadId>> = Mutex::new(None);

/// The terminal while the UI owns it; dropping it gives the terminal back.
pub struct TerminalSession {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalSession {
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        *OWNER.lock().unwrap_or_else(PoisonError::into_inner) = Some(std::thread::current().id());
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        match Self::set_up() {
            Ok(session) => Ok(session),
            Err(err) => {
                restore();
                Err(err)
            }
        }
    }

    fn set_up() -> io::Result<Self> {
        let mut stdout = io::stdout();
        execute!(
            stdout,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        )?;
        if supports_keyboard_enhancement().unwrap_or(false) {
            execute!(
                stdout,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            )?;
            ENHANCED.store(true, Ordering::SeqCst);
        }
        let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
        terminal.clear()?;
        Ok(TerminalSession { terminal })
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back, once, whatever state it was left in.
fn restore() {
    restore_into(&mut io::stdout());
}

/// [`restore`] with the escape sequences written to `out` (the terminal, or a test's buffer).
fn restore_into(out: &mut impl Write) {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    if ENHANCED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

type PanicHook = Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// Restores the terminal before the previous hook prints the panic, so the message lands on
/// the normal screen where the user can read it.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(restoring_hook(previous, io::stdout));
    });
}

/// A panic hook that restores the terminal through `output` and then runs `previous`.
fn restoring_hook<W: Write>(
    previous: PanicHook,
    output: impl Fn() -> W + Send + Sync + 'static,
) -> PanicHook {
    Box::new(move |info| {
        let owner = *OWNER.lock().unwrap_or_else(PoisonError::into_inner);
        if owner.is_none_or(|owner| owner == std::thread::current().id()) {
            restore_into(&mut output());
        }
        previous(info);
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    /// The tests share the process's terminal state (`ACTIVE`, `ENHANCED`): one at a time.
    static STATE: Mutex<()> = Mutex::new(());

    /// A writer appending to a shared log, as the hook's output.
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_restores_the_terminal_before_the_message_is_printed() {
        let _state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let log = Arc::new(Mutex::new(Vec::new()));
        let original: Arc<PanicHook> = Arc::new(std::panic::take_hook());
        let previous: PanicHook = {
            let log = log.clone();
            let original = original.clone();
            Box::new(move |info| {
                if info.payload().downcast_ref::<&str>() == Some(&"the UI broke") {
                    log.lock().unwrap().extend_from_slice(b"<previous hook>");
                } else {
                    // Another test's panic: reported as usual.
                    original(info);
                }
            })
        };
        let output = {
            let log = log.clone();
            move || Shared(log.clone())
        };
        std::panic::set_hook(restoring_hook(previous, output));
        // As `TerminalSession::enter` leaves it on a terminal with the keyboard protocol.
        ACTIVE.store(true, Ordering::SeqCst);
        ENHANCED.store(true, Ordering::SeqCst);
        let result = std::panic::catch_unwind(|| panic!("the UI broke"));
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| original(info)));
        assert!(result.is_err());

        let written = String::from_utf8(log.lock().unwrap().clone()).unwrap();
        let expected = [
            ("pop keyboard flags", "\x1b[<1u"),
            ("disable bracketed paste", "\x1b[?2004l"),
            ("disable mouse capture", "\x1b[?1000l"),
            ("leave the alternate screen", "\x1b[?1049l"),
            ("show the cursor", "\x1b[?25h"),
            ("then the previous hook", "<previous hook>"),
        ];
        let mut from = 0;
        for (what, sequence) in expected {
            let at = written[from..]
                .find(sequence)
                .unwrap_or_else(|| panic!("no {what} ({sequence:?}) in order in {written:?}"));
            from += at + sequence.len();
        }
        assert!(!ACTIVE.load(Ordering::SeqCst) && !ENHANCED.load(Ordering::SeqCst));
    }

    #[test]
    fn a_panic_on_another_thread_leaves_the_terminal_to_the_ui() {
        let _state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let log = Arc::new(Mutex::new(Vec::new()));
        let original: Arc<PanicHook> = Arc::new(std::panic::take_hook());
        let previous: PanicHook = {
            let original = original.clone();
            Box::new(move |info| {
                if info.payload().downcast_ref::<&str>() != Some(&"a helper broke") {
                    original(info);
                }
            })
        };
        let output = {
            let log = log.clone();
            move || Shared(log.clone())
        };
        std::panic::set_hook(restoring_hook(previous, output));
        // The UI took the terminal on another thread than this one.
        let ui_thread = std::thread::spawn(|| std::thread::current().id())
            .join()
            .unwrap();
        *OWNER.lock().unwrap() = Some(ui_thread);
        ACTIVE.store(true, Ordering::SeqCst);
        let result = std::panic::catch_unwind(|| panic!("a helper broke"));
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| original(info)));
        *OWNER.lock().unwrap() = None;
        let still_ours = ACTIVE.swap(false, Ordering::SeqCst);
        assert!(result.is_err());
        assert!(
            log.lock().unwrap().is_empty(),
            "nothing written to the terminal"
        );
        assert!(still_ours, "the UI still owns the terminal");
    }

    #[test]
    fn the_terminal_is_given_back_once() {
        let _state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut first = Vec::new();
        let mut second = Vec::new();
        ACTIVE.store(true, Ordering::SeqCst);
        restore_into(&mut first);
        restore_into(&mut second);
        assert!(
            String::from_utf8(first).unwrap().contains("\x1b[?1049l"),
            "the first restore leaves the alternate screen"
        );
        assert_eq!(second, b"", "a second restore writes nothing");
    }
}
