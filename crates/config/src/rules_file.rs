//! Adding permission rules to a config file, as the terminal UI's "allow always (save rule)"
//! does. The file is edited in place with `toml_edit`, so its comments, order and layout stay
//! as the user wrote them; a missing file (and a missing `[permissions]` table or `rules`
//! array) is created; a rule the file already holds is not written twice.

use std::path::{Path, PathBuf};

use code_mesh_protocol::config::{PermissionAction, PermissionRule};
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::error::ConfigError;
use crate::tree;

/// Why rules could not be added to a config file. `Display` is one sentence naming the file;
/// [`SaveRulesError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveRulesError {
    /// The file exists but cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML (the error names the file, line and column).
    #[error(transparent)]
    Invalid(ConfigError),
    /// `permissions` or `permissions.rules` holds something other than a table or an array.
    #[error("{}: `{key}` is not {expected}, so no rule can be added to it", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key, e.g. `permissions.rules`.
        key: &'static str,
        /// What it should be, e.g. "an array of tables".
        expected: &'static str,
    },
    /// The file (or its folder) cannot be written.
    #[error("cannot write config file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SaveRulesError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            SaveRulesError::Read { .. } | SaveRulesError::Write { .. } => {
                "check the file's permissions, or add the rule to `[permissions] rules` by hand"
                    .to_owned()
            }
            SaveRulesError::Invalid(error) => error.hint().unwrap_or_else(|| {
                "fix the file (`code-mesh config show` checks it), then answer again".to_owned()
            }),
            SaveRulesError::Shape { .. } => {
                "write rules as [[permissions.rules]] tables with tool, pattern and action"
                    .to_owned()
            }
        }
    }
}

/// Adds `rules` to the `[permissions] rules` of the config file at `path`, after the rules
/// already there (the last matching rule wins, so they take effect). Rules the file already
/// holds are skipped. Creates the file and its folder when missing. Returns the rules added.
pub fn save_permission_rules(
    path: &Path,
    rules: &[PermissionRule],
) -> Result<Vec<PermissionRule>, SaveRulesError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(SaveRulesError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    // The loader's parser, for the same `path:line:column` message the loader gives.
    tree::parse_file(path, &text).map_err(SaveRulesError::Invalid)?;
    let mut document: DocumentMut = text.parse().map_err(|error: toml_edit::TomlError| {
        SaveRulesError::Invalid(ConfigError::Syntax {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: error.message().to_owned(),
        })
    })?;
    let added = add_rules(&mut document, path, rules)?;
    if added.is_empty() {
        return Ok(added);
    }
    write_file(path, &document.to_string())?;
    Ok(added)
}

