//! The `send_back` tool: a pipeline stage sends the work back to an earlier stage.
//!
//! The call only records the request (the stage, the reason) and tells the model to finish
//! its answer; once the stage's agent has finished, the pipeline continues from the stage it
//! named. Loop-backs are counted per user turn and bounded by `[agents] max_loops`: past the
//! bound the call fails, so the model finishes normally and the pipeline goes on.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use code_mesh_protocol::{ToolKind, ToolSpec};
use serde::Deserialize;
use serde_json::json;

use crate::{Tool, ToolContext, ToolError, ToolOutput};

/// The tool's name.
pub const SEND_BACK_TOOL_NAME: &str = "send_back";

/// A stage's request to redo the work from an earlier stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SendBack {
    /// The index of the stage the work goes back to.
    pub(crate) stage: usize,
    pub(crate) reason: String,
}

/// The loop-backs of one user turn, shared by every stage's tool.
#[derive(Debug)]
pub(crate) struct Loops {
    pub(crate) used: u32,
    pub(crate) max: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    stage: String,
    reason: String,
}

/// One stage's `send_back`; its request is read by the pipeline once the stage has finished.
pub(crate) struct SendBackTool {
    /// The pipeline's stages (profile names), in order.
    pub(crate) stages: Vec<String>,
    /// The index of the stage whose agent has this tool.
    pub(crate) caller: usize,
    pub(crate) loops: Arc<Mutex<Loops>>,
    pub(crate) request: Arc<Mutex<Option<SendBack>>>,
}

impl SendBackTool {
    /// The stages the caller may send the work back to, without repeats, in order.
    fn earlier(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in &self.stages[..self.caller.min(self.stages.len())] {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    /// The request as the pipeline will read it.
    pub(crate) fn taken(request: &Mutex<Option<SendBack>>) -> Option<SendBack> {
        request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[async_trait]
impl Tool for SendBackTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: SEND_BACK_TOOL_NAME.into(),
            description: "Send the work back to an earlier stage of the pipeline when it must be redone (a bug, a missing part, a wrong design). Give the stage and a reason that says exactly what to fix: that stage runs again with your reason, then every stage after it. After calling it, finish your answer at once with what you found.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "stage": {"type": "string", "enum": self.earlier(), "description": "The earlier stage that must redo its work."},
                    "reason": {"type": "string", "description": "What is wrong and what to change."}
                },
                "required": ["stage", "reason"]
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        // It changes nothing itself; the stage it names runs with its own tools.
        ToolKind::Read
    }

    fn summarize(&self, arguments: &serde_json::Value) -> String {
        let stage = arguments["stage"].as_str().unwrap_or("?");
        format!("send the work back to {stage}")
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let arguments: Arguments = serde_json::from_value(arguments).map_err(|err| {
            ToolError::new(format!(
                "the arguments are not a stage and a reason ({err}); pass {{\"stage\": \"<earlier stage>\", \"reason\": \"<what to fix>\"}}"
            ))
        })?;
        let earlier = self.earlier();
        // The latest earlier stage of that name (a profile may appear twice in a pipeline).
        let Some(stage) = self.stages[..self.caller.min(self.stages.len())]
            .iter()
            .rposition(|name| *name == arguments.stage)
        else {
            let message = if earlier.is_empty() {
                "there is no earlier stage to send the work back to; finish your answer".to_owned()
            } else {
                format!(
                    "`{}` is not a stage before this one; send the work back to one of: {}",
                    arguments.stage,
                    earlier.join(", ")
                )
            };
            return Err(ToolError::new(message));
        };
        if arguments.reason.trim().is_empty() {
            return Err(ToolError::new(
                "the reason is empty; say what is wrong and what the stage should change",
            ));
        }
        let mut request = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sent) = request.as_ref() {
            return Err(ToolError::new(format!(
                "you already sent the work back to {}; finish your answer now",
                self.stages[sent.stage]
            )));
        }
        let mut loops = self.loops.lock().unwrap_or_else(PoisonError::into_inner);
        if loops.used >= loops.max {
            return Err(ToolError::new(format!(
                "the work was already sent back {} time(s), the most this run allows (`[agents] max_loops`); it cannot go back again, so finish your answer and say what is still wrong",
                loops.max
            )));
        }
        loops.used += 1;
        *request = Some(SendBack {
            stage,
            reason: arguments.reason.trim().to_owned(),
        });
        Ok(ToolOutput::from(format!(
            "The work goes back to the {} stage with your reason once you finish (loop {} of {}). Finish your answer now: summarize what you found; call no more tools.",
            arguments.stage, loops.used, loops.max
        )))
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn tool(caller: usize, max: u32) -> SendBackTool {
        SendBackTool {
            stages: ["architect", "coder", "tester", "reviewer"]
                .map(String::from)
                .to_vec(),
            caller,
            loops: Arc::new(Mutex::new(Loops { used: 0, max })),
            request: Arc::default(),
        }
    }

    #[test]
    fn it_offers_only_the_stages_before_its_caller() {
        let spec = tool(2, 2).spec();
        assert_eq!(
            spec.parameters["properties"]["stage"]["enum"],
            json!(["architect", "coder"])
        );
    }

    #[test]
    fn a_stage_with_a_profile_twice_offers_it_once() {
        let mut tool = tool(3, 1);
        tool.stages = ["coder", "reviewer", "coder", "tester"]
            .map(String::from)
            .to_vec();
        assert_eq!(tool.earlier(), ["coder", "reviewer"]);
    }
}
