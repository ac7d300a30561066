//! Loading the five layers from real files in temporary folders.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers panic on I/O failure"
)]

use std::path::{Path, PathBuf};

use code_mesh_config::{
    CliOverride, Config, ConfigError, LoadOptions, LoadedConfig, Origin, Paths, Value, load,
};
use code_mesh_protocol::config::{Duration, Strategy, TokenCount};

/// A home folder (`CODE_MESH_HOME`), a workspace root and the layers to load.
struct Setup {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    overrides: Vec<CliOverride>,
    extra_file: Option<PathBuf>,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        Self {
            dir,
            env: Vec::new(),
            overrides: Vec::new(),
            extra_file: None,
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn global(&self, text: &str) -> PathBuf {
        write(&self.home().join("config.toml"), text)
    }

    fn project(&self, text: &str) -> PathBuf {
        write(&self.root().join("code-mesh.toml"), text)
    }

    fn extra(&mut self, text: &str) -> PathBuf {
        let path = write(&self.dir.path().join("extra.toml"), text);
        self.extra_file = Some(path.clone());
        path
    }

    fn env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_owned(), value.to_owned()));
    }

    fn cli(&mut self, key: &str, value: impl Into<Value>, flag: &str) {
        self.overrides.push(CliOverride::new(key, value, flag));
    }

    fn options(&self) -> LoadOptions {
        LoadOptions {
            paths: Paths::in_home(self.home()),
            workspace_root: Some(self.root()),
            extra_file: self.extra_file.clone(),
            env: self.env.clone(),
            overrides: self.overrides.clone(),
        }
    }

    fn load(&self) -> LoadedConfig {
        match load(&self.options()) {
            Ok(loaded) => loaded,
            Err(error) => panic!("load failed: {error}"),
        }
    }

    fn error(&self) -> ConfigError {
        match load(&self.options()) {
            Ok(loaded) => panic!("expected an error, loaded {:?}", loaded.config),
            Err(error) => error,
        }
    }

    /// The error's one-line message with the temporary folder shown as `[TMP]`.
    fn message(&self) -> String {
        self.redact(&self.error().to_string())
    }

    fn redact(&self, text: &str) -> String {
        text.replace(&self.dir.path().display().to_string(), "[TMP]")
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_owned()
}

fn file(path: &Path, line: usize) -> Origin {
    Origin::File {
        path: path.to_owned(),
        line,
    }
}

fn env(var: &str) -> Origin {
    Origin::Env {
        var: var.to_owned(),
    }
}

mod layers {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn nothing_configured_gives_the_built_in_defaults() {
        let setup = Setup::new();
        let loaded = setup.load();
        assert_eq!(loaded.config, Config::default());
        assert_eq!(loaded.config.agents.max_count, 8);
        assert_eq!(loaded.config.agents.default_strategy, Strategy::Single);
        assert_eq!(loaded.config.agents.timeout, Duration::from_secs(300));
        assert_eq!(
            loaded.config.memory.max_context_size,
            TokenCount::new(100_000)
        );
        assert_eq!(loaded.config.tools.bash_timeout, Duration::from_secs(120));
        assert_eq!(loaded.config.tools.max_output_bytes, 30_000);
        assert_eq!(loaded.origin("agents.max_count"), Some(&Origin::Default));
        assert_eq!(loaded.origin("providers.model"), None, "unset, so no value");
        assert_eq!(loaded.origin("agents.no_such_key"), None);
    }

