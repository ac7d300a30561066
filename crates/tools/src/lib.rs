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
//! This crate depends on `core` and `protocol` only, never on providers, the store or a front
//! end.

mod args;
mod bash;
mod blocking;
mod edit;
mod files;
mod glob;
mod grep;
mod ls;
mod output;
mod paths;
mod process;
mod read;
mod walk;
mod write;

use std::sync::Arc;

use code_mesh_core::ToolRegistry;

pub use bash::BashTool;
pub use edit::EditTool;
pub use glob::GlobTool;
pub use grep::GrepTool;
pub use ls::LsTool;
pub use read::ReadTool;
pub use write::WriteTool;

/// A registry with every built-in tool: `read`, `write`, `edit`, `glob`, `grep`, `ls` and
/// `bash`, in that order.
pub fn builtin_tools() -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry.register(Arc::new(ReadTool));
    registry.register(Arc::new(WriteTool));
    registry.register(Arc::new(EditTool));
    registry.register(Arc::new(GlobTool));
    registry.register(Arc::new(GrepTool));
    registry.register(Arc::new(LsTool));
    registry.register(Arc::new(BashTool));
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
            ["read", "write", "edit", "glob", "grep", "ls", "bash"]
        );
    }

    #[test]
    fn every_schema_is_a_closed_object_with_described_properties() {
        for spec in builtin_tools().specs() {
            let schema = &spec.parameters;
            assert_eq!(schema["type"], "object", "{}", spec.name);
            assert_eq!(schema["additionalProperties"], false, "{}", spec.name);
            let properties = schema["properties"].as_object().unwrap();
            assert!(!properties.is_empty() || spec.name == "ls");
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
        assert_eq!(kind("bash"), ToolKind::Execute);
    }
}
