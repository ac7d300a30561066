//! `code-mesh run`: one task, non-interactively.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use code_mesh_config::{CliOverride, Origin};
use code_mesh_core::{
    ConfiguredRule, InstructionFile, MemoryBank, NOTHING_TO_COMPACT, OpSender, PermissionSettings,
    ResponseCache, SandboxPolicy, Session, SessionConfig, SessionHandle, SessionStart, Store,
    ToolLimits,
};
use code_mesh_protocol::config::{PermissionAction, Strategy};
use code_mesh_protocol::{
    CompactionMode, ErrorCode, EventKind, Op, PermissionDecision, SandboxMode, SessionId,
    TurnEndReason,
};
use code_mesh_store::SqliteStore;

use crate::args::{GlobalArgs, RunArgs, SandboxArg, StrategyArg};
use crate::exit::{CliError, Exit};
use crate::output::EventPrinter;
use crate::provider_setup;
use crate::setup::{self, Context};

/// The agent type `run` works as (its agent memory is kept under this name).
const AGENT: &str = "coder";

pub fn run(global: &GlobalArgs, args: RunArgs) -> Result<ExitCode, CliError> {
    let context = context_for(global, &args)?;
    let prompt = read_prompt(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::new(Exit::Failure, format!("cannot start the runtime: {err}")))?;
    let outcome = runtime.block_on(run_task(context, args, prompt));
    // A permission prompt may still be blocked reading the terminal; don't wait for it.
    runtime.shutdown_background();
    outcome.map(|exit| exit.into())
}

/// Refuses arguments that do not fit together.
fn check_supported(args: &RunArgs) -> Result<(), CliError> {
    if args.agents.is_some() && args.strategy != Some(StrategyArg::Swarm) {
        return Err(CliError::usage(
            "--agents sets how many candidates a swarm tries; it needs --strategy swarm",
            "add --strategy swarm, or drop --agents",
        ));
    }
    if args.agents == Some(0) {
        return Err(CliError::usage(
            "--agents 0 leaves the swarm without a candidate",
            "pass --agents 2 or more (one candidate is the single strategy)",
        ));
    }
    Ok(())
}

fn read_prompt(args: &RunArgs) -> Result<String, CliError> {
    let joined = args.prompt.join(" ");
    if !joined.trim().is_empty() {
        return Ok(joined);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::usage(
            "no task given",
            "pass it as an argument: code-mesh run \"fix the failing test\"",
        ));
    }
    let mut text = String::new();
    stdin.lock().read_to_string(&mut text).map_err(|err| {
        CliError::usage(
            format!("cannot read the task from standard input: {err}"),
            "pass it as an argument instead",
        )
    })?;
    if text.trim().is_empty() {
        return Err(CliError::usage(
            "no task given: standard input was empty",
            "pass it as an argument: code-mesh run \"fix the failing test\"",
        ));
    }
    Ok(text)
}

