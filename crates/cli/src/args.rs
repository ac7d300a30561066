//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;

/// Code Mesh: a multi-agent AI coding assistant.
#[derive(Debug, Parser)]
#[command(
    name = "code-mesh",
    version,
    about,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub tui: TuiArgs,
}

/// Without a subcommand: the terminal UI, with these options meaning what they mean for `run`.
#[derive(Debug, Args, Default)]
pub struct TuiArgs {
    /// A first task, sent as soon as the terminal UI opens.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// The model, as PROVIDER/MODEL (e.g. `openai/gpt-5-mini`, `ollama/qwen3-coder`).
    #[arg(short, long, value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
    /// How agents work together (default: `[agents] default_strategy`).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Approve file writes and commands that would otherwise ask.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Continue the last session of this directory, its conversation shown.
    #[arg(short = 'c', long = "continue", conflicts_with = "session")]
    pub continue_last: bool,
    /// Continue the session with this id, its conversation shown.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

impl TuiArgs {
    /// Whether any of them was given.
    pub fn is_set(&self) -> bool {
        !self.prompt.is_empty()
            || self.model.is_some()
            || self.strategy.is_some()
            || self.yes
            || self.continue_last
            || self.session.is_some()
    }
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Work in DIR instead of the current directory.
    #[arg(
        short = 'C',
        long = "cwd",
        value_name = "DIR",
        global = true,
        display_order = 900
    )]
    pub cwd: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a task non-interactively: assistant text on stdout, progress on stderr.
    #[command(after_help = EXIT_CODES_HELP)]
    Run(RunArgs),
    /// List, show and inspect stored sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Show the effective configuration and where each value comes from.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// List the models you can use, with context window, output limit and prices.
    Models {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// List every model of the catalogue, not only those of providers with a key set.
        #[arg(long)]
        all: bool,
    },
    /// Store, list and remove provider API keys (kept encrypted; keys in the environment win).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Revert the agent's last turn in this directory's latest session (only the files that
    /// turn changed and nobody changed since); run it again to go one more turn back.
    Undo(UndoArgs),
    /// List, search, add and forget long-lived memory: project facts, global preferences,
    /// agent notes and the lessons learned from earlier tasks.
    Memory {
        #[command(subcommand)]
        command: MemoryCommand,
    },
    /// List and show the agent profiles: the built-in specialists, `[agents.profiles.NAME]`
    /// tables and `.code-mesh/agents/NAME.md` files.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Serve the HTTP API and the web page for this workspace's sessions (127.0.0.1:4096 by
    /// default; every API request needs the token, made and stored on the first start).
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
}

const SERVE_HELP: &str = "\
The token:
  The first start makes a random token, stores it encrypted with the API keys, and prints the
  page's address with it once (http://127.0.0.1:4096/#token=…). Later starts reuse it;
  `code-mesh serve --print-token` prints it, `--new-token` replaces it. `--token` (or
  CODE_MESH_SERVER_TOKEN) uses another token for this run only.

The API:
  /openapi.json describes every route; /api/health needs no token.

Security:
  Whoever has the token can run commands in this workspace as you (as `run` would, asking
  for permission unless --yes). Keep it on 127.0.0.1; --allow-remote listens elsewhere.";

