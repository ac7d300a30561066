use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::{
    MemoryStore, ModelRequest, Provider, ProviderError, ProviderStream, Session, SessionConfig,
    SessionHandle, SessionStart, Store, StreamEvent, Tool, ToolContext, ToolError, ToolLimits,
    ToolOutput, ToolRegistry,
};
use code_mesh_protocol::{Event, EventKind, ToolCall, ToolKind, ToolSpec};
use futures::StreamExt;
use serde_json::json;

/// One scripted answer: events to stream, then either the end or a stream that never ends.
pub struct Step {
    pub events: Vec<Result<StreamEvent, ProviderError>>,
    pub hang: bool,
}

pub fn text(t: &str) -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::TextDelta(t.into()))
}

pub fn call(id: &str, name: &str, args: &str) -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::ToolCall(ToolCall {
        call_id: id.into(),
        name: name.into(),
        arguments: args.into(),
        signature: None,
    }))
}

pub fn finish() -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::Finished(code_mesh_core::FinishReason::Stop))
}

pub fn step(events: Vec<Result<StreamEvent, ProviderError>>) -> Step {
    Step {
        events,
        hang: false,
    }
}

#[derive(Default)]
pub struct ScriptedProvider {
    steps: Mutex<VecDeque<Step>>,
    pub requests: Mutex<Vec<ModelRequest>>,
}

impl ScriptedProvider {
    pub fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(ScriptedProvider {
            steps: Mutex::new(steps.into()),
            requests: Mutex::default(),
        })
    }

    pub fn requests(&self) -> Vec<ModelRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        self.requests.lock().unwrap().push(request);
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .expect("the script has no step left");
        let events = futures::stream::iter(step.events);
        if step.hang {
            Ok(events.chain(futures::stream::pending()).boxed())
        } else {
            Ok(events.boxed())
        }
    }
}

/// A read tool that optionally waits at a barrier, proving concurrency.
pub struct ProbeRead {
    pub barrier: Option<Arc<tokio::sync::Barrier>>,
}

#[async_trait]
impl Tool for ProbeRead {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "probe".into(),
            description: "reads".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Read
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "probe".into()
    }
    async fn call(
        &self,
        args: serde_json::Value,
        _: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        Ok(ToolOutput::from(format!("probed {args}")))
    }
}

/// A write tool that logs the order of its calls.
pub struct LogWrite {
    pub log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Tool for LogWrite {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "log".into(),
            description: "writes".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Write
    }
    fn summarize(&self, args: &serde_json::Value) -> String {
        format!("log {args}")
    }
    async fn call(
        &self,
        args: serde_json::Value,
        _: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let entry = args["entry"].as_str().unwrap_or("?").to_owned();
        self.log.lock().unwrap().push(entry.clone());
        Ok(ToolOutput::from(format!("logged {entry}")))
    }
}

/// A command tool that runs until cancelled.
pub struct Forever;

#[async_trait]
impl Tool for Forever {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "forever".into(),
            description: "never ends".into(),
            parameters: json!({"type": "object"}),
        }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Execute
    }
    fn summarize(&self, _: &serde_json::Value) -> String {
        "run forever".into()
    }
    async fn call(&self, _: serde_json::Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        ctx.cancel.cancelled().await;
        Err(ToolError::new("cancelled: stopped by its token"))
    }
}

pub fn tools(
    barrier: Option<Arc<tokio::sync::Barrier>>,
    log: Arc<Mutex<Vec<String>>>,
) -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry.register(Arc::new(ProbeRead { barrier }));
    registry.register(Arc::new(LogWrite { log }));
    registry.register(Arc::new(Forever));
    registry
}

pub fn config(provider: Arc<dyn Provider>, auto_approve: bool) -> SessionConfig {
    SessionConfig {
        provider,
        model: "scripted/test-model".into(),
        provider_model: "test-model".into(),
        workspace: PathBuf::from("/workspace"),
        cwd: PathBuf::from("/workspace"),
        allowed_paths: Vec::new(),
        max_turns: 10,
        temperature: None,
        max_tokens: None,
        auto_approve,
        limits: ToolLimits::default(),
        system_prompt: code_mesh_core::base_system_prompt().into(),
        instructions: Vec::new(),
        sandbox: Default::default(),
        hooks: Vec::new(),
        permissions: Default::default(),
        memory: None,
        agent: "coder".into(),
        context: Default::default(),
    }
}

pub async fn open(
    store: Arc<dyn Store>,
    registry: ToolRegistry,
    config: SessionConfig,
    start: SessionStart,
) -> SessionHandle {
    let (handle, driver) = Session::open(store, registry, config, start).await.unwrap();
    tokio::spawn(driver.run());
    handle
}

pub fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// Reads events until the turn ends, bounded so a bug fails the test instead of hanging it.
pub async fn until_turn_finished(handle: &mut SessionHandle) -> Vec<Event> {
    collect_until(handle, |e| matches!(e.kind, EventKind::TurnFinished { .. })).await
}

pub async fn collect_until(
    handle: &mut SessionHandle,
    mut stop: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), handle.next_event())
            .await
            .expect("no event within 20 s: the engine is stuck")
            .expect("the session ended early");
        let done = stop(&event);
        events.push(event);
        if done {
            return events;
        }
    }
}

pub fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}
