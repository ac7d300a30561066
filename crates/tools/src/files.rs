//! File helpers shared by `write` and `edit`: atomic replacement and checks on the target.

use std::fs::{self, Metadata, Permissions};
use std::io::Write;
use std::path::Path;

use code_mesh_core::ToolError;

/// Bytes inspected to tell a binary file from text, like git and ripgrep do.
pub(crate) const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Whether `bytes` (a file's start) look binary: they contain a NUL byte.
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE_BYTES)]).is_some()
}

/// Refuses writing over `display` when it is not a regular, writable file.
pub(crate) fn check_writable(display: &str, metadata: &Metadata) -> Result<(), ToolError> {
    if metadata.is_dir() {
        return Err(ToolError::new(format!(
            "`{display}` is a directory; give the path of a file inside it"
        )));
    }
    if !metadata.is_file() {
        return Err(ToolError::new(format!(
            "`{display}` is not a regular file (it is a device, socket or pipe); file tools only \
             change regular files"
        )));
    }
    if metadata.permissions().readonly() {
        return Err(ToolError::new(format!(
            "`{display}` is read-only; leave it unchanged, or if changing it is really intended, \
             make it writable first with bash (`chmod u+w`)"
        )));
    }
    Ok(())
}

/// Creates the missing parent directories of `path`.
pub(crate) fn create_parents(display: &str, path: &Path) -> Result<(), ToolError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    fs::create_dir_all(parent).map_err(|error| {
        ToolError::new(format!(
            "cannot create the directory of `{display}`: {error}; check that no file stands \
             where a directory is needed"
        ))
    })
}

/// Replaces `path` with `contents` atomically: a temporary file in the same directory is
/// written, given `permissions` (an existing file's) and renamed over the target, so readers
/// see the old or the new file, never half of one.
pub(crate) fn write_atomically(
    display: &str,
    path: &Path,
    contents: &[u8],
    permissions: Option<Permissions>,
) -> Result<(), ToolError> {
    let failed = |what: &str, error: &dyn std::fmt::Display| {
        ToolError::new(format!(
            "cannot write `{display}` ({what}: {error}); check the path and the directory's \
             permissions"
        ))
    };
    let directory = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    if permissions.is_none() {
        // A new file gets the usual 0666 minus the umask, not tempfile's private 0600.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(Permissions::from_mode(0o666));
    }
    let mut temporary = builder
        .tempfile_in(directory)
        .map_err(|error| failed("creating a temporary file", &error))?;
    temporary
        .write_all(contents)
        .map_err(|error| failed("writing", &error))?;
    if let Some(permissions) = permissions {
        temporary
            .as_file()
            .set_permissions(permissions)
            .map_err(|error| failed("setting permissions", &error))?;
    }
    temporary
        .persist(path)
        .map_err(|error| failed("renaming the temporary file", &error.error))?;
    Ok(())
}

/// The number of lines in `text`, counting a last line without a newline.
pub(crate) fn count_lines(text: &str) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
    newlines + u64::from(!text.is_empty() && !text.ends_with('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_keeps_given_permissions_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o755)).unwrap();
        let permissions = fs::metadata(&path).unwrap().permissions();
        write_atomically("script.sh", &path, b"new", Some(permissions)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn lines_are_counted_like_an_editor() {
        assert_eq!(count_lines(""), 0);
        assert_eq!(count_lines("a"), 1);
        assert_eq!(count_lines("a\n"), 1);
        assert_eq!(count_lines("a\nb"), 2);
    }

    #[test]
    fn nul_bytes_mean_binary() {
        assert!(looks_binary(b"PNG\0\x01"));
        assert!(!looks_binary("héllo\n".as_bytes()));
    }
}