/// The rules as `[[permissions.rules]]` entries (or inline tables, when the file writes its
/// rules as an inline array). Returns the rules that were not there yet.
fn add_rules(
    document: &mut DocumentMut,
    path: &Path,
    rules: &[PermissionRule],
) -> Result<Vec<PermissionRule>, SaveRulesError> {
    let shape = |key, expected| SaveRulesError::Shape {
        path: path.to_owned(),
        key,
        expected,
    };
    let root = document.as_table_mut();
    if !root.contains_key("permissions") {
        let mut table = Table::new();
        // No `[permissions]` header of its own: the `[[permissions.rules]]` below say it.
        table.set_implicit(true);
        root.insert("permissions", Item::Table(table));
    }
    let permissions = root
        .get_mut("permissions")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| shape("permissions", "a table"))?;
    if !permissions.contains_key("rules") {
        permissions.insert("rules", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let existing = permissions
        .get_mut("rules")
        .ok_or_else(|| shape("permissions.rules", "an array of tables"))?;
    let mut added = Vec::new();
    match existing {
        Item::ArrayOfTables(array) => {
            let mut present: Vec<PermissionRule> =
                array.iter().filter_map(|table| rule_of(table)).collect();
            for rule in rules {
                if present.contains(rule) {
                    continue;
                }
                array.push(rule_table(rule));
                present.push(rule.clone());
                added.push(rule.clone());
            }
        }
        Item::Value(Value::Array(array)) => {
            let mut present: Vec<PermissionRule> = array
                .iter()
                .filter_map(|value| value.as_inline_table().and_then(|table| rule_of(table)))
                .collect();
            for rule in rules {
                if present.contains(rule) {
                    continue;
                }
                let mut inline = InlineTable::new();
                inline.insert("tool", rule.tool.as_str().into());
                if let Some(pattern) = &rule.pattern {
                    inline.insert("pattern", pattern.as_str().into());
                }
                inline.insert("action", action_name(rule.action).into());
                array.push(inline);
                present.push(rule.clone());
                added.push(rule.clone());
            }
            // One rule a line, as a long inline array is easier to read so.
            if !added.is_empty() && array.len() > 1 {
                for value in array.iter_mut() {
                    value.decor_mut().set_prefix("\n    ");
                }
                array.set_trailing(",\n");
                array.set_trailing_comma(false);
            }
        }
        _ => return Err(shape("permissions.rules", "an array of tables")),
    }
    Ok(added)
}

fn rule_table(rule: &PermissionRule) -> Table {
    let mut table = Table::new();
    table.insert("tool", toml_edit::value(rule.tool.as_str()));
    if let Some(pattern) = &rule.pattern {
        table.insert("pattern", toml_edit::value(pattern.as_str()));
    }
    table.insert("action", toml_edit::value(action_name(rule.action)));
    table
}

/// A rule already in the file, if it reads as one (others are left as they are).
fn rule_of(table: &dyn toml_edit::TableLike) -> Option<PermissionRule> {
    let text = |key: &str| table.get(key).and_then(Item::as_str).map(str::to_owned);
    let action = match text("action")?.as_str() {
        "allow" => PermissionAction::Allow,
        "ask" => PermissionAction::Ask,
        "deny" => PermissionAction::Deny,
        _ => return None,
    };
    Some(PermissionRule {
        tool: text("tool")?,
        pattern: text("pattern"),
        action,
    })
}

fn action_name(action: PermissionAction) -> &'static str {
    match action {
        PermissionAction::Allow => "allow",
        PermissionAction::Ask => "ask",
        PermissionAction::Deny => "deny",
    }
}

