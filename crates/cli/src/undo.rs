//! `code-mesh undo`: reverts the agent's last turn from the git snapshots taken around it
//! (see `code_mesh_tools::snapshot`). What was reverted goes to stdout, notes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use code_mesh_protocol::{SessionId, SessionInfo};
use code_mesh_store::SqliteStore;
use code_mesh_tools::snapshot::{Reverted, SnapshotError, UndoReport, undo_last_turn};

use crate::args::{GlobalArgs, UndoArgs};
use crate::exit::{CliError, Exit};
use crate::setup;

pub fn undo(global: &GlobalArgs, args: UndoArgs) -> Result<ExitCode, CliError> {
    let context = setup::context(global, Vec::new())?;
    let store = SqliteStore::open(context.paths.database_file())?;
    let info = match &args.session {
        Some(id) => store
            .session_blocking(&SessionId(id.clone()))?
            .ok_or_else(|| {
                CliError::usage(
                    format!("no session `{id}`"),
                    "`code-mesh sessions list` shows the sessions there are",
                )
            })?,
        None => {
            let cwd = context.cwd.display().to_string();
            store.latest_session_blocking(&cwd)?.ok_or_else(|| {
                CliError::usage(
                    format!("no session was run in `{cwd}`, so there is nothing to undo"),
                    "pass --session ID for a session of another directory (`code-mesh sessions list`)",
                )
            })?
        }
    };
    let report = undo_turn(&info)?;
    print!("{}", render(info.id.as_str(), &report));
    for turn in &report.empty_turns {
        eprintln!("note: turn {turn} changed no files; it is marked undone too");
    }
    if report.interrupted {
        eprintln!(
            "note: turn {} was interrupted before its end snapshot, so everything changed in \
             the workspace since it started was taken as its changes",
            report.turn
        );
    }
    if report.reverted.is_empty() {
        return Err(nothing_reverted(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Reverts the files of session `info`'s last turn not undone yet, in its workspace. Runs git:
/// call it off the async threads. `code-mesh undo` and the terminal UI's `/undo` use it.
pub(crate) fn undo_turn(info: &SessionInfo) -> Result<UndoReport, CliError> {
    let workspace = PathBuf::from(&info.workspace);
    if !workspace.is_dir() {
        return Err(CliError::new(
            Exit::Failure,
            format!(
                "the workspace of session `{}`, `{}`, no longer exists",
                info.id, info.workspace
            ),
        ));
    }
    undo_last_turn(&workspace, info.id.as_str()).map_err(|error| {
        let hint = error.hint().map(str::to_string);
        let exit = match error {
            SnapshotError::Git { .. } | SnapshotError::Io(_) => Exit::Failure,
            _ => Exit::Usage,
        };
        CliError::new(exit, format!("cannot undo: {error}")).with_optional_hint(hint)
    })
}

/// The error of an undo whose turn's files were all changed again since.
pub(crate) fn nothing_reverted(report: &UndoReport) -> CliError {
    CliError::new(
        Exit::Failure,
        format!(
            "nothing was reverted: every file turn {} changed was changed again since",
            report.turn
        ),
    )
    .with_hint("revert those files by hand, e.g. with `git diff` and `git checkout`")
}

fn render(session: &str, report: &UndoReport) -> String {
    let mut text = format!("Reverted turn {} of session {session}:\n", report.turn);
    for reverted in &report.reverted {
        let (verb, path) = match reverted {
            Reverted::Restored(path) => ("restored ", path),
            Reverted::Deleted(path) => ("deleted  ", path),
            Reverted::Recreated(path) => ("recreated", path),
        };
        text.push_str(&format!("  {verb} {path}\n"));
    }
    if !report.kept.is_empty() {
        text.push_str(
            "Kept, because they changed again after the turn (revert them by hand if needed):\n",
        );
        for path in &report.kept {
            text.push_str(&format!("  {path}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_list_each_file_and_what_was_kept() {
        let report = UndoReport {
            turn: 2,
            reverted: vec![
                Reverted::Restored("a.txt".into()),
                Reverted::Deleted("new.txt".into()),
                Reverted::Recreated("gone.txt".into()),
            ],
            kept: vec!["b.txt".into()],
            empty_turns: vec![],
            interrupted: false,
        };
        assert_eq!(
            render("ses_1", &report),
            "Reverted turn 2 of session ses_1:\n  restored  a.txt\n  deleted   new.txt\n  \
             recreated gone.txt\nKept, because they changed again after the turn (revert them \
             by hand if needed):\n  b.txt\n"
        );
    }
}
