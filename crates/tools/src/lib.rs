//! The native tools a Code Mesh agent calls: read, write and edit files, find files by name
//! (`glob`) and by content (`grep`), list directories (`ls`) and run shell commands (`bash`).
//!
//! Each tool implements [`code_mesh_core::Tool`]; [`builtin_tools`] registers them all. The file
//! tools share one path policy (`paths`): a path is resolved against the call's working
//! directory, canonicalised (symlinks included) and refused unless it lands inside the
//! workspace or one of the `tools.allowed_paths` directories. Outputs are bounded so a huge
//! file, tree or command output cannot flood the model's context, and every error message
//! says what went wrong and what to do instead, because the model reads it.
//!
//! Blocking filesystem work runs on tokio's blocking pool; long work honours the call's
//! cancellation token, and `bash` kills the whole process group it started when it times out,
//! is cancelled or is dropped.
//!
//! The git tools ([`git`]) run the `git` command line through the same process runner as
//! `bash` (sandbox, timeout, cancellation); [`GitSnapshots`] snapshots the working tree around
//! each turn so `code-mesh undo` ([`snapshot::undo_last_turn`]) can revert the last one.
//!
//! The editing tools (`edit`, `multiedit`, `apply_patch`) keep line endings and encodings
//! (UTF-8 with or without BOM, UTF-16 with BOM) and refuse a file that changed since the agent
//! last read or wrote it, using the stamps every file tool records in the session's
//! `FileTracker`; a file never read in the session may be edited (the exact-match rules
//! already prove the model knows the text it replaces). [`ExternalChangeWatch`] reports files
//! changed behind the agent's back before each turn.
//!
//! This crate depends on `core` and `protocol` only, never on providers, the store or a front
//! end.

mod apply_patch;
mod args;
mod bash;
mod blocking;
mod edit;
mod editable;
mod files;
pub mod git;
mod glob;
mod grep;
mod html;
mod ls;
mod memory;
mod multiedit;
mod output;
mod paths;
mod plumbing;
mod process;
mod project;
mod pty;
mod read;
mod scrub;
mod settings;
pub mod snapshot;
mod stamps;
pub mod swarm;
mod text;
mod todo;
mod walk;
mod watch;
mod web_fetch;
mod write;

use std::sync::Arc;

use code_mesh_core::ToolRegistry;

pub use apply_patch::ApplyPatchTool;
pub use bash::BashTool;
pub use edit::EditTool;
pub use glob::GlobTool;
pub use grep::GrepTool;
pub use ls::LsTool;
pub use memory::{
    MAX_MEMORY_CONTENT_BYTES, RecallTool, RememberTool, check_memory_content, parse_ttl,
};
pub use multiedit::MultiEditTool;
pub use project::{ProjectSettings, ProjectTool};
pub use read::ReadTool;
pub use settings::ToolSettings;
pub use snapshot::GitSnapshots;
pub use todo::{TodoItem, TodoPriority, TodoStatus, TodoTool};
pub use watch::ExternalChangeWatch;
pub use web_fetch::WebFetchTool;
pub use write::WriteTool;

/// A registry with every built-in tool: `read`, `write`, `edit`, `multiedit`, `apply_patch`,
/// `glob`, `grep`, `ls`, `bash`, then the git tools (`git_status`, `git_diff`, `git_log`,
/// `git_show`, `git_blame`, `git_commit`, `git_branch`, `git_worktree`), in that order.
pub fn builtin_tools() -> ToolRegistry {
    builtin_tools_with(&ToolSettings::default())
}

