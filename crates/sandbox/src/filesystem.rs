//! The Landlock half: which paths a confined command may read and write.
//!
//! Landlock only grants: a rule on a directory allows its accesses on everything beneath it,
//! and accesses granted by several rules add up. "Read everything except the secrets" is
//! therefore planned as a set of rules ([`plan`]): a grant whose tree holds no denied path is one
//! rule on its root; a grant whose tree holds one is *carved*: its root (and every directory on
//! the way down to the denied path) gets only the accesses that act on the directory's own
//! entries, and every other entry of those directories gets the whole grant. The denied path
//! itself gets nothing, so nothing beneath it can be opened for reading.
//!
//! What carving costs: a file created *later* directly in a carved directory (say `~` when
//! `~/.ssh` is denied) is not readable by the command, because only the entries that existed
//! when the rules were made got their own rule. Names inside a denied directory can still be
//! listed (the directories on the way keep `ReadDir`, which Landlock applies to everything
//! beneath), but no file there can be read. Rules are planned afresh for every command.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope,
};

use crate::SandboxError;

/// The Landlock ABI whose rights this crate asks for; older kernels get what they support.
pub(crate) const TARGET_ABI: ABI = ABI::V7;

/// What a grant allows on its tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Read files and directories and execute programs.
    Read,
    /// Everything: read, write, create, remove, rename.
    Write,
    /// Read, write and ioctl on device files such as `/dev/null` and terminals.
    Device,
}

/// The accesses of one planned rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The whole grant on the path and everything beneath it.
    Whole(Grant),
    /// A directory on the way to a denied path: only accesses on its own entries.
    Carved(Grant),
}

/// One rule: `reach` on `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlannedRule {
    pub(crate) path: PathBuf,
    pub(crate) reach: Reach,
}

/// Plans the rules for `grants` minus the `denied` paths (all canonical and existing).
pub(crate) fn plan(grants: &[(PathBuf, Grant)], denied: &[PathBuf]) -> Vec<PlannedRule> {
    let mut rules = Vec::new();
    for (root, grant) in grants {
        carve(root, *grant, denied, &mut rules);
    }
    rules
}

fn carve(root: &Path, grant: Grant, denied: &[PathBuf], rules: &mut Vec<PlannedRule>) {
    let inside: Vec<PathBuf> = denied
        .iter()
        .filter(|path| path.starts_with(root))
        .cloned()
        .collect();
    if inside.is_empty() {
        rules.push(PlannedRule {
            path: root.to_path_buf(),
            reach: Reach::Whole(grant),
        });
        return;
    }
    if inside.iter().any(|path| path == root) {
        return;
    }
    rules.push(PlannedRule {
        path: root.to_path_buf(),
        reach: Reach::Carved(grant),
    });
    // An unreadable directory gets no entry rules: nothing beneath it is granted.
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        // A symlink is reached through its target, whose own ancestors decide its access.
        if file_type.is_symlink() {
            continue;
        }
        if inside.iter().any(|denied| denied.starts_with(&path)) {
            if file_type.is_dir() {
                carve(&path, grant, &inside, rules);
            }
        } else {
            rules.push(PlannedRule {
                path,
                reach: Reach::Whole(grant),
            });
        }
    }
}

fn read_access() -> BitFlags<AccessFs> {
    AccessFs::from_read(TARGET_ABI)
}

fn write_access() -> BitFlags<AccessFs> {
    AccessFs::from_write(TARGET_ABI)
}

fn accesses(reach: Reach) -> BitFlags<AccessFs> {
    let device = AccessFs::ReadFile
        | AccessFs::WriteFile
        | AccessFs::ReadDir
        | AccessFs::Truncate
        | AccessFs::IoctlDev;
    match reach {
        Reach::Whole(Grant::Read) => read_access(),
        Reach::Whole(Grant::Write) => read_access() | write_access(),
        Reach::Whole(Grant::Device) => device,
        Reach::Carved(Grant::Read | Grant::Device) => AccessFs::ReadDir.into(),
        // Creating, removing and writing entries stays possible; reading files does not.
        Reach::Carved(Grant::Write) => BitFlags::from(AccessFs::ReadDir) | write_access(),
    }
}

