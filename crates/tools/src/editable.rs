//! Loading a file for a change and saving it back, shared by `edit`, `multiedit` and
//! `apply_patch`: the checks on the target (regular, writable, not too large, unchanged since
//! the agent last saw it, text in a supported encoding) and the write that keeps its
//! encoding and permissions and tells the session's file tracker.

use std::fs::{self, Metadata, Permissions};
use std::path::{Path, PathBuf};

use code_mesh_core::{ToolContext, ToolError};

use crate::files::{check_writable, write_atomically};
use crate::output::human_size;
use crate::stamps;
use crate::text::{self, Decoded, Encoding};

/// Files larger than this are refused: the whole file is held and searched in memory.
pub(crate) const MAX_EDIT_BYTES: u64 = 10 * 1024 * 1024;

/// An existing text file, decoded and ready to change.
#[derive(Debug)]
pub(crate) struct Editable {
    pub path: PathBuf,
    pub display: String,
    pub permissions: Permissions,
    pub text: String,
    pub encoding: Encoding,
}

/// Loads the existing file at `path` (canonical; `metadata` its metadata) for editing.
pub(crate) fn load(
    context: &ToolContext,
    path: &Path,
    display: &str,
    metadata: &Metadata,
) -> Result<Editable, ToolError> {
    check_writable(display, metadata)?;
    if metadata.len() > MAX_EDIT_BYTES {
        return Err(ToolError::new(format!(
            "`{display}` is {}; the editing tools change files up to {}; use bash (e.g. `sed \
             -i`) for larger files",
            human_size(metadata.len()),
            human_size(MAX_EDIT_BYTES)
        )));
    }
    let bytes = fs::read(path)
        .map_err(|error| ToolError::new(format!("cannot read `{display}`: {error}")))?;
    stamps::check_unchanged(context, path, display, &bytes)?;
    let Decoded { text, encoding } = text::decode(display, &bytes)?;
    Ok(Editable {
        path: path.to_path_buf(),
        display: display.to_string(),
        permissions: metadata.permissions(),
        text,
        encoding,
    })
}

impl Editable {
    /// Writes `text` back atomically in the file's encoding and permissions, and records it.
    pub(crate) fn save(&self, context: &ToolContext, text: &str) -> Result<(), ToolError> {
        save_new(
            context,
            &self.display,
            &self.path,
            text,
            self.encoding,
            Some(self.permissions.clone()),
        )
    }
}

/// Writes `text` to `path` atomically in `encoding` and records what was written.
pub(crate) fn save_new(
    context: &ToolContext,
    display: &str,
    path: &Path,
    text: &str,
    encoding: Encoding,
    permissions: Option<Permissions>,
) -> Result<(), ToolError> {
    let bytes = text::encode(text, encoding);
    write_atomically(display, path, &bytes, permissions)?;
    stamps::record_contents(context, path, &bytes);
    Ok(())
}