/// Writes through a file beside the target and a rename, so a failed write never leaves
/// half a config behind. A linked config (a dotfile manager's) is written where the link
/// points, so the link stays and the user's own file gets the rules.
fn write_file(path: &Path, text: &str) -> Result<(), SaveRulesError> {
    let error = |source| SaveRulesError::Write {
        path: path.to_owned(),
        source,
    };
    let resolved = match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(error)?
        }
        _ => path.to_owned(),
    };
    let path = resolved.as_path();
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |name| name.to_string_lossy());
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text).map_err(error)?;
    if let Ok(metadata) = std::fs::metadata(path) {
        // Keep the file's mode (a private global config stays private).
        let _ = std::fs::set_permissions(&temporary, metadata.permissions());
    }
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        error(source)
    })
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn allow(tool: &str, pattern: Option<&str>) -> PermissionRule {
        PermissionRule {
            tool: tool.into(),
            pattern: pattern.map(str::to_owned),
            action: PermissionAction::Allow,
        }
    }

    /// The rules a loaded config holds, as the loader reads them.
    fn loaded_rules(text: &str) -> Vec<PermissionRule> {
        let value: toml::Table = toml::from_str(text).unwrap();
        let config: code_mesh_protocol::config::Config =
            toml::Value::Table(value).try_into().unwrap();
        config.permissions.rules
    }

    #[test]
    fn a_missing_file_is_created_with_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("code-mesh.toml");
        let rules = vec![
            allow("bash", Some("git status *")),
            allow("write", Some("/p/src/**")),
            allow("log", None),
        ];
        let added = save_permission_rules(&path, &rules).unwrap();
        assert_eq!(added, rules);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[[permissions.rules]]\ntool = \"bash\"\npattern = \"git status *\"\naction = \"allow\"\n\n\
             [[permissions.rules]]\ntool = \"write\"\npattern = \"/p/src/**\"\naction = \"allow\"\n\n\
             [[permissions.rules]]\ntool = \"log\"\naction = \"allow\"\n"
        );
        assert_eq!(loaded_rules(&text), rules);
    }

    #[test]
    fn an_empty_file_gets_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "").unwrap();
        let rule = allow("bash", Some("cargo test *"));
        save_permission_rules(&path, std::slice::from_ref(&rule)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(loaded_rules(&text), vec![rule]);
    }

    #[test]
    fn comments_layout_and_earlier_rules_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code-mesh.toml");
        let before = "# Project settings\n\
                      [providers]\n\
                      model = \"openai/gpt-5-mini\"   # the cheap one\n\
                      \n\
                      [permissions]\n\
                      # Never push from the agent.\n\
                      [[permissions.rules]]\n\
                      tool = \"bash\"\n\
                      pattern = \"git push*\"\n\
                      action = \"deny\"\n\
                      \n\
                      [tools]\n\
                      allowed_paths = [\"../shared\"]\n";
        std::fs::write(&path, before).unwrap();
        let rule = allow("bash", Some("git status *"));
        save_permission_rules(&path, std::slice::from_ref(&rule)).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        // The new rule comes after the old one, inside the section; the rest is untouched.
        let (head, tail) = before.split_at(before.find("\n[tools]").unwrap());
        assert_eq!(
            after,
            format!(
                "{head}\n[[permissions.rules]]\ntool = \"bash\"\npattern = \"git status *\"\naction = \"allow\"\n{tail}"
            )
        );
        let rules = loaded_rules(&after);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].pattern.as_deref(), Some("git push*"));
        assert_eq!(rules[0].action, PermissionAction::Deny);
        assert_eq!(rules[1], rule);
    }

    #[test]
    fn rules_written_inline_get_inline_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code-mesh.toml");
        std::fs::write(
            &path,
            "[permissions]\nrules = [{ tool = \"read\", action = \"allow\" }] # reads\n",
        )
        .unwrap();
        let rule = allow("bash", Some("ls *"));
        save_permission_rules(&path, std::slice::from_ref(&rule)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[permissions]\nrules = [\n    { tool = \"read\", action = \"allow\" },\n    \
             { tool = \"bash\", pattern = \"ls *\", action = \"allow\" },\n] # reads\n"
        );
        assert_eq!(loaded_rules(&text), vec![allow("read", None), rule]);
    }

    #[test]
    fn a_rule_already_there_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code-mesh.toml");
        let first = allow("bash", Some("git status *"));
        save_permission_rules(&path, std::slice::from_ref(&first)).unwrap();
        let once = std::fs::read_to_string(&path).unwrap();
        let second = allow("bash", Some("git log *"));
        let added = save_permission_rules(&path, &[first.clone(), second.clone()]).unwrap();
        assert_eq!(added, vec![second.clone()]);
        assert_eq!(
            save_permission_rules(&path, std::slice::from_ref(&first)).unwrap(),
            vec![]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&once));
        assert_eq!(loaded_rules(&text), vec![first, second]);
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_it_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code-mesh.toml");
        let broken = "[permissions\nrules = 3\n";
        std::fs::write(&path, broken).unwrap();
        let error = save_permission_rules(&path, &[allow("bash", Some("ls *"))]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}:1:", path.display())),
            "{message}"
        );
        assert!(message.contains("invalid TOML"), "{message}");
        assert!(!error.hint().is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }

    #[test]
    fn rules_that_are_not_an_array_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code-mesh.toml");
        std::fs::write(&path, "[permissions]\nrules = \"all\"\n").unwrap();
        let error = save_permission_rules(&path, &[allow("bash", None)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: `permissions.rules` is not an array of tables, so no rule can be added to it",
                path.display()
            )
        );
        std::fs::write(&path, "permissions = 1\n").unwrap();
        let error = save_permission_rules(&path, &[allow("bash", None)]).unwrap_err();
        assert!(error.to_string().contains("`permissions` is not a table"));
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_config_is_written_where_the_link_points() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles").join("code-mesh.toml");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "# mine\n").unwrap();
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let rule = allow("bash", Some("git status *"));
        save_permission_rules(&link, std::slice::from_ref(&rule)).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let text = std::fs::read_to_string(&real).unwrap();
        assert!(text.contains("# mine"), "{text}");
        assert_eq!(loaded_rules(&text), [rule]);
    }

    #[test]
    fn an_unwritable_place_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "").unwrap();
        let path = blocker.join("config.toml");
        let error = save_permission_rules(&path, &[allow("bash", None)]).unwrap_err();
        assert!(matches!(
            error,
            SaveRulesError::Write { .. } | SaveRulesError::Read { .. }
        ));
        assert!(error.to_string().contains(&path.display().to_string()));
    }
}