    #[test]
    fn each_layer_overrides_the_one_below_and_records_its_origin() {
        let mut setup = Setup::new();
        let global = setup.global(
            "[agents]\nmax_count = 2\nmax_turns = 20\nauto_spawn = false\ntimeout = \"10s\"\n\n[providers]\nmodel = \"g/model\"\n",
        );
        let project = setup.project("[agents]\nmax_count = 3\nmax_turns = 30\ntimeout = \"20s\"\n");
        let extra = setup.extra("\n[agents]\nmax_turns = 40\ntimeout = \"30s\"\n");
        setup.env("CODE_MESH_AGENTS__TIMEOUT", "40s");
        setup.env("CODE_MESH_PROVIDERS__MODEL", "env/model");
        setup.cli("providers.model", "cli/model", "--model");

        let loaded = setup.load();
        let agents = &loaded.config.agents;
        assert!(!agents.auto_spawn);
        assert_eq!(agents.max_count, 3);
        assert_eq!(agents.max_turns, 40);
        assert_eq!(agents.timeout, Duration::from_secs(40));
        assert_eq!(loaded.config.providers.model.as_deref(), Some("cli/model"));

        assert_eq!(loaded.origin("agents.auto_spawn"), Some(&file(&global, 4)));
        assert_eq!(loaded.origin("agents.max_count"), Some(&file(&project, 2)));
        assert_eq!(loaded.origin("agents.max_turns"), Some(&file(&extra, 3)));
        assert_eq!(
            loaded.origin("agents.timeout"),
            Some(&env("CODE_MESH_AGENTS__TIMEOUT"))
        );
        assert_eq!(
            loaded.origin("providers.model"),
            Some(&Origin::CommandLine {
                flag: "--model".to_owned()
            })
        );
        assert_eq!(
            loaded.origin("agents.default_strategy"),
            Some(&Origin::Default)
        );
    }

    #[test]
    fn tables_merge_deeply_and_arrays_replace() {
        let setup = Setup::new();
        setup.global(
            "[providers]\nfallback = [\"a\", \"b\"]\n\n[providers.local]\nbase_url = \"http://localhost:1234/v1\"\nheaders = { \"X-Title\" = \"code-mesh\" }\n",
        );
        setup.project(
            "[providers]\nfallback = [\"c\"]\n\n[providers.local]\nmodels = [\"qwen3-coder\"]\nheaders.Other = \"x\"\n",
        );
        let loaded = setup.load();
        let providers = &loaded.config.providers;
        assert_eq!(providers.fallback, ["c"]);
        let local = &providers.named["local"];
        assert_eq!(local.base_url.as_deref(), Some("http://localhost:1234/v1"));
        assert_eq!(local.models, ["qwen3-coder"]);
        assert_eq!(local.headers.len(), 2);
        assert_eq!(local.headers["X-Title"], "code-mesh");
        assert_eq!(local.headers["Other"], "x");
    }

    #[test]
    fn env_values_are_toml_when_they_parse_as_toml_and_strings_otherwise() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_AGENTS__MAX_COUNT", "4");
        setup.env("CODE_MESH_AGENTS__AUTO_SPAWN", "false");
        setup.env("CODE_MESH_AGENTS__DEFAULT_STRATEGY", "mesh");
        setup.env("CODE_MESH_PROVIDERS__DEFAULT", "openai");
        setup.env("CODE_MESH_PROVIDERS__TEMPERATURE", "0.2");
        setup.env(
            "CODE_MESH_PROVIDERS__FALLBACK",
            "[\"anthropic\", \"google\"]",
        );
        setup.env(
            "CODE_MESH_PROVIDERS__OPENROUTER__BASE_URL",
            "https://openrouter.ai/api/v1",
        );
        setup.env(
            "CODE_MESH_PROVIDERS__OPENROUTER__HEADERS",
            "{ \"X-Title\" = \"code-mesh\" }",
        );
        setup.env("CODE_MESH_PROJECT__VERSION", "1.0");
        setup.env("CODE_MESH_MEMORY__MAX_CONTEXT_SIZE", "1.5m");
        setup.env("CODE_MESH_TOOLS__MAX_OUTPUT_BYTES", "1000");
        // Not overrides: no `__` after the prefix.
        setup.env("CODE_MESH_HOME", "/elsewhere");
        setup.env("CODE_MESH_LOG", "debug");

