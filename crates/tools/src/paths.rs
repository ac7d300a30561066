//! The path policy every file tool goes through.
//!
//! A path argument is resolved against the call's working directory (absolute paths are taken
//! as they are), canonicalised with symlinks resolved (for a path that does not exist yet, the
//! deepest existing ancestor is canonicalised and the rest appended, which may then contain no
//! `..`) and refused unless it lies inside the workspace or an allowed directory. Paths are
//! reported back relative to the working directory, which is the workspace root unless the
//! session started in a subdirectory, so the model can pass them back unchanged.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};

use code_mesh_core::{ToolContext, ToolError};

/// How many dangling symlinks one resolution follows before giving up (as Linux's `ELOOP`).
const MAX_SYMLINK_HOPS: usize = 40;
/// How many directory entries are compared when suggesting a name for a missing file.
const MAX_SUGGESTION_SCAN: usize = 10_000;

/// The roots one call may reach, and the directory its relative paths start from.
#[derive(Clone, Debug)]
pub(crate) struct PathPolicy {
    workspace: PathBuf,
    cwd: PathBuf,
    allowed: Vec<PathBuf>,
}

impl PathPolicy {
    /// The policy of `context`; roots are canonicalised again in case the caller did not.
    pub(crate) fn new(context: &ToolContext) -> Self {
        let canonical = |path: &Path| fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        PathPolicy {
            workspace: canonical(&context.workspace),
            cwd: canonical(&context.cwd),
            allowed: context.allowed_paths.iter().map(|p| canonical(p)).collect(),
        }
    }

    /// `raw` resolved and checked; the path may not exist (yet).
    pub(crate) fn resolve(&self, raw: &str) -> Result<PathBuf, ToolError> {
        if raw.is_empty() {
            return Err(ToolError::new(format!(
                "the path is empty; give a path relative to the working directory `{}` or an \
                 absolute path inside the workspace",
                self.cwd.display()
            )));
        }
        if raw.contains('\0') {
            return Err(ToolError::new(format!(
                "the path {raw:?} contains a NUL byte, which no file name can; check the path"
            )));
        }
        let joined = if Path::new(raw).is_absolute() {
            PathBuf::from(raw)
        } else {
            self.cwd.join(raw)
        };
        let resolved = canonicalize_lenient(raw, &joined, 0)?;
        if self.is_reachable(&resolved) {
            // The permission policy judged the path as written; a link must not turn an
            // innocent name into a secret.
            if let Some(why) = code_mesh_core::secret_file_reason(&resolved.to_string_lossy())
                && code_mesh_core::secret_file_reason(&joined.to_string_lossy()).is_none()
            {
                return Err(ToolError::new(format!(
                    "`{raw}` leads to `{}` through a symbolic link, and {why}; file tools do not \
                     follow links to secrets",
                    self.display(&resolved)
                )));
            }
            return Ok(resolved);
        }
        Err(self.outside_error(raw, &joined, &resolved))
    }

    /// `raw` resolved and checked, and its metadata; a missing path is an error that suggests
    /// close names.
    pub(crate) fn resolve_existing(&self, raw: &str) -> Result<(PathBuf, Metadata), ToolError> {
        let path = self.resolve(raw)?;
        match fs::metadata(&path) {
            Ok(metadata) => Ok((path, metadata)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(self.not_found(raw, &path))
            }
            Err(error) => Err(ToolError::new(format!(
                "cannot access `{}`: {error}",
                self.display(&path)
            ))),
        }
    }

    /// Whether `path` (canonical) is inside the workspace or an allowed directory.
    pub(crate) fn is_reachable(&self, path: &Path) -> bool {
        path.starts_with(&self.workspace) || self.allowed.iter().any(|root| path.starts_with(root))
    }

