//! The commented starter file written by `code-mesh config init`.

/// A commented config file showing every key with its built-in default (or an example for
/// keys without one). Loading it unchanged gives the built-in defaults.
pub fn default_config_file_text() -> String {
    STARTER.to_owned()
}

const STARTER: &str = r#"# Code Mesh configuration.
#
# Layers, lowest to highest precedence: built-in defaults, the global file
# (<config dir>/config.toml), the project's code-mesh.toml, the file named by
# CODE_MESH_CONFIG, environment variables, and command-line flags.
# Any key can be set from the environment as CODE_MESH_<SECTION>__<KEY>, for example
# CODE_MESH_PROVIDERS__MODEL=openai/gpt-5-mini or CODE_MESH_AGENTS__MAX_COUNT=4.
# `code-mesh config show --origin` prints each effective value and where it was set.
#
# Every setting below is commented out and shows its built-in default (or an example).
# Durations are written like "1500ms", "30s", "5m", "24h", "2d";
# token counts like 100000, "100k", "1.5m".

[project]
# Project name, shown to the model (detected when unset).
# name = "my-project"
# Project version, shown to the model.
# version = "1.0.0"
# Main programming language (detected when unset).
# language = "rust"
# Main framework.
# framework = "axum"
# Instruction files read from the repository root down to the working directory.
# instructions = ["AGENTS.md", "CODE_MESH.md"]

[agents]
# Most agents running at once.
# max_count = 8
# How agents cooperate when no strategy is given:
# "single", "hierarchical", "pipeline", "mesh" or "swarm".
# default_strategy = "single"
# Let the coordinator spawn specialist agents on its own.
# auto_spawn = true
# Longest time one agent may work on a task.
# timeout = "5m"
# Most model requests allowed for one user turn.
# max_turns = 100
# The pipeline strategy's stages, in order.
# pipeline = ["architect", "coder", "tester", "reviewer"]
# How many times a pipeline stage may send the work back to an earlier one.
# max_loops = 2
# The agents of a mesh run; the first declares the run done.
# mesh = ["coordinator", "coder", "tester", "reviewer"]
# Most turns each mesh agent takes.
# mesh_rounds = 8
# Candidates a swarm tries when --agents is not given.
# swarm_size = 3
# Models swarm candidates take in turn; empty uses the run's model for all.
# swarm_models = []
# Reviewer agents voting among a swarm's candidates.
# swarm_reviewers = 1

# Agent profiles: change a built-in agent (coordinator, architect, coder, analyst, tester,
# documenter, security, devops, designer, reviewer) or add one; only the keys given change.
# `code-mesh agents list` shows them. Files `.code-mesh/agents/NAME.md` in the repository
# override these tables.
# [agents.profiles.reviewer]
# description = "Reviews changes; changes nothing."
# prompt = "You are the Reviewer. ..."
# Tools it may use, by name; ["*"] for every tool.
# tools = ["read", "grep", "glob", "git_diff"]
# model = "anthropic/claude-sonnet-4-5"
# temperature = 0.2
# max_turns = 30

[providers]
# Provider used when a model has no "provider/" prefix, or no model is given.
# default = "openai"
# Default model, as "provider/model".
# model = "openai/gpt-5-mini"
# Providers to try, in order, when the chosen one fails.
# fallback = ["anthropic"]
# Most tokens the model may generate in one response (the provider's default when unset).
# max_tokens = 4096
# Sampling temperature from 0.0 to 2.0 (the provider's default when unset).
# temperature = 0.7
# Times a failed request (rate limit, server error, dropped connection) is sent again,
# waiting longer each time, before the next fallback provider is tried; 0 disables retries.
# max_retries = 3
# Answer identical requests made with temperature = 0 from a local cache, without a
# network call. Other temperatures are never cached: their answers are meant to vary.
# cache = false
# A model catalogue file (JSON, keyed "provider/model") merged over the built-in one,
# to refresh context limits and prices; relative to this file.
# catalogue = "models.json"

# A named provider: any OpenAI-compatible server (LM Studio, vLLM, OpenRouter, ...).
# Use it as `--model local/qwen3-coder`.
# [providers.local]
# base_url = "http://localhost:1234/v1"
# Environment variable holding the API key (none needed for local servers).
# api_key_env = "LOCAL_API_KEY"
# Models offered; the first is this provider's default model.
# models = ["qwen3-coder"]
# Wire format: "chat" (OpenAI Chat Completions), "responses", "anthropic", "gemini" or
# "ollama"; unset, a built-in provider's own wire, else "chat".
# wire = "chat"
# Extra HTTP headers sent with every request.
# headers = { "X-Title" = "code-mesh" }
# Extended thinking budget in tokens (Anthropic wire); unset leaves thinking off.
# thinking_budget = 4096
# Context window, output limit and prices (US dollars per million tokens) of a model,
# over the built-in catalogue; used for costs and by `code-mesh models`.
# [providers.local.model_info.qwen3-coder]
# context = "256k"
# max_output = "64k"
# input_price = 0.0
# output_price = 0.0
# cache_read_price = 0.0
# cache_write_price = 0.0

[memory]
# Idle time after which a session is considered over.
# session_timeout = "1d"
# Largest context sent to the model, in tokens (the model's own window, from the model
# catalogue, applies when smaller). Before a request would exceed it, old tool outputs are
# replaced by a short marker, then older history is summarised.
# max_context_size = "100k"
# Summarize older history when pruning old tool outputs is not enough (`/compact` asks for a
# summary at any time). With false, a conversation that no longer fits ends the turn with a
# `context_overflow` error.
# auto_summarize = true
# Where sessions and memory are kept: "sqlite".
# persistence = "sqlite"

[tools]
# Let agents use git.
# git = true
# Package manager, test runner, formatter and linter to use, or "auto" to detect them.
# package_manager = "auto"
# test_runner = "auto"
# formatter = "auto"
# linter = "auto"
# Directories outside the workspace that file tools may access.
# allowed_paths = []
# Default timeout of a shell command.
# bash_timeout = "2m"
# Most bytes of tool output returned to the model.
# max_output_bytes = 30000
# How commands the agent runs are confined: "workspace-write" (write only the workspace,
# temp and writable_roots), "read-only" or "off".
# sandbox = "workspace-write"
# Let commands open network sockets (Unix sockets are always allowed).
# network = false
# Directories commands may write besides the workspace and temp, e.g. caches.
# writable_roots = ["~/.cargo/registry", "~/.cargo/git", "~/.cache", "~/.npm"]
# Hosts web_fetch may fetch from: "docs.rs" is that host, "*.python.org" its subdomains.
# Empty: any host, each fetch asking first. Fetching also needs `network = true`, unless
# the sandbox is "off".
# web_allow = []

[permissions]
# Rules of allow, ask or deny, checked after the built-in defaults (reads inside the
# workspace run; writes and commands ask unless --yes; secrets such as .env files, private
# keys and ~/.ssh are denied). The last matching rule wins. `tool` is a tool name or "*";
# `pattern` is a glob on paths for file tools ("src/**", "*.pem"), a word prefix for shell
# commands ("git push*" matches `git push` with any arguments), absent for every call.
# Each part of a compound command (pipes, &&, ;, subshells, $(...)) must pass on its own.
# rules = [{ tool = "bash", pattern = "git push*", action = "deny" }]
"#;