/// `code-mesh serve`: where to listen, the token, and the defaults of the sessions it opens.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port to listen on; 0 picks a free one (the address is printed).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub port: u16,
    /// The address to listen on: a loopback address, or any other with --allow-remote.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: String,
    /// Allow listening on an address other machines can reach.
    #[arg(long)]
    pub allow_remote: bool,
    /// Require this token instead of the stored one (default: `CODE_MESH_SERVER_TOKEN`, else
    /// the stored one).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A web origin allowed to call the API from its pages (e.g. `http://localhost:5173`);
    /// repeatable. None: no cross-origin calls.
    #[arg(long = "cors-origin", value_name = "URL")]
    pub cors_origins: Vec<String>,
    /// Print the stored token on standard output (making one when there is none) and exit.
    #[arg(long, conflicts_with_all = ["token", "new_token"])]
    pub print_token: bool,
    /// Replace the stored token with a new one (the old one stops working) before serving.
    #[arg(long, conflicts_with = "token")]
    pub new_token: bool,
    /// The model of new sessions, as PROVIDER/MODEL (a request may name another).
    #[arg(short, long, value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
    /// How agents work together in new sessions (default: `[agents] default_strategy`; a
    /// request may name another).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Approve file writes and commands that would otherwise ask the API client.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Confinement of commands the agents run.
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxArg>,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// One line per profile: name, model, tools, origin and description.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one profile, including its full prompt and tools.
    Show {
        /// The profile's name, e.g. `reviewer`.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Undo a turn of this session instead of the latest one of this directory.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store an API key for PROVIDER: read from stdin when it is piped, else asked for without
    /// echo.
    Login {
        /// The provider, e.g. `openai`, `anthropic`, `google` or one of `[providers.NAME]`.
        provider: String,
    },
    /// List the API keys in use, masked, and where each comes from.
    List,
    /// Remove the stored key of PROVIDER, or with --all every stored key.
    Logout {
        /// The provider whose stored key to remove.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        provider: Option<String>,
        /// Remove every stored key and the key that encrypts them.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The task. Read from standard input when absent and stdin is not a terminal.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// The model, as PROVIDER/MODEL (e.g. `openai/gpt-5-mini`, `ollama/qwen3-coder`).
    #[arg(short, long, value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
    /// How agents work together (default: `[agents] default_strategy`).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Candidates a swarm tries (default: `[agents] swarm_size`).
    #[arg(long, value_name = "N")]
    pub agents: Option<u32>,
    /// Continue the last session of this directory.
    #[arg(short = 'c', long = "continue", conflicts_with = "session")]
    pub continue_last: bool,
    /// Continue the session with this id.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Model requests allowed before the turn stops.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_turns: Option<u32>,
    /// Approve file writes and commands that would otherwise ask.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Confinement of commands the agent runs.
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxArg>,
    /// Print every engine event as one JSON line on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Single,
    Hierarchical,
    Pipeline,
    Mesh,
    Swarm,
}

impl StrategyArg {
    pub fn name(self) -> &'static str {
        match self {
            StrategyArg::Single => "single",
            StrategyArg::Hierarchical => "hierarchical",
            StrategyArg::Pipeline => "pipeline",
            StrategyArg::Mesh => "mesh",
            StrategyArg::Swarm => "swarm",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SandboxArg {
    ReadOnly,
    WorkspaceWrite,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recent first.
    List {
        /// How many to list.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one session's conversation, or its permission decisions (`--audit`).
    Show {
        /// The session id (see `code-mesh sessions list`).
        id: String,
        /// Print the session and its messages (or, with --audit, the decisions) as JSON.
        #[arg(long)]
        json: bool,
        /// Print the audit log instead: every permission decision in order, with its time,
        /// tool, target, outcome and who or which rule decided.
        #[arg(long)]
        audit: bool,
    },
    /// Continue a session with a new task (as `run --session ID PROMPT`); without a prompt,
    /// print the end of its conversation and the command that continues it.
    #[command(
        after_help = EXIT_CODES_HELP,
        mut_arg("prompt", |arg| arg.help("The next task; without one, the end of the conversation is shown")),
        mut_arg("session", |arg| arg.hide(true)),
        mut_arg("continue_last", |arg| arg.hide(true))
    )]
    Resume(ResumeArgs),
    /// Start a new session from a copy of another's conversation, up to message SEQ.
    Fork {
        /// The session to copy (see `code-mesh sessions list`).
        id: String,
        /// The last message to copy (the numbers of `sessions show`); all when absent.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
    },
    /// Write a session out: JSON (its events, for `sessions import`) or a Markdown transcript.
    Export {
        /// The session id.
        id: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Create a new session from a JSON export (`-` reads standard input).
    Import {
        /// The file written by `sessions export --format json`.
        file: PathBuf,
    },
    /// Delete a session with its sub-agents' sessions; forks of it are kept.
    Delete {
        /// The session id.
        id: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Rebuild sessions from their events alone and check they equal what is stored; exits
    /// with 1 when one differs.
    Replay {
        /// The session to check.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Check every session.
        #[arg(long)]
        all: bool,
    },
}

/// `sessions resume`: the session, then everything `run` takes.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session to continue.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub run: RunArgs,
}

/// What `sessions export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The session and its events, versioned; `sessions import` reads it back.
    Json,
    /// A readable transcript.
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration.
    Show {
        /// Say where each value comes from (default, file and line, env var, flag).
        #[arg(long)]
        origin: bool,
    },
    /// Print where config and data files are.
    Path,
    /// Write a commented starter config file (global unless --project).
    Init {
        /// Write `code-mesh.toml` at the workspace root instead.
        #[arg(long)]
        project: bool,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List memory entries of this repository (and global ones), newest first.
    List {
        /// Only this scope.
        #[arg(long, value_enum)]
        scope: Option<MemoryScopeArg>,
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<MemoryKindArg>,
        /// Entries of every repository, not only this one.
        #[arg(long)]
        all_projects: bool,
        /// How many to list.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Search memory of this repository (and global memory) by words, best match first.
    Search {
        /// The words to look for.
        #[arg(required = true, value_name = "QUERY")]
        query: Vec<String>,
        /// Only this scope.
        #[arg(long, value_enum)]
        scope: Option<MemoryScopeArg>,
        /// How many to show.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Save a note: a fact about this repository or a preference of yours.
    Add {
        /// The note.
        #[arg(required = true, value_name = "TEXT")]
        text: Vec<String>,
        /// `project` (this repository, the default) or `global` (every project).
        #[arg(long, value_enum, default_value_t = AddScopeArg::Project)]
        scope: AddScopeArg,
        /// `fact` (the default) or `preference`.
        #[arg(long, value_enum, default_value_t = AddKindArg::Fact)]
        kind: AddKindArg,
        /// Forget the note after this long, e.g. `30d`, `12h`, `2w`.
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
    },
    /// Remove an entry by its id (see `code-mesh memory list`).
    Forget {
        /// The entry's id.
        id: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MemoryScopeArg {
    Project,
    Global,
    Agent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MemoryKindArg {
    Fact,
    Preference,
    Lesson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AddScopeArg {
    Project,
    Global,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AddKindArg {
    Fact,
    Preference,
}
