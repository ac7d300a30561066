//! Agent profiles: what each kind of agent is told, which tools it may use and what it runs
//! on. [`builtin_profiles`] gives the ten seed profiles; [`merge_profiles`] layers config
//! tables and agent files over them (the reading of those files happens in the front end);
//! [`agent_prompt_section`] is the part of the system prompt that makes a session that agent.

mod merge;
mod profiles;

pub use code_mesh_protocol::AgentProfile;
pub use merge::{
    ALL_TOOLS, MAX_TEMPERATURE, ProfileError, ProfileOverride, closest_name, merge_profiles,
};
pub use profiles::{
    BUILTIN_ORIGIN, DELEGATE_TOOL, agent_marker, agent_prompt_section, agent_system_prompt,
    builtin_profiles,
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use code_mesh_protocol::{ToolKind, ToolSpec};

    use crate::{Tool, ToolContext, ToolError, ToolOutput, ToolRegistry};

    struct Named(&'static str);

    #[async_trait]
    impl Tool for Named {
        fn spec(&self) -> ToolSpec {
            ToolSpec {
                name: self.0.to_owned(),
                description: String::new(),
                parameters: serde_json::json!({"type": "object"}),
            }
        }

        fn kind(&self) -> ToolKind {
            ToolKind::Read
        }

        fn summarize(&self, _arguments: &serde_json::Value) -> String {
            self.0.to_owned()
        }

        async fn call(
            &self,
            _arguments: serde_json::Value,
            _context: &ToolContext,
        ) -> Result<ToolOutput, ToolError> {
            Ok(ToolOutput::from(self.0.to_owned()))
        }
    }

    #[test]
    fn only_keeps_the_named_tools_in_registry_order_and_reports_the_rest() {
        let mut registry = ToolRegistry::new();
        for name in ["read", "write", "grep", "bash"] {
            registry.register(Arc::new(Named(name)));
        }
        let names = ["bash", "delegate", "read", "recall"].map(str::to_owned);
        let (restricted, unknown) = registry.only(&names);
        assert_eq!(restricted.names(), ["read", "bash"]);
        assert_eq!(unknown, ["delegate", "recall"]);
        assert!(restricted.get("write").is_none());
    }
}