async fn run_task(context: Context, args: RunArgs, prompt: String) -> Result<Exit, CliError> {
    let OpenedSession {
        mut handle, driver, ..
    } = open_session(&context, &args).await?;
    watch_ctrl_c(handle.op_sender());
    // `/compact` alone summarises the session's history instead of starting a turn.
    let compact = prompt.trim() == "/compact";
    if compact {
        handle.submit(Op::Compact)?;
    } else {
        handle.submit(Op::UserTurn { text: prompt })?;
    }

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut printer = EventPrinter::new(args.json);
    let mut reason = None;
    let mut last_error = None;
    while let Some(event) = handle.next_event().await {
        printer.print(&event);
        match event.kind {
            EventKind::PermissionRequested {
                request_id,
                tool,
                summary,
                ..
            } => {
                let decision = if interactive {
                    ask_user(&tool, &summary).await
                } else {
                    eprintln!(
                        "denied: `{tool}` ({summary}) needs approval and there is no terminal to ask; pass --yes to allow writes and commands"
                    );
                    PermissionDecision::Deny
                };
                handle.submit(Op::PermissionReply {
                    request_id,
                    decision,
                })?;
            }
            EventKind::Error { code, .. } => {
                last_error = Some(code);
                if compact {
                    reason = Some(TurnEndReason::Failed);
                    break;
                }
            }
            EventKind::ContextCompacted {
                mode: CompactionMode::Summarized,
                summary,
                ..
            } if compact => {
                if !args.json {
                    println!("{}", summary.unwrap_or_default());
                }
                reason = Some(TurnEndReason::Completed);
                break;
            }
            EventKind::Warning { message }
                if compact && message.starts_with(NOTHING_TO_COMPACT) =>
            {
                reason = Some(TurnEndReason::Completed);
                break;
            }
            EventKind::TurnFinished { reason: r, .. } => {
                reason = Some(r);
                break;
            }
            _ => {}
        }
    }
    printer.finish();
    let _ = handle.submit(Op::Shutdown);
    let _ = driver.await;
    Ok(match reason {
        Some(TurnEndReason::Completed) => Exit::Success,
        Some(TurnEndReason::MaxTurns) => Exit::MaxTurns,
        Some(TurnEndReason::Cancelled) => Exit::Interrupted,
        Some(TurnEndReason::Failed) => match last_error {
            Some(
                ErrorCode::ProviderAuth
                | ErrorCode::ProviderError
                | ErrorCode::ProviderRateLimited
                | ErrorCode::ProviderStreamCut
                | ErrorCode::ProviderUnreachable,
            ) => Exit::Provider,
            _ => Exit::Failure,
        },
        None => Exit::Failure,
    })
}

/// The configuration of a session asked for with these arguments: their `--model`,
/// `--max-turns`, `--strategy` and `--sandbox` override the config files.
pub fn context_for(global: &GlobalArgs, args: &RunArgs) -> Result<Context, CliError> {
    check_supported(args)?;
    let mut overrides = Vec::new();
    if let Some(model) = &args.model {
        overrides.push(CliOverride::new(
            "providers.model",
            model.as_str(),
            "--model",
        ));
    }
    if let Some(max_turns) = args.max_turns {
        overrides.push(CliOverride::new(
            "agents.max_turns",
            i64::from(max_turns),
            "--max-turns",
        ));
    }
    if let Some(strategy) = args.strategy {
        overrides.push(CliOverride::new(
            "agents.default_strategy",
            strategy.name(),
            "--strategy",
        ));
    }
    if let Some(sandbox) = args.sandbox {
        overrides.push(CliOverride::new(
            "tools.sandbox",
            sandbox_mode(sandbox).as_str(),
            "--sandbox",
        ));
    }
    setup::context(global, overrides)
}

/// A session opened for a front end: the handle it drives, the driver's task, and the model's
/// context window (for a status line), when the catalogue knows it.
pub struct OpenedSession {
    pub handle: SessionHandle,
    pub driver: tokio::task::JoinHandle<()>,
    pub window_tokens: Option<u64>,
    /// Where the session lives, for front ends that read more than its live events (the
    /// terminal UI's session picker and agent view).
    pub store: Arc<dyn Store>,
}

/// Which session to open and how, beyond what the context's configuration says.
#[derive(Clone, Debug, Default)]
pub struct SessionRequest {
    /// Resume this session.
    pub session: Option<SessionId>,
    /// Continue the latest session of the working directory (when `session` is `None`).
    pub continue_last: bool,
    /// An explicit `provider/model`: wins over a resumed session's own and the configured one.
    pub model: Option<String>,
    /// `None`: `[agents] default_strategy`.
    pub strategy: Option<Strategy>,
    /// Candidates a swarm tries (`None`: `[agents] swarm_size`).
    pub agents: Option<u32>,
    /// Approve file writes and commands that would otherwise ask.
    pub auto_approve: bool,
}

