//! Mesh messaging: how the agents of one run talk to each other directly.
//!
//! A [`MeshBus`] holds the run's agents (id and profile name), each with a bounded inbox.
//! Agents send to one agent, broadcast to all others, publish on topics others subscribe to,
//! and ask questions that the asked agent answers with `reply` (the asker waits, up to a
//! timeout measured by a [`Timer`] the front end provides — this crate has no clock of its
//! own on every target). Every delivery is reported to the bus's observer as an
//! `agent_message` event, for the run's event log.
//!
//! Models use the bus through the [`mesh_tools`] of their agent, and hear of new messages
//! without polling through [`MeshInbox`], a [`TurnHooks`] whose `before_step` puts what
//! arrived into the next model request.

mod bus;
mod tools;

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_protocol::AgentId;

pub use bus::{
    Answer, INBOX_CAPACITY, InboxMessage, MeshBus, MeshBusBuilder, MeshError, MeshMember,
    MeshObserver, MessageKind,
};
pub use tools::{AskTimeouts, MESH_TOOL_NAMES, mesh_tools, mesh_tools_with};

use crate::{TurnHookContext, TurnHooks};

/// How the bus measures `ask` timeouts: the orchestrator's timer, so a front end gives one
/// (tokio's natively) for both.
pub use crate::orchestra::Timer;

/// The header of the messages shown to a model.
pub const INBOX_HEADER: &str = "[Messages from other agents]";

/// The messages as the model reads them: a header, then one message a line group, oldest
/// first. `None` when there are none.
pub fn inbox_notice(messages: &[InboxMessage]) -> Option<String> {
    if messages.is_empty() {
        return None;
    }
    let mut notice = String::from(INBOX_HEADER);
    for message in messages {
        notice.push('\n');
        notice.push_str(&message.to_string());
    }
    Some(notice)
}

/// Takes an agent's unread messages and formats them for its model; `None` when there are
/// none (or the agent is not on the bus). For a front end that builds requests itself; a
/// session gets the same through [`MeshInbox`].
pub fn take_inbox_notice(bus: &MeshBus, agent: &AgentId) -> Option<String> {
    bus.take_inbox(agent)
        .ok()
        .and_then(|messages| inbox_notice(&messages))
}

/// The turn hook delivering an agent's inbox to its model: before each model request, the
/// messages that arrived since the last one are taken from the inbox and added to the request
/// (with the user's prompt on the first step, beside the tool results on later ones), stored
/// in the session's history like any message so a replay holds.
#[derive(Clone, Debug)]
pub struct MeshInbox {
    bus: MeshBus,
    agent: AgentId,
}

impl MeshInbox {
    pub fn new(bus: MeshBus, agent: AgentId) -> Arc<Self> {
        Arc::new(MeshInbox { bus, agent })
    }
}

#[async_trait]
impl TurnHooks for MeshInbox {
    async fn before_turn(&self, _context: &TurnHookContext) -> Vec<String> {
        Vec::new()
    }

    async fn after_turn(&self, _context: &TurnHookContext) {}

    async fn before_step(&self, _context: &TurnHookContext) -> Vec<String> {
        take_inbox_notice(&self.bus, &self.agent)
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests;
