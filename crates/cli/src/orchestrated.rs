//! `run --strategy hierarchical|pipeline|mesh|swarm`: agents working together in child
//! sessions of the run's session (see `code_mesh_core::orchestra`). This file wires the front
//! end's parts into the engine's strategies: tokio's timer, the profiles' own models, and the
//! `[agents]` settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use code_mesh_core::orchestra::{
    AgentModel, DEFAULT_MAX_TASKS, Hierarchical, MeshRun, MeshSettings, ModelResolver,
    OrchestraError, OrchestraSettings, Pipeline, PipelineSettings, Swarm, SwarmSettings, Timer,
};
use code_mesh_core::{
    ResponseCache, SessionConfig, SessionHandle, SessionStart, Store, ToolRegistry,
};
use code_mesh_protocol::AgentProfile;
use code_mesh_protocol::config::Strategy;
use code_mesh_tools::swarm::GitSwarm;
use futures::future::BoxFuture;

use crate::exit::{CliError, Exit};
use crate::provider_setup;
use crate::setup::Context;

/// tokio's timer.
struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The models profiles name, resolved before the run starts; a model that cannot be used
/// fails only the tasks of the agents that need it.
struct ResolvedModels(HashMap<String, Result<AgentModel, String>>);

#[async_trait]
impl ModelResolver for ResolvedModels {
    async fn resolve(&self, model: &str) -> Result<AgentModel, String> {
        self.0
            .get(model)
            .cloned()
            .unwrap_or_else(|| Err(format!("`{model}` was not resolved for this run")))
    }
}

/// What an orchestrated run is asked to do besides its task.
pub struct RunRequest {
    pub strategy: Strategy,
    /// `--agents N` (swarm candidates).
    pub agents: Option<u32>,
}

/// Opens the run's session for `request.strategy` and starts its driver. `tools` are every
/// tool (each agent gets its profile's share); `config` is the run's (each agent's prompt,
/// model and limits are derived from it).
#[allow(clippy::too_many_arguments)]
pub async fn open(
    context: &Context,
    store: Arc<dyn Store>,
    tools: ToolRegistry,
    mut config: SessionConfig,
    start: SessionStart,
    profiles: Vec<AgentProfile>,
    cache: Option<Arc<dyn ResponseCache>>,
    request: RunRequest,
) -> Result<(SessionHandle, tokio::task::JoinHandle<()>), CliError> {
    // Each agent's own section is added to the base prompt by the orchestrator.
    config.system_prompt = code_mesh_core::base_system_prompt().to_owned();
    let agents = &context.loaded.config.agents;
    let extra_models: Vec<&str> = match request.strategy {
        Strategy::Swarm => agents.swarm_models.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let mut models = HashMap::new();
    let wanted = profiles
        .iter()
        .filter_map(|p| p.model.as_deref())
        .chain(extra_models);
    for model in wanted {
        if model == config.model || models.contains_key(model) {
            continue;
        }
        let resolved = provider_setup::resolve(context, Some(model.to_owned()), cache.clone())
            .await
            .map(|resolved| AgentModel {
                context: Some(provider_setup::context_settings(
                    context,
                    resolved.window_tokens,
                    resolved.tokenizer,
                )),
                provider: resolved.provider,
                model: resolved.full_name,
                provider_model: resolved.provider_model,
            })
            .map_err(|err| match err.hint {
                Some(hint) => format!("{} ({hint})", err.message),
                None => err.message,
            });
        models.insert(model.to_owned(), resolved);
    }
    let settings = OrchestraSettings {
        profiles,
        max_count: usize::try_from(agents.max_count)
            .unwrap_or(usize::MAX)
            .max(1),
        timeout: Duration::from_millis(agents.timeout.as_millis()),
        max_tasks: DEFAULT_MAX_TASKS,
        timer: Arc::new(TokioTimer),
        models: Some(Arc::new(ResolvedModels(models))),
    };
    let opened = match request.strategy {
        Strategy::Hierarchical => Hierarchical::open(store, tools, config, start, settings).await,
        Strategy::Pipeline => {
            let pipeline = PipelineSettings {
                stages: agents.pipeline.clone(),
                max_loops: agents.max_loops,
            };
            Pipeline::open(store, tools, config, start, settings, pipeline)
                .await
                .map_err(|err| config_mistake("pipeline", err))
        }
        Strategy::Mesh => {
            let mesh = MeshSettings {
                members: agents.mesh.clone(),
                rounds: agents.mesh_rounds,
            };
            MeshRun::open(store, tools, config, start, settings, mesh)
                .await
                .map_err(|err| config_mistake("mesh", err))
        }
        Strategy::Swarm => {
            let swarm = swarm_settings(context, &request, &settings, &config)?;
            Swarm::open(store, tools, config, start, settings, swarm).await
        }
        Strategy::Single => {
            // `run` opens single-agent sessions itself.
            return Err(CliError::new(
                Exit::Failure,
                "internal error: the single strategy has no orchestration to open",
            ));
        }
    };
    let (handle, driver) = opened.map_err(|err| {
        let code = match err {
            OrchestraError::Settings { .. } => Exit::Usage,
            _ => Exit::Failure,
        };
        CliError::new(code, &err).with_optional_hint(err.hint())
    })?;
    Ok((handle, tokio::spawn(driver.run())))
}

/// A pipeline or mesh that cannot be built from `[agents] <key>` (no member, a name no
/// profile has, more members than may run) is a mistake in the config: exit 2, before any
/// model request. Other errors pass through.
fn config_mistake(key: &str, err: OrchestraError) -> OrchestraError {
    match err {
        OrchestraError::MissingProfile(_) | OrchestraError::Settings { .. } => {
            OrchestraError::Settings {
                message: format!("`[agents] {key}`: {err}"),
                hint: err.hint().unwrap_or_default(),
            }
        }
        other => other,
    }
}

/// The swarm's candidates (`--agents` or `[agents] swarm_size`, at least 2), models,
/// reviewers, and its git worktrees with the project's test command.
fn swarm_settings(
    context: &Context,
    request: &RunRequest,
    settings: &OrchestraSettings,
    config: &SessionConfig,
) -> Result<SwarmSettings, CliError> {
    let agents = &context.loaded.config.agents;
    let candidates = request.agents.unwrap_or(agents.swarm_size);
    if candidates < 2 {
        return Err(CliError::usage(
            format!("a swarm needs at least 2 candidates, not {candidates}"),
            "pass --agents 2 or more, or set `[agents] swarm_size`",
        ));
    }
    let tools = &context.loaded.config.tools;
    let git = GitSwarm::new(
        code_mesh_tools::ProjectSettings {
            package_manager: tools.package_manager.clone(),
            test_runner: tools.test_runner.clone(),
            formatter: tools.formatter.clone(),
            linter: tools.linter.clone(),
        },
        settings.timeout,
        config.limits,
    );
    Ok(SwarmSettings {
        candidates: usize::try_from(candidates).unwrap_or(usize::MAX),
        models: agents.swarm_models.clone(),
        reviewers: usize::try_from(agents.swarm_reviewers).unwrap_or(usize::MAX),
        workspace: Arc::new(git),
    })
}
