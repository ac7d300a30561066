//! The hierarchical strategy: the Coordinator runs in the run's own session with the
//! `delegate` tool; the tasks it delegates run as agents in child sessions, and their results
//! come back as the tool's result. It may delegate more, then writes the final answer.

use std::fmt::Write as _;
use std::sync::Arc;

use code_mesh_protocol::{AgentInfo, AgentType, EventKind};
use tokio::sync::mpsc;

use super::delegate::DelegateTool;
use super::{
    AgentExtras, Orchestra, OrchestraDriver, OrchestraError, OrchestraSettings, scheduler,
};
use crate::{Session, SessionConfig, SessionHandle, SessionStart, Store, ToolRegistry};

/// Opens hierarchical runs.
#[derive(Debug)]
pub struct Hierarchical;

impl Hierarchical {
    /// Opens (or resumes) the run's session as the Coordinator's, reports `agent_spawned` for
    /// it, and returns its handle and the driver that runs both the session and the scheduler.
    /// `config` and `tools` are the run's: every agent's are derived from them by profile.
    pub async fn open(
        store: Arc<dyn Store>,
        tools: ToolRegistry,
        config: SessionConfig,
        start: SessionStart,
        settings: OrchestraSettings,
    ) -> Result<(SessionHandle, OrchestraDriver), OrchestraError> {
        let top = AgentType::Coordinator.name();
        let profile = settings
            .profiles
            .iter()
            .find(|profile| profile.name == top)
            .cloned()
            .ok_or_else(|| OrchestraError::MissingProfile(top.to_owned()))?;
        let orchestra = Arc::new(Orchestra::new(
            store.clone(),
            config,
            tools,
            settings,
            Some(top),
        ));
        let (mut coordinator, coordinator_tools) = orchestra
            .agent_config(&profile, &AgentExtras::default())
            .await?;
        // Every agent runs under the Coordinator's turn; its snapshots cover all their work.
        coordinator.hooks = orchestra.base.hooks.clone();
        coordinator.system_prompt.push_str(&agent_list(&orchestra));
        let mut coordinator_tools = coordinator_tools;
        let (requests, receiver) = mpsc::unbounded_channel();
        coordinator_tools.register(Arc::new(DelegateTool {
            orchestra: orchestra.clone(),
            scheduler: requests,
        }));
        let model = coordinator.model.clone();
        let (handle, session) = Session::open(store, coordinator_tools, coordinator, start).await?;
        // The driver (not yet running) holds the sink, so it is there.
        orchestra.attach(&handle)?;
        orchestra
            .emit_now(EventKind::AgentSpawned {
                agent: AgentInfo {
                    id: orchestra.top.clone().unwrap_or_default(),
                    profile: profile.name.clone(),
                    parent: None,
                    session_id: handle.id().clone(),
                    model,
                },
            })
            .await;
        let scheduler = Box::pin(scheduler::run(orchestra, receiver));
        // The session's end drops the `delegate` tool, which lets the scheduler finish.
        Ok((
            handle,
            OrchestraDriver {
                session: Box::pin(session.run()),
                background: scheduler,
            },
        ))
    }
}

/// The section telling the Coordinator whom it can delegate to.
fn agent_list(orchestra: &Orchestra) -> String {
    let mut text = format!(
        "\n\n# Agents you can delegate to\nUp to {} run at once; each task may take at most {}.\n",
        orchestra.settings.max_count.max(1),
        super::describe_duration(orchestra.settings.timeout)
    );
    for profile in orchestra.profiles.values() {
        if profile.name != orchestra.top_profile {
            let _ = writeln!(text, "- {}: {}", profile.name, profile.description);
        }
    }
    text
}