impl SessionRequest {
    /// What `run`'s arguments ask for (their `--strategy` is already in the context's config).
    pub fn from_run_args(args: &RunArgs) -> Self {
        SessionRequest {
            session: args.session.clone().map(SessionId),
            continue_last: args.continue_last,
            model: args.model.clone(),
            strategy: None,
            agents: args.agents,
            auto_approve: args.yes,
        }
    }
}

/// The database sessions, memory and cached answers are kept in.
pub fn open_store(context: &Context) -> Result<SqliteStore, CliError> {
    Ok(SqliteStore::open(context.paths.database_file())?)
}

/// Opens the session `args` ask for (new, `--session ID` or `-c`) with the configured
/// strategy, model, tools, hooks and permissions; `run` and the terminal UI share it.
pub async fn open_session(context: &Context, args: &RunArgs) -> Result<OpenedSession, CliError> {
    let sqlite = open_store(context)?;
    open_session_with(context, &sqlite, &SessionRequest::from_run_args(args)).await
}

/// Opens the session `request` asks for in `sqlite` (which `serve` opens once for all its
/// sessions), wired as [`open_session`] wires it.
pub async fn open_session_with(
    context: &Context,
    sqlite: &SqliteStore,
    request: &SessionRequest,
) -> Result<OpenedSession, CliError> {
    let config = &context.loaded.config;
    let strategy = request.strategy.unwrap_or(config.agents.default_strategy);
    // The single agent is the `coder` profile (built-in, or as config and agent files set it).
    let profiles = crate::agents::load_profiles(context)?;
    let profile = crate::agents::find_profile(&profiles, AGENT)?.clone();
    let response_cache: Arc<dyn ResponseCache> = Arc::new(sqlite.clone());
    // The store also keeps the long-lived memory the `remember`/`recall` tools and the system
    // prompt use.
    let memory: Arc<dyn MemoryBank> = Arc::new(sqlite.clone());
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let cwd_text = context.cwd.display().to_string();
    let (start, session_model) = if let Some(id) = &request.session {
        let id = id.clone();
        let info = store.session(&id).await?.ok_or_else(|| {
            CliError::usage(
                format!("no session `{id}`"),
                "`code-mesh sessions list` shows the sessions there are",
            )
        })?;
        (SessionStart::Resume(id), Some(info.model))
    } else if request.continue_last {
        let info = store.latest_session(&cwd_text).await?.ok_or_else(|| {
            CliError::usage(
                format!("no earlier session in `{cwd_text}` to continue"),
                "run without -c to start one",
            )
        })?;
        (SessionStart::Resume(info.id), Some(info.model))
    } else {
        (SessionStart::New, None)
    };

    // An explicit --model wins; a continued session keeps its model; else the config's.
    let model_choice = request
        .model
        .clone()
        .or(session_model.filter(|m| !m.is_empty()));
    let model =
        provider_setup::resolve(context, model_choice, Some(response_cache.clone())).await?;
    let window_tokens = model.window_tokens;

    let session_config = SessionConfig {
        provider: model.provider,
        model: model.full_name,
        provider_model: model.provider_model,
        workspace: context.workspace.clone(),
        cwd: context.cwd.clone(),
        allowed_paths: allowed_paths(context),
        max_turns: config.agents.max_turns,
        temperature: config.providers.temperature,
        max_tokens: config.providers.max_tokens,
        auto_approve: request.auto_approve,
        limits: ToolLimits {
            shell_timeout_ms: config.tools.bash_timeout.as_millis(),
            max_output_bytes: config.tools.max_output_bytes,
        },
        system_prompt: code_mesh_core::agent_system_prompt(
            code_mesh_core::base_system_prompt(),
            &profile,
        ),
        instructions: instructions(context),
        sandbox: sandbox_policy(context),
        // A git snapshot before and after each turn, for `code-mesh undo`; a check for files
        // changed behind the agent's back (stamps kept between runs for `run -c`).
        hooks: vec![
            Arc::new(code_mesh_tools::GitSnapshots::new()),
            Arc::new(code_mesh_tools::ExternalChangeWatch::persisting_in(
                context.paths.data_dir.join("file-stamps"),
            )),
        ],
        permissions: permission_settings(context),
        memory: Some(memory.clone()),
        agent: AGENT.to_owned(),
        context: provider_setup::context_settings(context, model.window_tokens, model.tokenizer),
    };
    let mut tool_settings = code_mesh_tools::ToolSettings::from_config(
        &config.tools,
        &context.paths.data_dir,
        &context.cwd,
    );
    tool_settings.memory = Some(memory);
    tool_settings.agent = AGENT.to_owned();
    let mut tools = code_mesh_tools::builtin_tools_with(&tool_settings);
    if let Some(allowed) = &profile.tools {
        let (restricted, missing) = tools.only(allowed);
        if !missing.is_empty() {
            // e.g. `delegate`, which only orchestrated runs have.
            tracing::debug!(
                ?missing,
                "tools of the `{AGENT}` profile this run does not offer"
            );
        }
        tools = restricted;
    }
    let (handle, driver) = if strategy != Strategy::Single {
        // Agents working together: every tool, each agent limited by its profile.
        let every_tool = code_mesh_tools::builtin_tools_with(&tool_settings);
        crate::orchestrated::open(
            context,
            store.clone(),
            every_tool,
            session_config,
            start,
            profiles,
            Some(response_cache),
            crate::orchestrated::RunRequest {
                strategy,
                agents: request.agents,
            },
        )
        .await?
    } else {
        let (handle, driver) = Session::open(store.clone(), tools, session_config, start).await?;
        (handle, tokio::spawn(driver.run()))
    };
    Ok(OpenedSession {
        handle,
        driver,
        window_tokens,
        store,
    })
}

