//! Project instructions: `AGENTS.md` and `CODE_MESH.md` files from the workspace root down to
//! the working directory, outermost first, so the nearest file has the last word.
//!
//! Reading a handful of small files once per session is done with `std::fs`, which compiles
//! everywhere (on wasm32 it finds nothing).

use std::path::{Path, PathBuf};

/// Files larger than this are cut, so a stray huge file cannot fill the context.
pub const MAX_INSTRUCTION_BYTES: usize = 64 * 1024;

/// One instruction file and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionFile {
    pub path: PathBuf,
    pub content: String,
    /// True when the file was longer than [`MAX_INSTRUCTION_BYTES`] and was cut.
    pub truncated: bool,
}

/// Finds the instruction files named `names` in every directory from `workspace` down to
/// `cwd` (both included). When `cwd` is not inside `workspace`, only `cwd` is searched.
pub fn discover(workspace: &Path, cwd: &Path, names: &[String]) -> Vec<InstructionFile> {
    let mut dirs = vec![workspace.to_path_buf()];
    if let Ok(relative) = cwd.strip_prefix(workspace) {
        let mut dir = workspace.to_path_buf();
        for component in relative.components() {
            dir.push(component);
            dirs.push(dir.clone());
        }
    } else {
        dirs = vec![cwd.to_path_buf()];
    }
    let mut found = Vec::new();
    for dir in dirs {
        for name in names {
            if let Some(file) = read_instruction_file(&dir.join(name)) {
                found.push(file);
            }
        }
    }
    found
}

/// Reads one instruction file, if it is there and is text.
pub fn read_instruction_file(path: &Path) -> Option<InstructionFile> {
    let bytes = std::fs::read(path).ok()?;
    let truncated = bytes.len() > MAX_INSTRUCTION_BYTES;
    let end = bytes.len().min(MAX_INSTRUCTION_BYTES);
    let content = String::from_utf8_lossy(&bytes[..end]).into_owned();
    if content.trim().is_empty() {
        return None;
    }
    Some(InstructionFile {
        path: path.to_path_buf(),
        content,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outermost_first_and_only_inside_the_workspace() {
        let root = std::env::temp_dir().join(format!("cm-instr-{}", std::process::id()));
        let sub = root.join("a").join("b");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(root.join("AGENTS.md"), "root rules").unwrap();
        std::fs::write(root.join("a").join("CODE_MESH.md"), "a rules").unwrap();
        std::fs::write(sub.join("AGENTS.md"), "b rules").unwrap();
        std::fs::write(sub.join("CODE_MESH.md"), "  \n").unwrap();
        let names = vec!["AGENTS.md".to_string(), "CODE_MESH.md".to_string()];
        let found = discover(&root, &sub, &names);
        let texts: Vec<_> = found.iter().map(|f| f.content.as_str()).collect();
        assert_eq!(texts, ["root rules", "a rules", "b rules"]);
        let found = discover(&sub, &root, &names);
        assert_eq!(found.len(), 1, "cwd outside workspace: only cwd is read");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