/// [`builtin_tools`] with the configurable tools set up from `settings`; the project tools
/// (`run_tests`, `build`, `lint`, `format`), `todo` and `web_fetch` come last, then
/// `remember` and `recall` when the settings give a memory bank.
pub fn builtin_tools_with(settings: &ToolSettings) -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry.register(Arc::new(ReadTool));
    registry.register(Arc::new(WriteTool));
    registry.register(Arc::new(EditTool));
    registry.register(Arc::new(MultiEditTool));
    registry.register(Arc::new(ApplyPatchTool));
    registry.register(Arc::new(GlobTool));
    registry.register(Arc::new(GrepTool));
    registry.register(Arc::new(LsTool));
    registry.register(Arc::new(BashTool));
    registry.register(Arc::new(git::GitStatusTool));
    registry.register(Arc::new(git::GitDiffTool));
    registry.register(Arc::new(git::GitLogTool));
    registry.register(Arc::new(git::GitShowTool));
    registry.register(Arc::new(git::GitBlameTool));
    registry.register(Arc::new(git::GitCommitTool));
    registry.register(Arc::new(git::GitBranchTool));
    registry.register(Arc::new(git::GitWorktreeTool));
    let project = Arc::new(settings.project.clone());
    let cwd = settings.cwd.clone();
    registry.register(Arc::new(ProjectTool::run_tests(
        project.clone(),
        cwd.clone(),
    )));
    registry.register(Arc::new(ProjectTool::build(project.clone(), cwd.clone())));
    registry.register(Arc::new(ProjectTool::lint(project.clone(), cwd.clone())));
    registry.register(Arc::new(ProjectTool::format(project, cwd)));
    registry.register(Arc::new(match &settings.todo_dir {
        Some(dir) => TodoTool::new(dir),
        None => TodoTool::in_memory(),
    }));
    registry.register(Arc::new(WebFetchTool::new(settings.web_allow.clone())));
    if let Some(bank) = &settings.memory {
        registry.register(Arc::new(RememberTool::new(bank.clone(), &settings.agent)));
        registry.register(Arc::new(RecallTool::new(bank.clone(), &settings.agent)));
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use code_mesh_protocol::ToolKind;

    #[test]
    fn builtin_tools_are_registered_in_order() {
        let registry = builtin_tools();
        assert_eq!(
            registry.names(),
            [
                "read",
                "write",
                "edit",
                "multiedit",
                "apply_patch",
                "glob",
                "grep",
                "ls",
                "bash",
                "git_status",
                "git_diff",
                "git_log",
                "git_show",
                "git_blame",
                "git_commit",
                "git_branch",
                "git_worktree",
                "run_tests",
                "build",
                "lint",
                "format",
                "todo",
                "web_fetch"
            ]
        );
    }

    #[test]
    fn every_schema_is_a_closed_object_with_described_properties() {
        for spec in builtin_tools().specs() {
            let schema = &spec.parameters;
            assert_eq!(schema["type"], "object", "{}", spec.name);
            assert_eq!(schema["additionalProperties"], false, "{}", spec.name);
            let properties = schema["properties"].as_object().unwrap();
            assert!(!properties.is_empty() || ["ls", "git_status"].contains(&spec.name.as_str()));
            for (name, property) in properties {
                assert!(
                    property["description"]
                        .as_str()
                        .is_some_and(|d| d.len() > 10),
                    "{}.{name} lacks a description",
                    spec.name
                );
                assert!(property["type"].is_string(), "{}.{name}", spec.name);
            }
            for required in schema["required"].as_array().unwrap() {
                assert!(properties.contains_key(required.as_str().unwrap()));
            }
            assert!(spec.description.len() > 200, "{}", spec.name);
        }
    }

    #[test]
    fn kinds_match_what_the_tools_do() {
        let registry = builtin_tools();
        let kind = |name: &str| registry.get(name).unwrap().kind();
        for name in ["read", "glob", "grep", "ls"] {
            assert_eq!(kind(name), ToolKind::Read);
        }
        assert_eq!(kind("write"), ToolKind::Write);
        assert_eq!(kind("edit"), ToolKind::Write);
        assert_eq!(kind("multiedit"), ToolKind::Write);
        assert_eq!(kind("apply_patch"), ToolKind::Write);
        assert_eq!(kind("bash"), ToolKind::Execute);
        for name in ["git_status", "git_diff", "git_log", "git_show", "git_blame"] {
            assert_eq!(kind(name), ToolKind::Read);
        }
        for name in ["git_commit", "git_branch", "git_worktree"] {
            assert_eq!(kind(name), ToolKind::Execute, "{name}: git runs hooks");
        }
        for name in ["run_tests", "build", "lint", "format", "web_fetch"] {
            assert_eq!(kind(name), ToolKind::Execute, "{name}");
        }
        assert_eq!(kind("todo"), ToolKind::Read, "todo touches no project file");
    }

    #[test]
    fn memory_tools_come_last_and_only_with_a_bank() {
        let settings = ToolSettings {
            memory: Some(Arc::new(code_mesh_core::MemoryStore::new())),
            ..ToolSettings::default()
        };
        let registry = builtin_tools_with(&settings);
        let names = registry.names();
        assert_eq!(names[names.len() - 2..], ["remember", "recall"]);
        for name in ["remember", "recall"] {
            let tool = registry.get(name).unwrap();
            assert_eq!(
                tool.kind(),
                ToolKind::Read,
                "{name} writes no workspace file"
            );
            let spec = tool.spec();
            assert_eq!(spec.parameters["additionalProperties"], false, "{name}");
            assert!(spec.description.len() > 200, "{name}");
        }
        assert!(!builtin_tools().names().contains(&"recall".to_string()));
    }
}
