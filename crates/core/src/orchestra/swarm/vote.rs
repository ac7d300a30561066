//! The reviewers' `vote` tool: one vote per reviewer, for a candidate that survived the tests.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use code_mesh_protocol::{AgentId, ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::json;

use crate::consensus::ReviewerVote;
use crate::{Tool, ToolContext, ToolError, ToolOutput};

/// The name of the reviewers' tool.
pub const VOTE_TOOL_NAME: &str = "vote";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteArguments {
    candidate: usize,
    reason: String,
}

/// A reviewer's vote: one per reviewer, for a candidate that qualified.
pub(super) struct VoteTool {
    pub(super) reviewer: AgentId,
    pub(super) survivors: Vec<usize>,
    pub(super) votes: Arc<Mutex<Vec<ReviewerVote>>>,
}

#[async_trait]
impl Tool for VoteTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: VOTE_TOOL_NAME.into(),
            description: "Vote for the candidate whose change should be applied. Call it once, with the candidate's number and a one-sentence reason.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "candidate": {"type": "integer", "enum": self.survivors},
                    "reason": {"type": "string", "description": "Why this candidate is the best, in one sentence."}
                },
                "required": ["candidate", "reason"]
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }

    fn summarize(&self, arguments: &serde_json::Value) -> String {
        format!("vote for candidate {}", arguments["candidate"])
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _context: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let arguments: VoteArguments = serde_json::from_value(arguments).map_err(|err| {
            ToolError::new(format!("the arguments are not a vote ({err}); pass {{\"candidate\": <number>, \"reason\": \"…\"}}"))
        })?;
        if !self.survivors.contains(&arguments.candidate) {
            return Err(ToolError::new(format!(
                "candidate {} cannot win; vote for one of: {}",
                arguments.candidate,
                self.survivors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if arguments.reason.trim().is_empty() {
            return Err(ToolError::new("give a reason for your vote"));
        }
        let mut votes = self.votes.lock().unwrap_or_else(PoisonError::into_inner);
        if votes.iter().any(|v| v.reviewer == self.reviewer.0) {
            return Err(ToolError::new(
                "you already voted; only your first vote counts. Finish with your summary.",
            ));
        }
        votes.push(ReviewerVote {
            reviewer: self.reviewer.0.clone(),
            candidate: arguments.candidate,
            reason: arguments.reason.trim().to_owned(),
        });
        Ok(ToolOutput::from(format!(
            "Your vote for candidate {} is recorded.",
            arguments.candidate
        )))
    }
}