    /// `path` as shown to the model: relative to the working directory when inside it
    /// (`.` for the directory itself), else absolute.
    pub(crate) fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.cwd) {
            Ok(relative) if relative.as_os_str().is_empty() => ".".to_string(),
            Ok(relative) => relative.to_string_lossy().into_owned(),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }

    /// "`x` does not exist …", suggesting similar names in the same directory.
    pub(crate) fn not_found(&self, raw: &str, path: &Path) -> ToolError {
        let mut message = format!("`{raw}` does not exist");
        if raw != self.display(path) {
            message.push_str(&format!(" (resolved to `{}`)", path.display()));
        }
        let parent = path.parent().unwrap_or(path);
        match fs::metadata(parent) {
            Ok(metadata) if metadata.is_dir() => {
                let suggestions = similar_names(parent, path.file_name());
                if !suggestions.is_empty() {
                    let names: Vec<String> = suggestions
                        .iter()
                        .map(|name| format!("`{}`", self.display(&parent.join(name))))
                        .collect();
                    message.push_str(&format!("; did you mean {}?", names.join(" or ")));
                } else {
                    message.push('.');
                }
            }
            _ => {
                let existing = path
                    .ancestors()
                    .skip(1)
                    .find(|ancestor| ancestor.is_dir())
                    .unwrap_or(&self.workspace);
                message.push_str(&format!(
                    "; its directory does not exist either (the deepest existing one is `{}`).",
                    self.display(existing)
                ));
            }
        }
        message.push_str(" Use `glob` to find files by name or `ls` to see a directory.");
        ToolError::new(message)
    }

    fn outside_error(&self, raw: &str, joined: &Path, resolved: &Path) -> ToolError {
        let lexical = normalize_lexically(joined);
        let roots = self.roots_hint();
        if self.is_reachable(&lexical)
            && let Some((link, target)) = self.first_symlink(&lexical)
        {
            let link_display = self.display(&link);
            let what = if link == lexical {
                format!("`{raw}` is a symlink to `{}`", target.display())
            } else {
                format!(
                    "`{raw}` goes through `{link_display}`, a symlink to `{}`,",
                    target.display()
                )
            };
            return ToolError::new(format!(
                "{what} which leads outside the workspace `{}` (resolved to `{}`); {roots}",
                self.workspace.display(),
                resolved.display()
            ));
        }
        ToolError::new(format!(
            "`{raw}` is outside the workspace `{}` (resolved to `{}`); {roots}",
            self.workspace.display(),
            resolved.display()
        ))
    }

    fn roots_hint(&self) -> String {
        let allowed = if self.allowed.is_empty() {
            "none are configured".to_string()
        } else {
            let list: Vec<String> = self
                .allowed
                .iter()
                .map(|root| format!("`{}`", root.display()))
                .collect();
            list.join(", ")
        };
        format!(
            "file tools only reach the workspace and the directories in `tools.allowed_paths` \
             ({allowed})"
        )
    }

    /// The first symlink along `lexical` below the root that contains it, and its target.
    fn first_symlink(&self, lexical: &Path) -> Option<(PathBuf, PathBuf)> {
        let root = std::iter::once(&self.workspace)
            .chain(&self.allowed)
            .find(|root| lexical.starts_with(root))?;
        let relative = lexical.strip_prefix(root).ok()?;
        let mut current = root.clone();
        for component in relative.components() {
            current.push(component);
            let metadata = fs::symlink_metadata(&current).ok()?;
            if metadata.file_type().is_symlink() {
                let target = fs::read_link(&current).ok()?;
                return Some((current, target));
            }
        }
        None
    }
}

/// Canonicalises `joined`, allowing its last components not to exist yet.
fn canonicalize_lenient(raw: &str, joined: &Path, hops: usize) -> Result<PathBuf, ToolError> {
    let components: Vec<Component<'_>> = joined.components().collect();
    for split in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        match fs::canonicalize(&prefix) {
            Ok(canonical) => {
                return append_missing(raw, canonical, &components[split..]);
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                // A dangling symlink: follow it by hand so writing through it cannot escape.
                let is_symlink = fs::symlink_metadata(&prefix)
                    .is_ok_and(|metadata| metadata.file_type().is_symlink());
                if is_symlink {
                    if hops >= MAX_SYMLINK_HOPS {
                        return Err(ToolError::new(format!(
                            "`{raw}` goes through too many symlinks; give the real path"
                        )));
                    }
                    let target = fs::read_link(&prefix).map_err(|error| {
                        ToolError::new(format!("cannot read the symlink `{raw}`: {error}"))
                    })?;
                    let base = prefix.parent().unwrap_or(Path::new("/"));
                    let mut next = base.join(target);
                    next.extend(&components[split..]);
                    return canonicalize_lenient(raw, &next, hops + 1);
                }
            }
            Err(error) => {
                return Err(ToolError::new(format!("cannot access `{raw}`: {error}")));
            }
        }
    }
    Err(ToolError::new(format!(
        "cannot resolve `{raw}`; give a path relative to the working directory or an absolute \
         path"
    )))
}