        let loaded = setup.load();
        let config = &loaded.config;
        assert_eq!(config.agents.max_count, 4);
        assert!(!config.agents.auto_spawn);
        assert_eq!(config.agents.default_strategy, Strategy::Mesh);
        assert_eq!(config.providers.default.as_deref(), Some("openai"));
        assert_eq!(config.providers.temperature, Some(0.2));
        assert_eq!(config.providers.fallback, ["anthropic", "google"]);
        let openrouter = &config.providers.named["openrouter"];
        assert_eq!(
            openrouter.base_url.as_deref(),
            Some("https://openrouter.ai/api/v1")
        );
        assert_eq!(openrouter.headers["X-Title"], "code-mesh");
        assert_eq!(config.project.version.as_deref(), Some("1.0"));
        assert_eq!(config.memory.max_context_size, TokenCount::new(1_500_000));
        assert_eq!(config.tools.max_output_bytes, 1000);
        assert_eq!(
            loaded.origin("providers.openrouter.base_url"),
            Some(&env("CODE_MESH_PROVIDERS__OPENROUTER__BASE_URL"))
        );
        assert_eq!(
            loaded.origin("providers.openrouter.headers.X-Title"),
            Some(&env("CODE_MESH_PROVIDERS__OPENROUTER__HEADERS"))
        );
    }

    #[test]
    fn command_line_strings_are_read_like_env_values() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_AGENTS__MAX_COUNT", "4");
        setup.cli("agents.max_count", "6", "--agents");
        setup.cli("agents.default_strategy", "swarm", "--strategy");
        setup.cli("agents.max_turns", 7, "--max-turns");
        setup
            .overrides
            .push(CliOverride::parse("--config", "memory.auto_summarize=false").unwrap());
        let loaded = setup.load();
        assert_eq!(loaded.config.agents.max_count, 6);
        assert_eq!(loaded.config.agents.default_strategy, Strategy::Swarm);
        assert_eq!(loaded.config.agents.max_turns, 7);
        assert!(!loaded.config.memory.auto_summarize);
        assert_eq!(
            loaded.origin("memory.auto_summarize"),
            Some(&Origin::CommandLine {
                flag: "--config".to_owned()
            })
        );
    }

    #[test]
    fn options_from_env_resolve_home_and_the_extra_file() {
        let setup = Setup::new();
        let extra = setup.dir.path().join("ci.toml");
        let options = LoadOptions::from_env(
            vec![
                (
                    "CODE_MESH_HOME".to_owned(),
                    setup.home().display().to_string(),
                ),
                ("CODE_MESH_CONFIG".to_owned(), extra.display().to_string()),
            ],
            Some(setup.root()),
        )
        .unwrap();
        assert_eq!(options.paths, Paths::in_home(setup.home()));
        assert_eq!(options.extra_file, Some(extra));
    }

    #[test]
    fn an_integer_temperature_is_a_number() {
        let setup = Setup::new();
        setup.project("providers.temperature = 1\nproviders.max_tokens = 4096\n");
        let loaded = setup.load();
        assert_eq!(loaded.config.providers.temperature, Some(1.0));
        assert_eq!(loaded.config.providers.max_tokens, Some(4096));
    }

    #[test]
    fn a_command_line_assignment_needs_an_equals_sign() {
        let error = CliOverride::parse("--config", "agents.max_count").unwrap_err();
        assert_eq!(
            error.to_string(),
            "--config: expected KEY=VALUE, e.g. agents.max_count=4, got `agents.max_count`"
        );
    }

    #[test]
    fn an_empty_provider_table_declares_a_provider() {
        let setup = Setup::new();
        setup.project("[providers.lmstudio]\n");
        let loaded = setup.load();
        assert!(loaded.config.providers.named.contains_key("lmstudio"));
    }
}

mod errors {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn unknown_key_names_file_line_and_suggests_the_closest_key() {
        let setup = Setup::new();
        setup.project("[agents]\nmax_count = 2\n\n[providers]\ndefualt = \"openai\"\n");
        let error = setup.error();
        assert_eq!(
            setup.redact(&error.to_string()),
            "[TMP]/repo/code-mesh.toml:5: unknown key `providers.defualt` (did you mean `default`?)"
        );
        assert_eq!(error.key(), Some("providers.defualt"));
    }

    #[test]
    fn an_unknown_scalar_under_providers_hints_at_provider_tables() {
        let setup = Setup::new();
        setup.project("[providers]\nlocal = \"http://localhost:1234/v1\"\n");
        let error = setup.error();
        assert_eq!(
            setup.redact(&error.to_string()),
            "[TMP]/repo/code-mesh.toml:2: unknown key `providers.local`"
        );
        let hint = error.hint().unwrap_or_default();
        assert!(hint.contains("[providers.local]"), "{hint}");
        assert!(hint.contains("default, model, fallback"), "{hint}");
    }

