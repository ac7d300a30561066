//! Where the terminal UI's "allow always (save rule)" answers are written: the user's global
//! config file. Not the project's `code-mesh.toml`: `allow` rules there are ignored by design
//! (a repository must not grant the agent what the user did not, see
//! `run::permission_settings`), so a rule saved there would never apply. The rules' path
//! patterns are absolute, so they mean the same from the global file.

use std::path::PathBuf;

use code_mesh_protocol::config::PermissionRule;
use code_mesh_tui::RuleSaver;

use crate::setup::Context;

/// Saves rules to one config file with [`code_mesh_config::save_permission_rules`].
pub struct ConfigRuleSaver {
    file: PathBuf,
}

impl ConfigRuleSaver {
    /// The saver for a session opened in `context`: its global config file.
    pub fn for_context(context: &Context) -> Self {
        ConfigRuleSaver {
            file: context.paths.global_config_file(),
        }
    }
}

impl RuleSaver for ConfigRuleSaver {
    fn save(&self, rules: &[PermissionRule]) -> Result<String, String> {
        code_mesh_config::save_permission_rules(&self.file, rules)
            .map(|_| self.file.display().to_string())
            .map_err(|err| format!("{err}; hint: {}", err.hint()))
    }
}

#[cfg(test)]
mod tests {
    use code_mesh_protocol::config::PermissionAction;
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn saving_reports_the_file_or_one_sentence_with_a_hint() {
        let root = tempfile::tempdir().unwrap();
        let rule = PermissionRule {
            tool: "bash".into(),
            pattern: Some("git status *".into()),
            action: PermissionAction::Allow,
        };
        let file = root.path().join("code-mesh.toml");
        let saver = ConfigRuleSaver { file: file.clone() };
        assert_eq!(
            saver.save(std::slice::from_ref(&rule)),
            Ok(file.display().to_string())
        );
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("pattern = \"git status *\"")
        );

        std::fs::write(&file, "[permissions\n").unwrap();
        let error = saver.save(&[rule]).unwrap_err();
        assert!(
            error.starts_with(&format!("{}:", file.display())),
            "{error}"
        );
        assert!(error.contains("; hint: "), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}