fn append_missing(
    raw: &str,
    mut canonical: PathBuf,
    missing: &[Component<'_>],
) -> Result<PathBuf, ToolError> {
    let mut names: Vec<OsString> = Vec::new();
    for component in missing {
        match component {
            Component::Normal(name) => names.push(name.to_os_string()),
            Component::CurDir => {}
            _ => {
                let first = missing
                    .iter()
                    .find_map(|component| match component {
                        Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                        _ => None,
                    })
                    .unwrap_or_default();
                return Err(ToolError::new(format!(
                    "`{raw}` uses `..` after `{first}`, which does not exist; write the path \
                     without `..`"
                )));
            }
        }
    }
    canonical.extend(names);
    Ok(canonical)
}

/// `path` with `.` and `..` applied without touching the filesystem.
fn normalize_lexically(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// Up to three names in `directory` close to `wanted`, best first.
fn similar_names(directory: &Path, wanted: Option<&std::ffi::OsStr>) -> Vec<String> {
    let Some(wanted) = wanted.map(|name| name.to_string_lossy().to_lowercase()) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut scored: Vec<(f64, String)> = entries
        .take(MAX_SUGGESTION_SCAN)
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let lower = name.to_lowercase();
            let stem_match = |a: &str, b: &str| {
                let stem = |s: &str| s.split('.').next().unwrap_or(s).to_string();
                !stem(a).is_empty() && stem(a) == stem(b)
            };
            let mut score = strsim::jaro_winkler(&wanted, &lower);
            if lower == wanted || stem_match(&lower, &wanted) {
                score = score.max(0.95);
            }
            (score >= 0.8).then_some((score, name))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(3).map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use code_mesh_core::{CancellationToken, ToolLimits};

    fn policy(workspace: &Path) -> PathPolicy {
        PathPolicy::new(&ToolContext {
            session_id: Default::default(),
            workspace: workspace.to_owned(),
            cwd: workspace.to_owned(),
            allowed_paths: Vec::new(),
            call_id: "call".into(),
            cancel: CancellationToken::new(),
            limits: ToolLimits::default(),
            sandbox: Default::default(),
            files: Default::default(),
            output: code_mesh_core::ToolOutputSink::discard(),
        })
    }

    #[test]
    fn relative_and_missing_paths_resolve_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let policy = policy(&root);
        assert_eq!(policy.resolve("a/b/c.txt").unwrap(), root.join("a/b/c.txt"));
        assert_eq!(policy.resolve("./x/./y").unwrap(), root.join("x/y"));
        assert_eq!(policy.display(&root.join("a/b")), "a/b");
        assert_eq!(policy.display(&root), ".");
        assert_eq!(policy.display(Path::new("/elsewhere")), "/elsewhere");
    }

    #[test]
    fn dot_dot_after_a_missing_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let error = policy(&root).resolve("missing/../../x").unwrap_err();
        assert!(
            error.message.contains("uses `..` after `missing`"),
            "{error}"
        );
    }

    #[test]
    fn dot_dot_through_existing_directories_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("a")).unwrap();
        assert_eq!(policy(&root).resolve("a/../b").unwrap(), root.join("b"));
        let error = policy(&root).resolve("a/../../x").unwrap_err();
        assert!(
            error.message.contains("is outside the workspace"),
            "{error}"
        );
    }

    #[test]
    fn missing_files_suggest_close_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::write(root.join("main.rs"), "").unwrap();
        fs::write(root.join("lib.rs"), "").unwrap();
        let policy = policy(&root);
        let error = policy.resolve_existing("mian.rs").unwrap_err();
        assert!(error.message.contains("did you mean `main.rs`?"), "{error}");
        let error = policy.resolve_existing("nope/deeper/file.rs").unwrap_err();
        assert!(
            error.message.contains("the deepest existing one is `.`"),
            "{error}"
        );
    }

    #[test]
    fn lexical_normalisation_applies_dots() {
        assert_eq!(
            normalize_lexically(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize_lexically(Path::new("/../x")), PathBuf::from("/x"));
    }
}
