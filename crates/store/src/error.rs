//! Turning SQLite and JSON failures into [`StoreError`]s that name the database, say what was
//! being done, and suggest what to do about it.

use std::path::Path;

use code_mesh_core::StoreError;
use rusqlite::ErrorCode;

/// A failed SQLite call while `doing` something to the database at `path`.
pub(crate) fn sqlite(path: &Path, doing: &str, err: &rusqlite::Error) -> StoreError {
    let shown = path.display();
    let error = StoreError::new(format!("{doing} in `{shown}` failed: {err}"));
    let hint = match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "the database at `{shown}` is locked by another process; \
             let it finish (or close it) and retry"
        ),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => format!(
            "the database at `{shown}` is corrupt or not a Code Mesh database; \
             move it aside (e.g. rename it to `{shown}.bad`) and a new one will be created"
        ),
        Some(ErrorCode::CannotOpen) => {
            format!("check that the directory of `{shown}` exists and that you may write to it")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => format!(
            "the database at `{shown}` (or its `-wal`/`-shm` files beside it) is read-only; \
             check its owner and permissions"
        ),
        Some(ErrorCode::DiskFull) => "the disk is full; free some space and retry".to_owned(),
        Some(ErrorCode::SystemIoFailure) => {
            format!(
                "reading or writing `{shown}` failed at the operating-system level; check the disk"
            )
        }
        _ => return error,
    };
    error.with_hint(hint)
}

/// A stored row that no longer parses as the type it was written from.
pub(crate) fn bad_row(path: &Path, what: &str, err: &serde_json::Error) -> StoreError {
    StoreError::new(format!(
        "{what} in `{}` could not be read: {err}",
        path.display()
    ))
    .with_hint(
        "the database was written by a newer Code Mesh, or was damaged; \
         upgrade Code Mesh or move the database aside",
    )
}

/// A value that cannot be stored (JSON encoding failed, or a number does not fit SQLite's
/// signed 64-bit integers).
pub(crate) fn unstorable(path: &Path, what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!(
        "{what} cannot be stored in `{}`: {why}",
        path.display()
    ))
}