/// First Ctrl-C cancels the turn (the session is saved); a second one quits at once.
fn watch_ctrl_c(ops: OpSender) {
    tokio::spawn(async move {
        let mut presses = 0;
        while tokio::signal::ctrl_c().await.is_ok() {
            presses += 1;
            if presses == 1 {
                eprintln!(
                    "\ncancelling… the session is saved and `code-mesh run -c` continues it (Ctrl-C again to quit at once)"
                );
                let _ = ops.submit(Op::Cancel);
            } else {
                std::process::exit(Exit::Interrupted as i32);
            }
        }
    });
}

async fn ask_user(tool: &str, summary: &str) -> PermissionDecision {
    eprint!("allow `{tool}`: {summary}? [y]es, [a]lways, [N]o: ");
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    match answer {
        Ok(Ok(line)) => match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => PermissionDecision::AllowOnce,
            "a" | "always" => PermissionDecision::AllowAlways,
            _ => PermissionDecision::Deny,
        },
        _ => PermissionDecision::Deny,
    }
}

fn describe_origin(origin: Option<&Origin>) -> String {
    match origin {
        Some(Origin::File { path, line }) => format!("{}:{line}", path.display()),
        Some(Origin::Env { var }) => format!("env {var}"),
        Some(Origin::CommandLine { flag }) => format!("command line {flag}"),
        Some(Origin::Default) | None => "default".into(),
    }
}

/// `tools.allowed_paths`, resolved against the workspace; missing ones are reported.
fn allowed_paths(context: &Context) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for raw in &context.loaded.config.tools.allowed_paths {
        let path = context.workspace.join(raw);
        match path.canonicalize() {
            Ok(path) => paths.push(path),
            Err(err) => eprintln!("warning: ignoring `{raw}` in tools.allowed_paths: {err}"),
        }
    }
    paths
}

/// The user's global AGENTS.md, then the project's files from the root down.
fn instructions(context: &Context) -> Vec<InstructionFile> {
    let names = &context.loaded.config.project.instructions;
    let mut files = Vec::new();
    for name in names {
        let global = context.paths.config_dir.join(name);
        if let Some(file) = code_mesh_core::instructions::read_instruction_file(&global) {
            files.push(file);
        }
    }
    files.extend(code_mesh_core::instructions::discover(
        &context.workspace,
        &context.cwd,
        names,
    ));
    files
}