/// Opens `path` without following a final symlink; `None` when it is a symlink or is gone.
fn open_path(path: &Path) -> io::Result<Option<(File, bool)>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata()?;
    if metadata.file_type().is_symlink() {
        return Ok(None);
    }
    Ok(Some((file, metadata.is_dir())))
}

/// Creates the ruleset for `rules` and returns its file descriptor, ready for
/// `landlock_restrict_self` in the child. Network access is handled (all TCP binds and
/// connects denied) unless `network` is true; signals to processes outside the sandbox are
/// refused.
pub(crate) fn ruleset(rules: &[PlannedRule], network: bool) -> Result<OwnedFd, SandboxError> {
    let prepare = |what: &str, error: landlock::RulesetError| SandboxError::Prepare {
        what: what.to_owned(),
        source: io::Error::other(error.to_string()),
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(|error| prepare("the Landlock file system rights", error))?
        .scope(Scope::Signal)
        .map_err(|error| prepare("the Landlock signal scope", error))?;
    if !network {
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|error| prepare("the Landlock network rights", error))?;
    }
    let mut created = ruleset
        .create()
        .map_err(|error| prepare("the Landlock ruleset", error))?;
    for rule in rules {
        // A path that cannot be opened gets no rule: the command just cannot reach it.
        let (file, is_dir) = match open_path(&rule.path) {
            Ok(Some(opened)) => opened,
            Ok(None) => continue,
            Err(error) => {
                tracing::debug!(%error, path = %rule.path.display(), "no sandbox rule");
                continue;
            }
        };
        let mut access = accesses(rule.reach);
        if !is_dir {
            access &= AccessFs::from_file(TARGET_ABI);
        }
        if access.is_empty() {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(file, access))
            .map_err(|error| prepare(&format!("a rule for `{}`", rule.path.display()), error))?;
    }
    Option::<OwnedFd>::from(created).ok_or_else(|| SandboxError::Unavailable {
        reason: "the kernel refused to create a Landlock ruleset".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn rule(path: &Path, reach: Reach) -> PlannedRule {
        PlannedRule {
            path: path.to_path_buf(),
            reach,
        }
    }

    #[test]
    fn a_grant_without_denied_paths_is_one_rule() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        assert_eq!(
            plan(&[(root.clone(), Grant::Read)], &[]),
            vec![rule(&root, Reach::Whole(Grant::Read))]
        );
    }

    #[test]
    fn a_denied_path_is_carved_out_of_its_grant() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("home/.ssh")).unwrap();
        std::fs::create_dir_all(root.join("home/src")).unwrap();
        std::fs::write(root.join("home/.bashrc"), "").unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink(root.join("home/.ssh"), root.join("link")).unwrap();

        let mut rules = plan(&[(root.clone(), Grant::Read)], &[root.join("home/.ssh")]);
        rules.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            rules,
            vec![
                rule(&root, Reach::Carved(Grant::Read)),
                rule(&root.join("etc"), Reach::Whole(Grant::Read)),
                rule(&root.join("home"), Reach::Carved(Grant::Read)),
                rule(&root.join("home/.bashrc"), Reach::Whole(Grant::Read)),
                rule(&root.join("home/src"), Reach::Whole(Grant::Read)),
            ]
        );
    }

    #[test]
    fn a_denied_root_gets_no_rule() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        assert_eq!(plan(&[(root.clone(), Grant::Write)], &[root]), vec![]);
    }

    #[test]
    fn carved_directories_keep_entry_rights_but_not_reading() {
        let carved = accesses(Reach::Carved(Grant::Write));
        assert!(carved.contains(AccessFs::MakeReg | AccessFs::ReadDir));
        assert!(!carved.contains(AccessFs::ReadFile));
        assert!(!accesses(Reach::Carved(Grant::Read)).contains(AccessFs::ReadFile));
    }
}
