//! A pseudo-terminal for commands that need one (`bash` with `tty: true`).
//!
//! The shell gets the slave side as stdin, stdout and stderr, and as its controlling terminal in
//! a session of its own (`setsid --ctty`, so no `unsafe` `pre_exec` is needed here); its session
//! id, process group id and pid are then equal, so the process-group kill of [`crate::process`]
//! reaches it and everything it starts. Code Mesh reads the master side. The terminal does not
//! echo input and does not turn `\n` into `\r\n`, so the output reads like a pipe's, and
//! the input side is given one end-of-file (Ctrl-D) at the start, so a program reading its
//! standard input sees it closed, as without a terminal, instead of waiting for the timeout.

use std::io;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::pty::{Winsize, openpty};
use nix::sys::termios::{LocalFlags, OutputFlags, SetArg, tcgetattr, tcsetattr};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// The size the terminal reports: wide enough that tools do not wrap their output.
const WINDOW: Winsize = Winsize {
    ws_row: 50,
    ws_col: 200,
    ws_xpixel: 0,
    ws_ypixel: 0,
};

/// Both sides of a fresh pseudo-terminal.
#[derive(Debug)]
pub(crate) struct Pty {
    pub(crate) master: OwnedFd,
    pub(crate) slave: OwnedFd,
}

/// Opens a pseudo-terminal set up for a command whose output is read by a program.
pub(crate) fn open() -> io::Result<Pty> {
    let pair = openpty(&WINDOW, None).map_err(io::Error::from)?;
    let mut termios = tcgetattr(&pair.slave).map_err(io::Error::from)?;
    termios.output_flags.remove(OutputFlags::ONLCR);
    termios
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ECHONL | LocalFlags::ECHOCTL);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
    Ok(Pty {
        master: pair.master,
        slave: pair.slave,
    })
}

/// The master side, read without blocking a thread (registered with tokio's reactor like a
/// pipe's read end: a terminal master polls and reads the same way).
#[derive(Debug)]
pub(crate) struct MasterReader(pipe::Receiver);

impl MasterReader {
    /// Must be created inside the tokio runtime.
    pub(crate) fn new(master: OwnedFd) -> io::Result<Self> {
        let flags = fcntl(&master, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&master, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // End of file for the first read of the command's standard input.
        let _ = nix::unistd::write(&master, &[0x04]);
        Ok(MasterReader(pipe::Receiver::from_owned_fd_unchecked(
            master,
        )?))
    }

    /// Reads what the command wrote; `Ok(0)` once every process has closed the terminal (Linux
    /// reports that as `EIO`).
    pub(crate) async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buffer).await {
            Err(error) if error.raw_os_error() == Some(Errno::EIO as i32) => Ok(0),
            other => other,
        }
    }
}