fn sandbox_mode(arg: SandboxArg) -> SandboxMode {
    match arg {
        SandboxArg::ReadOnly => SandboxMode::ReadOnly,
        SandboxArg::WorkspaceWrite => SandboxMode::WorkspaceWrite,
        SandboxArg::Off => SandboxMode::Off,
    }
}

/// The confinement of the commands the agent runs: `[tools] sandbox`, `network` and
/// `writable_roots` (`~/` expanded, relative paths from the workspace), with the user's
/// secrets and Code Mesh's credential store denied. Warns once when the sandbox cannot work
/// here (each command is then refused with the reason).
fn sandbox_policy(context: &Context) -> SandboxPolicy {
    let tools = &context.loaded.config.tools;
    let home = context
        .env_var("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from);
    let expand = |raw: &str| -> Option<PathBuf> {
        match raw.strip_prefix("~/") {
            Some(rest) => home.as_ref().map(|home| home.join(rest)),
            None if raw == "~" => home.clone(),
            None => Some(context.workspace.join(raw)),
        }
    };
    let mut denied_paths: Vec<PathBuf> = [".ssh", ".gnupg", ".aws"]
        .iter()
        .filter_map(|name| home.as_ref().map(|home| home.join(name)))
        .collect();
    denied_paths.push(
        context
            .paths
            .data_dir
            .join(code_mesh_credentials::CREDENTIALS_FILE),
    );
    denied_paths.push(
        context
            .paths
            .config_dir
            .join(code_mesh_credentials::KEY_FILE),
    );
    if tools.sandbox != SandboxMode::Off {
        let probe = code_mesh_sandbox::probe();
        tracing::debug!(sandbox = %probe, "sandbox probe");
        if let Some(reason) = &probe.unavailable {
            eprintln!(
                "warning: the `{}` sandbox cannot work here ({reason}); commands will be refused. hint: pass --sandbox off to run them unconfined",
                tools.sandbox.as_str()
            );
        }
    }
    SandboxPolicy {
        mode: tools.sandbox,
        network: tools.network,
        writable_roots: tools
            .writable_roots
            .iter()
            .filter_map(|raw| expand(raw))
            .collect(),
        denied_paths,
    }
}

/// `[permissions] rules` with where they were written, the home directory (for `~` and
/// `~/.ssh`), and Code Mesh's credential store files, which the policy denies like `.env`.
///
/// Rules accumulate over the config layers, lowest first. A repository's own `code-mesh.toml`
/// may add `ask` and `deny` rules but not `allow` ones: whoever wrote the repository must not
/// be able to grant the agent what the user did not.
fn permission_settings(context: &Context) -> PermissionSettings {
    let mut rules = Vec::new();
    for layer in context.loaded.permission_rule_layers() {
        let source = describe_origin(Some(&layer.origin));
        for rule in &layer.rules {
            if layer.from_project_file && rule.action == PermissionAction::Allow {
                eprintln!(
                    "warning: ignoring the `allow` rule for `{}`{} in {source}: a repository's own config cannot grant permissions; put it in your global config ({}) or pass --yes",
                    rule.tool,
                    rule.pattern
                        .as_deref()
                        .map(|p| format!(" `{p}`"))
                        .unwrap_or_default(),
                    context.paths.global_config_file().display()
                );
                continue;
            }
            rules.push(ConfiguredRule {
                rule: rule.clone(),
                source: source.clone(),
            });
        }
    }
    PermissionSettings {
        rules,
        home: context.env_var("HOME").map(PathBuf::from),
        protected_paths: vec![
            context
                .paths
                .data_dir
                .join(code_mesh_credentials::CREDENTIALS_FILE),
            context
                .paths
                .config_dir
                .join(code_mesh_credentials::KEY_FILE),
        ],
    }
}