    #[test]
    fn a_typo_in_a_named_provider_table_is_caught() {
        let setup = Setup::new();
        setup.project("[providers.local]\nbase_ur = \"http://localhost:1234/v1\"\n");
        assert_eq!(
            setup.message(),
            "[TMP]/repo/code-mesh.toml:2: unknown key `providers.local.base_ur` (did you mean `base_url`?)"
        );
    }

    #[test]
    fn an_unknown_section_is_caught_with_a_suggestion() {
        let setup = Setup::new();
        setup.global("# settings\n\n[agnets]\nmax_count = 2\n");
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:3: unknown key `agnets` (did you mean `agents`?)"
        );
    }

    #[test]
    fn a_wrong_type_names_file_line_key_and_value() {
        let setup = Setup::new();
        setup.global(
            "# my settings\n\n[project]\nname = \"x\"\n\n[agents]\nmax_count = \"eight\"\n",
        );
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:7: `agents.max_count` must be a positive integer, got \"eight\""
        );
    }

    #[test]
    fn zero_agents_is_refused() {
        let setup = Setup::new();
        setup.project("agents.max_count = 0\n");
        assert_eq!(
            setup.message(),
            "[TMP]/repo/code-mesh.toml:1: `agents.max_count` must be a positive integer, got 0"
        );
    }

    #[test]
    fn a_bad_env_duration_names_the_variable_and_the_accepted_forms() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_AGENTS__TIMEOUT", "soon");
        assert_eq!(
            setup.message(),
            "CODE_MESH_AGENTS__TIMEOUT: `agents.timeout`: invalid duration \"soon\" (use e.g. \"30s\", \"5m\", \"2h\"; units: ms, s, m, h, d)"
        );
    }

    #[test]
    fn a_duration_without_unit_hints_at_seconds() {
        let setup = Setup::new();
        setup.project("[tools]\nbash_timeout = 300\n");
        let error = setup.error();
        assert_eq!(
            setup.redact(&error.to_string()),
            "[TMP]/repo/code-mesh.toml:2: `tools.bash_timeout`: invalid duration 300 (use e.g. \"30s\", \"5m\", \"2h\")"
        );
        assert_eq!(
            error.hint().as_deref(),
            Some("a duration needs a unit: write \"300s\" for 300 seconds")
        );
    }

    #[test]
    fn a_bad_token_count_names_the_accepted_forms() {
        let setup = Setup::new();
        setup.project("[memory]\nmax_context_size = \"lots\"\n");
        assert_eq!(
            setup.message(),
            "[TMP]/repo/code-mesh.toml:2: `memory.max_context_size`: invalid token count \"lots\" (use a whole number such as 100000, or \"100k\", \"1.5m\")"
        );
    }

    #[test]
    fn an_unknown_env_key_is_caught_with_a_suggestion() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_AGENTS__MAX_CUONT", "3");
        assert_eq!(
            setup.message(),
            "CODE_MESH_AGENTS__MAX_CUONT: unknown key `agents.max_cuont` (did you mean `max_count`?)"
        );
        let mut setup = Setup::new();
        setup.env("CODE_MESH_AGENT__MAX_COUNT", "3");
        assert_eq!(
            setup.message(),
            "CODE_MESH_AGENT__MAX_COUNT: unknown key `agent` (did you mean `agents`?)"
        );
    }

    #[test]
    fn a_malformed_env_name_is_refused() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_AGENTS____MAX_COUNT", "3");
        let message = setup.message();
        assert!(
            message.starts_with("CODE_MESH_AGENTS____MAX_COUNT: "),
            "{message}"
        );
    }

    #[test]
    fn a_bad_command_line_value_names_the_flag() {
        let mut setup = Setup::new();
        setup.cli("agents.default_strategy", "pipline", "--strategy");
        assert_eq!(
            setup.message(),
            "--strategy: `agents.default_strategy` must be one of \"single\", \"hierarchical\", \"pipeline\", \"mesh\", \"swarm\", got \"pipline\" (did you mean \"pipeline\"?)"
        );
        let mut setup = Setup::new();
        setup.cli("agents.max_turns", "many", "--max-turns");
        assert_eq!(
            setup.message(),
            "--max-turns: `agents.max_turns` must be a positive integer, got \"many\""
        );
    }

    #[test]
    fn temperature_out_of_range_is_refused() {
        let setup = Setup::new();
        setup.global("[providers]\ntemperature = 3.5\n");
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:2: `providers.temperature` must be a number from 0.0 to 2.0, got 3.5"
        );
    }

    #[test]
    fn max_retries_may_be_zero_but_not_negative_or_huge() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_PROVIDERS__MAX_RETRIES", "0");
        assert_eq!(setup.load().config.providers.max_retries, 0);

        let setup = Setup::new();
        setup.global("[providers]\nmax_retries = 50\n");
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:2: `providers.max_retries` must be an integer from 0 to 10, got 50"
        );
    }

    #[test]
    fn model_info_is_checked_like_the_rest() {
        let setup = Setup::new();
        setup.global("[providers.local.model_info.qwen3]\ncontext = \"128k\"\ninput_price = 0.5\n");
        let info = &setup.load().config.providers.named["local"].model_info["qwen3"];
        assert_eq!(info.context.map(|c| c.get()), Some(128_000));
        assert_eq!(info.input_price, Some(0.5));

        let setup = Setup::new();
        setup.global("[providers.local.model_info.qwen3]\ninput_price = -1\n");
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:2: `providers.local.model_info.qwen3.input_price` must be a number from 0.0 to 1000000.0, got -1"
        );

        let setup = Setup::new();
        setup.global("[providers.local.model_info.qwen3]\ncontxt = 1\n");
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:2: unknown key `providers.local.model_info.qwen3.contxt` (did you mean `context`?)"
        );

        let setup = Setup::new();
        setup.global("[providers.local]\nmodel_info.qwen3 = 1\n");
        assert_eq!(
            setup.message(),
            "[TMP]/home/config.toml:2: `providers.local.model_info.qwen3` must be a table, got 1"
        );
    }

    #[test]
    fn a_string_where_an_array_belongs_hints_at_the_array_form() {
        let mut setup = Setup::new();
        setup.env("CODE_MESH_PROVIDERS__FALLBACK", "anthropic");
        let error = setup.error();
        assert_eq!(
            error.to_string(),
            "CODE_MESH_PROVIDERS__FALLBACK: `providers.fallback` must be an array of strings, got \"anthropic\""
        );
        assert_eq!(
            error.hint().as_deref(),
            Some("write a TOML array: [\"anthropic\"]")
        );
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let setup = Setup::new();
        setup.project("[agents]\nmax_count = 2\ntimeout = 30s\n");
        let message = setup.message();
        assert!(
            message.starts_with("[TMP]/repo/code-mesh.toml:3:11: invalid TOML: "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_duplicate_key_is_a_syntax_error() {
        let setup = Setup::new();
        setup.project("[agents]\nmax_count = 2\nmax_count = 3\n");
        let message = setup.message();
        assert!(
            message.starts_with("[TMP]/repo/code-mesh.toml:3:"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_extra_file_is_an_error_but_missing_global_and_project_files_are_not() {
        let mut setup = Setup::new();
        setup.extra_file = Some(setup.dir.path().join("nope.toml"));
        assert_eq!(
            setup.message(),
            "CODE_MESH_CONFIG: config file [TMP]/nope.toml does not exist"
        );
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let setup = Setup::new();
        std::fs::create_dir(setup.root().join("code-mesh.toml")).unwrap();
        let message = setup.message();
        assert!(
            message.starts_with("cannot read config file [TMP]/repo/code-mesh.toml: "),
            "{message}"
        );
    }

    #[test]
    fn a_table_where_a_value_belongs_is_refused() {
        let setup = Setup::new();
        setup.project("[providers.model]\nname = \"x\"\n");
        assert_eq!(
            setup.message(),
            "[TMP]/repo/code-mesh.toml:1: `providers.model` must be a string, got a table"
        );
    }

    #[test]
    fn the_first_bad_layer_is_reported() {
        let mut setup = Setup::new();
        setup.global("[agents]\nmax_count = -1\n");
        setup.env("CODE_MESH_AGENTS__MAX_COUNT", "4");
        let message = setup.message();
        assert!(
            message.starts_with("[TMP]/home/config.toml:2: "),
            "{message}"
        );
    }
}

mod render {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn render_with_origins_shows_every_leaf_and_where_it_came_from() {
        let mut setup = Setup::new();
        setup.global("[providers]\nmodel = \"openai/gpt-5-mini\"\n\n[providers.local]\nbase_url = \"http://localhost:1234/v1\"\n");
        setup.project("[project]\nname = \"demo\"\n\n[agents]\nmax_count = 4\n");
        setup.env("CODE_MESH_MEMORY__MAX_CONTEXT_SIZE", "200000");
        setup.cli("agents.default_strategy", "hierarchical", "--strategy");
        let loaded = setup.load();
        let expected = r#"project.name = "demo"                                   # [TMP]/repo/code-mesh.toml:2
project.instructions = ["AGENTS.md", "CODE_MESH.md"]    # default
agents.max_count = 4                                    # [TMP]/repo/code-mesh.toml:5
agents.default_strategy = "hierarchical"                # command line --strategy
agents.auto_spawn = true                                # default
agents.timeout = "5m"                                   # default
agents.max_turns = 100                                  # default
agents.pipeline = ["architect", "coder", "tester", "reviewer"]   # default
agents.max_loops = 2                                    # default
agents.mesh = ["coordinator", "coder", "tester", "reviewer"]   # default
agents.mesh_rounds = 8                                  # default
agents.swarm_size = 3                                   # default
agents.swarm_models = []                                # default
agents.swarm_reviewers = 1                              # default
providers.model = "openai/gpt-5-mini"                   # [TMP]/home/config.toml:2
providers.fallback = []                                 # default
providers.max_retries = 3                               # default
providers.cache = false                                 # default
providers.local.base_url = "http://localhost:1234/v1"   # [TMP]/home/config.toml:5
providers.local.models = []                             # default
memory.session_timeout = "1d"                           # default
memory.max_context_size = "200k"                        # env CODE_MESH_MEMORY__MAX_CONTEXT_SIZE
memory.auto_summarize = true                            # default
memory.persistence = "sqlite"                           # default
tools.git = true                                        # default
tools.package_manager = "auto"                          # default
tools.test_runner = "auto"                              # default
tools.formatter = "auto"                                # default
tools.linter = "auto"                                   # default
tools.allowed_paths = []                                # default
tools.bash_timeout = "2m"                               # default
tools.max_output_bytes = 30000                          # default
tools.sandbox = "workspace-write"                       # default
tools.network = false                                   # default
tools.writable_roots = ["~/.cargo/registry", "~/.cargo/git", "~/.cache", "~/.npm"]   # default
tools.web_allow = []                                    # default
permissions.rules = []                                  # default
"#;
        assert_eq!(setup.redact(&loaded.render_with_origins()), expected);
    }

    #[test]
    fn render_is_toml_that_loads_back_to_the_same_config() {
        let mut setup = Setup::new();
        setup.project(
            "[providers]\ntemperature = 0.7\nfallback = [\"a\"]\n\n[providers.local]\nmodels = [\"m\"]\nheaders = { \"X-Title\" = \"t\" }\n\n[memory]\nmax_context_size = 123456\n",
        );
        setup.cli("agents.timeout", "90s", "--timeout");
        let loaded = setup.load();
        let rendered = loaded.render();
        assert!(rendered.contains("temperature = 0.7\n"), "{rendered}");

        let again = Setup::new();
        again.project(&rendered);
        assert_eq!(again.load().config, loaded.config);
    }
}

mod permissions {
    use super::*;
    use code_mesh_protocol::config::{PermissionAction, PermissionRule};
    use pretty_assertions::assert_eq;

    #[test]
    fn rules_accumulate_across_layers_and_remember_the_project_file() {
        let setup = Setup::new();
        let global = setup.global(
            "[permissions]\nrules = [{ tool = \"bash\", pattern = \"git push*\", action = \"deny\" }]\n",
        );
        let project =
            setup.project("[permissions]\nrules = [{ tool = \"bash\", action = \"allow\" }]\n");
        let loaded = setup.load();
        let tools: Vec<_> = loaded
            .config
            .permissions
            .rules
            .iter()
            .map(|r| (r.tool.as_str(), r.action))
            .collect();
        assert_eq!(
            tools,
            [
                ("bash", PermissionAction::Deny),
                ("bash", PermissionAction::Allow)
            ],
            "the project's rules come after the global ones instead of replacing them"
        );
        let layers = loaded.permission_rule_layers();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].origin, file(&global, 2));
        assert!(!layers[0].from_project_file);
        assert_eq!(layers[1].origin, file(&project, 2));
        assert!(layers[1].from_project_file);
    }

    #[test]
    fn rules_load_in_order_from_inline_tables_and_arrays_of_tables() {
        let setup = Setup::new();
        let path = setup.project(
            "[permissions]\nrules = [\n  { tool = \"bash\", pattern = \"git push*\", action = \"deny\" },\n  { tool = \"*\", action = \"ask\" },\n]\n",
        );
        let loaded = setup.load();
        assert_eq!(
            loaded.config.permissions.rules,
            [
                PermissionRule {
                    tool: "bash".into(),
                    pattern: Some("git push*".into()),
                    action: PermissionAction::Deny,
                },
                PermissionRule {
                    tool: "*".into(),
                    pattern: None,
                    action: PermissionAction::Ask,
                },
            ]
        );
        assert_eq!(loaded.origin("permissions.rules"), Some(&file(&path, 2)));

        let tables = Setup::new();
        tables.global(
            "[[permissions.rules]]\ntool = \"write\"\npattern = \"src/**\"\naction = \"allow\"\n",
        );
        assert_eq!(
            tables.load().config.permissions.rules,
            [PermissionRule {
                tool: "write".into(),
                pattern: Some("src/**".into()),
                action: PermissionAction::Allow,
            }]
        );
    }

    #[test]
    fn an_unknown_action_names_file_line_and_key() {
        let setup = Setup::new();
        setup.project(
            "# rules\n[permissions]\nrules = [{ tool = \"bash\", action = \"allow\" }, { tool = \"bash\", pattern = \"rm*\", action = \"forbid\" }]\n",
        );
        assert_eq!(
            setup.message(),
            "[TMP]/repo/code-mesh.toml:3: `permissions.rules[1].action` must be one of \"allow\", \"ask\", \"deny\", got \"forbid\""
        );
    }

    #[test]
    fn malformed_rules_are_refused_with_the_key_at_fault() {
        let cases = [
            (
                "rules = [{ tool = \"bash\", actoin = \"deny\" }]",
                "`permissions.rules[0].actoin` (did you mean `action`?)",
            ),
            (
                "rules = [{ tool = \"bash\" }]",
                "`permissions.rules[0]` has no `action`",
            ),
            (
                "rules = [{ tool = \"\", action = \"deny\" }]",
                "`permissions.rules[0].tool` must be a non-empty string, got \"\"",
            ),
            (
                "rules = [{ tool = \"bash\", pattern = 3, action = \"deny\" }]",
                "`permissions.rules[0].pattern` must be a non-empty string, got 3",
            ),
            (
                "rules = [\"bash\"]",
                "`permissions.rules[0]` must be a table",
            ),
            (
                "rules = \"deny\"",
                "`permissions.rules` must be an array of rules",
            ),
            (
                "rule = []",
                "unknown key `permissions.rule` (did you mean `rules`?)",
            ),
        ];
        for (line, expected) in cases {
            let setup = Setup::new();
            setup.project(&format!("[permissions]\n{line}\n"));
            let message = setup.message();
            assert!(
                message.starts_with("[TMP]/repo/code-mesh.toml:2: "),
                "{line}: {message}"
            );
            assert!(message.contains(expected), "{line}: {message}");
        }
    }

    #[test]
    fn rules_can_come_from_the_environment() {
        let mut setup = Setup::new();
        setup.env(
            "CODE_MESH_PERMISSIONS__RULES",
            "[{ tool = \"bash\", pattern = \"curl*\", action = \"deny\" }]",
        );
        let loaded = setup.load();
        assert_eq!(loaded.config.permissions.rules.len(), 1);
        assert_eq!(
            loaded.origin("permissions.rules"),
            Some(&env("CODE_MESH_PERMISSIONS__RULES"))
        );
    }
}
