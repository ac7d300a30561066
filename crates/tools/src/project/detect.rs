//! Finding the project a directory belongs to and the command that tests, builds, lints or
//! formats it.
//!
//! The project is the nearest directory, from the start directory up to the workspace root,
//! holding a marker file. In one directory the markers are tried in this order: `Cargo.toml`
//! (cargo), `go.mod` (go), `package.json` (node), `pyproject.toml` / `setup.cfg` / `setup.py` /
//! `requirements*.txt` / `pytest.ini` / `tox.ini` (Python), `Makefile` (make). A Makefile wins
//! only when no language marker is there, since its targets usually wrap the language's tools.
//!
//! Commands, per ecosystem (test / build / lint / format):
//! - cargo: `cargo test --no-fail-fast` / `cargo build` / `cargo clippy --all-targets` /
//!   `cargo fmt --all`;
//! - go: `go test -v ./...` / `go build ./...` / `golangci-lint run` when it is configured, else
//!   `go vet ./...` / `gofmt -l -w .`;
//! - node: the `test`, `build`, `lint` and `format` (or `fmt`) scripts of package.json, run with
//!   the package manager its lock file names (`pnpm-lock.yaml` → pnpm, `yarn.lock` → yarn,
//!   `bun.lock[b]` → bun, else npm; the `packageManager` field first); without a `test` script
//!   jest or vitest when they are dependencies, else node's own `node --test`; without a `lint`
//!   script eslint when it is a dependency, else `tsc --noEmit` when there is a tsconfig.json;
//!   without a `format` script prettier when it is a dependency;
//! - Python: pytest, ruff or flake8, ruff format or black, run through the manager its lock file
//!   names (`uv.lock` → `uv run`, `poetry.lock` → `poetry run`, `pdm.lock` → `pdm run`, else
//!   `python3 -m`); build is `uv build` / `poetry build` / `pdm build`, and with pip a
//!   byte-compilation of the sources (`compileall`), which reports syntax errors;
//! - make: the `test` (or `check`), `build` (or plain `make`), `lint` and `format` (or `fmt`)
//!   targets.
//!
//! `[tools] test_runner`, `linter` and `formatter`, when not "auto", are the commands run
//! instead; `{filter}` and `{path}` in them are replaced by the call's arguments (quoted), which
//! are otherwise appended. `[tools] package_manager` names the node or Python manager to use.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// What to do with the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Test,
    Build,
    Lint,
    Format,
}

impl Action {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Action::Test => "tests",
            Action::Build => "build",
            Action::Lint => "linter",
            Action::Format => "formatter",
        }
    }
}

/// `[tools]` settings of the project tools: "auto" or an explicit command / manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectSettings {
    /// `npm`, `pnpm`, `yarn`, `bun`, `uv`, `poetry`, `pdm` or `pip`; "auto" reads lock files.
    pub package_manager: String,
    /// The command running the tests; "auto" detects it.
    pub test_runner: String,
    /// The command formatting the code; "auto" detects it.
    pub formatter: String,
    /// The command linting the code; "auto" detects it.
    pub linter: String,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            package_manager: "auto".into(),
            test_runner: "auto".into(),
            formatter: "auto".into(),
            linter: "auto".into(),
        }
    }
}

/// The command to run, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The shell command line.
    pub(crate) command: String,
    /// The directory it runs in (the project root).
    pub(crate) dir: PathBuf,
    /// "cargo", "npm", "pytest (uv)", "make", "config", … for the summary line.
    pub(crate) ecosystem: String,
}

/// What the call asked for besides the action.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Request<'a> {
    /// Only tests whose name matches.
    pub(crate) filter: Option<&'a str>,
    /// A file or directory (absolute, inside the workspace) to test.
    pub(crate) path: Option<&'a Path>,
}

/// The ecosystem found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ecosystem {
    Cargo,
    Go,
    Node,
    Python,
    Make,
}

const MARKERS: &str = "Cargo.toml, go.mod, package.json, pyproject.toml, setup.cfg, setup.py, \
                       requirements*.txt, pytest.ini, tox.ini or Makefile";

/// The ecosystem of `dir` alone, if it has a marker.
fn ecosystem_of(dir: &Path) -> Option<Ecosystem> {
    let has = |name: &str| dir.join(name).is_file();
    if has("Cargo.toml") {
        return Some(Ecosystem::Cargo);
    }
    if has("go.mod") {
        return Some(Ecosystem::Go);
    }
    if has("package.json") {
        return Some(Ecosystem::Node);
    }
    let python = [
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "pytest.ini",
        "tox.ini",
    ]
    .iter()
    .any(|name| has(name))
        || fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("requirements") && name.ends_with(".txt")
            })
        });
    if python {
        return Some(Ecosystem::Python);
    }
    if has("Makefile") || has("makefile") || has("GNUmakefile") {
        return Some(Ecosystem::Make);
    }
    None
}

/// The nearest project directory from `start` up to `workspace`.
fn find_project(start: &Path, workspace: &Path) -> Option<(PathBuf, Ecosystem)> {
    let start = if start.is_file() {
        start.parent()?
    } else {
        start
    };
    start
        .ancestors()
        .take_while(|dir| dir.starts_with(workspace))
        .find_map(|dir| ecosystem_of(dir).map(|ecosystem| (dir.to_path_buf(), ecosystem)))
}

/// `text` quoted for `bash -c` when it needs it.
pub(crate) fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command for `action` in the project around `start`.
pub(crate) fn plan(
    action: Action,
    start: &Path,
    workspace: &Path,
    settings: &ProjectSettings,
    request: Request<'_>,
) -> Result<Plan, String> {
    let found = find_project(start, workspace);
    let explicit = match action {
        Action::Test => Some(&settings.test_runner),
        Action::Lint => Some(&settings.linter),
        Action::Format => Some(&settings.formatter),
        Action::Build => None,
    }
    .filter(|command| !command.trim().is_empty() && command.trim() != "auto");
    if let Some(command) = explicit {
        let dir = found.map_or_else(|| start.to_path_buf(), |(dir, _)| dir);
        let path = request.path.map(|path| relative(path, &dir));
        return Ok(Plan {
            command: fill_placeholders(command.trim(), request.filter, path.as_deref()),
            dir,
            ecosystem: "config".into(),
        });
    }
    let Some((dir, ecosystem)) = found else {
        return Err(format!(
            "no project found in `{}` or above it up to the workspace root: none of {MARKERS} \
             is there. Run the {} with `bash`, or set `[tools] {}` in the config",
            start.display(),
            action.noun(),
            match action {
                Action::Test => "test_runner",
                Action::Lint => "linter",
                Action::Format => "formatter",
                Action::Build => "test_runner",
            }
        ));
    };
    let path = request.path.map(|path| relative(path, &dir));
    let project = Project {
        dir: &dir,
        path: path.as_deref(),
        filter: request.filter,
        settings,
    };
    let (command, label) = match ecosystem {
        Ecosystem::Cargo => project.cargo(action, request.path)?,
        Ecosystem::Go => project.go(action)?,
        Ecosystem::Node => project.node(action)?,
        Ecosystem::Python => project.python(action)?,
        Ecosystem::Make => project.make(action)?,
    };
    Ok(Plan {
        command,
        dir,
        ecosystem: label,
    })
}

/// `path` relative to `dir` (`.` for the directory itself), or as it is when outside it.
fn relative(path: &Path, dir: &Path) -> String {
    match path.strip_prefix(dir) {
        Ok(rest) if rest.as_os_str().is_empty() => ".".into(),
        Ok(rest) => rest.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

fn fill_placeholders(command: &str, filter: Option<&str>, path: Option<&str>) -> String {
    let mut command = command.to_string();
    for (placeholder, value) in [("{path}", path), ("{filter}", filter)] {
        if command.contains(placeholder) {
            command = command.replace(placeholder, &value.map(shell_quote).unwrap_or_default());
        } else if let Some(value) = value {
            command.push(' ');
            command.push_str(&shell_quote(value));
        }
    }
    command
}

struct Project<'a> {
    dir: &'a Path,
    /// The requested path relative to the project directory.
    path: Option<&'a str>,
    filter: Option<&'a str>,
    settings: &'a ProjectSettings,
}

type Command = (String, String);

impl Project<'_> {
    fn has(&self, name: &str) -> bool {
        self.dir.join(name).is_file()
    }

    fn no_filter(&self, tool: &str) -> Result<(), String> {
        match self.filter {
            Some(_) => Err(format!(
                "`filter` cannot be passed to {tool}; drop it to run every test, or run the \
                 test command with `bash`"
            )),
            None => Ok(()),
        }
    }

    fn cargo(&self, action: Action, path: Option<&Path>) -> Result<Command, String> {
        let command = match action {
            Action::Test => {
                let mut command = "cargo test --no-fail-fast --color never".to_string();
                // A file under `tests/` is an integration test target of its own.
                if let Some(target) = path
                    .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
                    .filter(|path| path.parent().is_some_and(|p| p == self.dir.join("tests")))
                    .and_then(|path| path.file_stem())
                {
                    command.push_str(" --test ");
                    command.push_str(&shell_quote(&target.to_string_lossy()));
                }
                if let Some(filter) = self.filter {
                    command.push(' ');
                    command.push_str(&shell_quote(filter));
                }
                command
            }
            Action::Build => "cargo build --color never".into(),
            Action::Lint => "cargo clippy --all-targets --color never".into(),
            Action::Format => "cargo fmt --all".into(),
        };
        Ok((command, "cargo".into()))
    }

    fn go(&self, action: Action) -> Result<Command, String> {
        let packages = match self.path {
            None | Some(".") => "./...".to_string(),
            Some(path) if path.ends_with(".go") => {
                let dir = Path::new(path)
                    .parent()
                    .map(|dir| dir.to_string_lossy().into_owned())
                    .filter(|dir| !dir.is_empty())
                    .unwrap_or_else(|| ".".into());
                shell_quote(&format!("./{dir}"))
            }
            Some(path) => shell_quote(&format!("./{path}/...")),
        };
        let command = match action {
            Action::Test => {
                let mut command = format!("go test -v {packages}");
                if let Some(filter) = self.filter {
                    command.push_str(" -run ");
                    command.push_str(&shell_quote(filter));
                }
                command
            }
            Action::Build => format!("go build {packages}"),
            Action::Lint => {
                let configured = [".golangci.yml", ".golangci.yaml", ".golangci.toml"]
                    .iter()
                    .any(|name| self.has(name));
                if configured {
                    "golangci-lint run".into()
                } else {
                    format!("go vet {packages}")
                }
            }
            Action::Format => "gofmt -l -w .".into(),
        };
        Ok((command, "go".into()))
    }

    fn node(&self, action: Action) -> Result<Command, String> {
        let text = fs::read_to_string(self.dir.join("package.json"))
            .map_err(|error| format!("cannot read package.json: {error}"))?;
        let package: Value = serde_json::from_str(&text).map_err(|error| {
            format!(
                "package.json is not valid JSON ({error}); fix it or run the command with `bash`"
            )
        })?;
        let manager = self.node_manager(&package);
        let script = |name: &str| package["scripts"][name].as_str().map(str::to_string);
        let depends_on = |name: &str| {
            ["dependencies", "devDependencies"]
                .iter()
                .any(|field| package[field].get(name).is_some())
        };
        let run_script = |name: &str, extra: &[String]| {
            let mut command = format!("{manager} run {name}");
            if !extra.is_empty() {
                if manager == "npm" {
                    command.push_str(" --");
                }
                for argument in extra {
                    command.push(' ');
                    command.push_str(argument);
                }
            }
            (command, manager.to_string())
        };
        let quoted_path = self.path.filter(|path| *path != ".").map(shell_quote);
        match action {
            Action::Test => {
                let runner = match script("test") {
                    Some(test) => test,
                    None if depends_on("vitest") => "vitest".into(),
                    None if depends_on("jest") => "jest".into(),
                    None => "node --test".into(),
                };
                let mut extra = Vec::new();
                if let Some(filter) = self.filter {
                    let quoted = shell_quote(filter);
                    if runner.contains("vitest") || runner.contains("jest") {
                        extra.push(format!("-t {quoted}"));
                    } else if runner.contains("mocha") {
                        extra.push(format!("--grep {quoted}"));
                    } else if runner.contains("node --test") {
                        extra.push(format!("--test-name-pattern={quoted}"));
                    } else {
                        extra.push(quoted);
                    }
                }
                extra.extend(quoted_path);
                // `CI` keeps jest and vitest out of watch mode and interactive output.
                let (command, label) = if script("test").is_some() {
                    run_script("test", &extra)
                } else if runner == "node --test" {
                    let mut command = "node --test".to_string();
                    for argument in &extra {
                        command.push(' ');
                        command.push_str(argument);
                    }
                    (command, "node".into())
                } else {
                    let base = if runner == "vitest" {
                        "npx vitest run"
                    } else {
                        "npx jest"
                    };
                    (
                        format!("{base} {}", extra.join(" ")).trim_end().to_string(),
                        runner,
                    )
                };
                Ok((format!("CI=true {command}"), label))
            }
            Action::Build => match script("build") {
                Some(_) => Ok(run_script("build", &[])),
                None if self.has("tsconfig.json") => {
                    Ok(("npx tsc --noEmit --pretty false".into(), "tsc".into()))
                }
                None => Err(
                    "package.json has no `build` script and there is no tsconfig.json, so there \
                     is nothing to build; add a `build` script or run the build with `bash`"
                        .into(),
                ),
            },
            Action::Lint => match script("lint") {
                Some(_) => Ok(run_script("lint", &[])),
                None if depends_on("eslint") => Ok(("npx eslint .".into(), "eslint".into())),
                None if self.has("tsconfig.json") => {
                    Ok(("npx tsc --noEmit --pretty false".into(), "tsc".into()))
                }
                None => Err(
                    "package.json has no `lint` script and no eslint dependency; add one, set \
                     `[tools] linter` in the config, or run the linter with `bash`"
                        .into(),
                ),
            },
            Action::Format => match script("format")
                .map(|_| "format")
                .or(script("fmt").map(|_| "fmt"))
            {
                Some(name) => Ok(run_script(name, &[])),
                None if depends_on("prettier") => {
                    Ok(("npx prettier --write .".into(), "prettier".into()))
                }
                None => Err(
                    "package.json has no `format` script and no prettier dependency; add one, \
                     set `[tools] formatter` in the config, or run the formatter with `bash`"
                        .into(),
                ),
            },
        }
    }

    fn node_manager(&self, package: &Value) -> &'static str {
        const MANAGERS: [&str; 4] = ["npm", "pnpm", "yarn", "bun"];
        if let Some(chosen) = MANAGERS
            .iter()
            .find(|name| **name == self.settings.package_manager)
        {
            return chosen;
        }
        if let Some(field) = package["packageManager"].as_str()
            && let Some(chosen) = MANAGERS
                .iter()
                .find(|name| field.split('@').next() == Some(**name))
        {
            return chosen;
        }
        if self.has("pnpm-lock.yaml") {
            "pnpm"
        } else if self.has("yarn.lock") {
            "yarn"
        } else if self.has("bun.lockb") || self.has("bun.lock") {
            "bun"
        } else {
            "npm"
        }
    }

    /// The Python manager and the prefix that runs a tool through it.
    fn python_manager(&self) -> (&'static str, &'static str) {
        let chosen = match self.settings.package_manager.as_str() {
            "uv" => Some("uv"),
            "poetry" => Some("poetry"),
            "pdm" => Some("pdm"),
            "pip" => Some("pip"),
            _ => None,
        };
        let manager = chosen.unwrap_or(if self.has("uv.lock") {
            "uv"
        } else if self.has("poetry.lock") {
            "poetry"
        } else if self.has("pdm.lock") {
            "pdm"
        } else {
            "pip"
        });
        let prefix = match manager {
            "uv" => "uv run",
            "poetry" => "poetry run",
            "pdm" => "pdm run",
            _ => "python3 -m",
        };
        (manager, prefix)
    }

    /// Whether `section` appears in pyproject.toml, setup.cfg or tox.ini.
    fn python_config_mentions(&self, section: &str) -> bool {
        ["pyproject.toml", "setup.cfg", "tox.ini"]
            .iter()
            .any(|name| {
                fs::read_to_string(self.dir.join(name)).is_ok_and(|text| text.contains(section))
            })
    }

    fn python(&self, action: Action) -> Result<Command, String> {
        let (manager, run) = self.python_manager();
        let label = |tool: &str| format!("{tool} ({manager})");
        let ruff = self.has("ruff.toml")
            || self.has(".ruff.toml")
            || self.python_config_mentions("[tool.ruff");
        match action {
            Action::Test => {
                let mut command = format!("{run} pytest -q --color=no");
                if let Some(filter) = self.filter {
                    command.push_str(" -k ");
                    command.push_str(&shell_quote(filter));
                }
                if let Some(path) = self.path.filter(|path| *path != ".") {
                    command.push(' ');
                    command.push_str(&shell_quote(path));
                }
                Ok((command, label("pytest")))
            }
            Action::Build => match manager {
                "pip" => Ok((
                    "python3 -m compileall -q -x '(^|/)(\\.venv|venv|\\.git|node_modules|build)/' ."
                        .into(),
                    label("compileall"),
                )),
                other => Ok((format!("{other} build"), label("build"))),
            },
            Action::Lint => {
                if ruff {
                    Ok((
                        format!("{run} ruff check --output-format concise ."),
                        label("ruff"),
                    ))
                } else if self.has(".flake8") || self.python_config_mentions("[flake8]") {
                    Ok((format!("{run} flake8 ."), label("flake8")))
                } else {
                    Err("no Python linter is configured (no [tool.ruff] or ruff.toml, no \
                         [flake8] or .flake8); set `[tools] linter` in the config, or run one \
                         with `bash`"
                        .into())
                }
            }
            Action::Format => {
                if ruff {
                    Ok((format!("{run} ruff format ."), label("ruff")))
                } else if self.python_config_mentions("[tool.black") {
                    Ok((format!("{run} black ."), label("black")))
                } else {
                    Err("no Python formatter is configured (no [tool.ruff], ruff.toml or \
                         [tool.black]); set `[tools] formatter` in the config, or run one with \
                         `bash`"
                        .into())
                }
            }
        }
    }

    fn make(&self, action: Action) -> Result<Command, String> {
        let targets = make_targets(self.dir);
        let pick = |names: &[&str]| {
            names
                .iter()
                .find(|name| targets.iter().any(|target| target == *name))
                .map(|name| format!("make {name}"))
        };
        let command = match action {
            Action::Test => {
                self.no_filter("`make test`")?;
                pick(&["test", "check"])
            }
            Action::Build => pick(&["build"]).or(Some("make".into())),
            Action::Lint => pick(&["lint"]),
            Action::Format => pick(&["format", "fmt"]),
        };
        match command {
            Some(command) => Ok((command, "make".into())),
            None => Err(format!(
                "the Makefile has no {} target (its targets: {}); run the command with `bash`, \
                 or set `[tools] {}` in the config",
                match action {
                    Action::Test => "`test` or `check`",
                    Action::Lint => "`lint`",
                    _ => "`format` or `fmt`",
                },
                if targets.is_empty() {
                    "none found".to_string()
                } else {
                    targets.join(", ")
                },
                match action {
                    Action::Test => "test_runner",
                    Action::Lint => "linter",
                    _ => "formatter",
                }
            )),
        }
    }
}

/// The targets a Makefile defines (`name:` at the start of a line, not `name :=`).
fn make_targets(dir: &Path) -> Vec<String> {
    let text = ["GNUmakefile", "makefile", "Makefile"]
        .iter()
        .find_map(|name| fs::read_to_string(dir.join(name)).ok())
        .unwrap_or_default();
    let mut targets: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((head, rest)) = line.split_once(':') else {
            continue;
        };
        if rest.starts_with('=') || line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        for name in head.split_whitespace() {
            let valid = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
            if valid && !targets.iter().any(|target| target == name) {
                targets.push(name.to_string());
            }
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new(files: &[(&str, &str)]) -> Self {
            let dir = tempfile::tempdir().unwrap();
            for (name, content) in files {
                let path = dir.path().join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, content).unwrap();
            }
            Dir(dir)
        }

        fn plan(&self, action: Action, request: Request<'_>) -> Result<Plan, String> {
            self.plan_with(action, request, &ProjectSettings::default())
        }

        fn plan_with(
            &self,
            action: Action,
            request: Request<'_>,
            settings: &ProjectSettings,
        ) -> Result<Plan, String> {
            plan(action, self.0.path(), self.0.path(), settings, request)
        }

        fn command(&self, action: Action) -> String {
            self.plan(action, Request::default()).unwrap().command
        }
    }

    #[test]
    fn cargo_commands() {
        let dir = Dir::new(&[("Cargo.toml", "[package]\nname = \"a\"\n")]);
        assert_eq!(
            dir.command(Action::Test),
            "cargo test --no-fail-fast --color never"
        );
        let tests_file = dir.0.path().join("tests/api.rs");
        let plan = dir
            .plan(
                Action::Test,
                Request {
                    filter: Some("parses it"),
                    path: Some(&tests_file),
                },
            )
            .unwrap();
        assert_eq!(
            plan.command,
            "cargo test --no-fail-fast --color never --test api 'parses it'"
        );
        assert_eq!(
            dir.command(Action::Lint),
            "cargo clippy --all-targets --color never"
        );
        assert_eq!(dir.command(Action::Format), "cargo fmt --all");
    }

    #[test]
    fn the_nearest_project_above_the_start_directory_wins() {
        let dir = Dir::new(&[
            ("Makefile", "test:\n\tfalse\n"),
            ("web/package.json", "{\"scripts\": {\"test\": \"vitest\"}}"),
            ("web/pnpm-lock.yaml", ""),
            ("web/src/a.ts", ""),
        ]);
        let start = dir.0.path().join("web/src");
        let plan = plan(
            Action::Test,
            &start,
            dir.0.path(),
            &ProjectSettings::default(),
            Request {
                filter: Some("adds"),
                path: None,
            },
        )
        .unwrap();
        assert_eq!(plan.command, "CI=true pnpm run test -t adds");
        assert_eq!(plan.dir, dir.0.path().join("web"));
        assert_eq!(dir.command(Action::Test), "make test");
    }

    #[test]
    fn node_without_a_test_script_uses_its_own_runner() {
        let dir = Dir::new(&[("package.json", "{\"name\": \"x\"}")]);
        let path = dir.0.path().join("test/a.test.js");
        let plan = dir
            .plan(
                Action::Test,
                Request {
                    filter: Some("adds"),
                    path: Some(&path),
                },
            )
            .unwrap();
        assert_eq!(
            plan.command,
            "CI=true node --test --test-name-pattern=adds test/a.test.js"
        );
        let npm = Dir::new(&[(
            "package.json",
            "{\"scripts\": {\"test\": \"jest\", \"lint\": \"eslint .\"}}",
        )]);
        let plan = npm
            .plan(
                Action::Test,
                Request {
                    filter: Some("a b"),
                    path: None,
                },
            )
            .unwrap();
        assert_eq!(plan.command, "CI=true npm run test -- -t 'a b'");
        assert_eq!(npm.command(Action::Lint), "npm run lint");
        assert!(
            npm.plan(Action::Build, Request::default())
                .unwrap_err()
                .contains("no `build` script")
        );
    }

    #[test]
    fn python_managers_come_from_lock_files_or_the_config() {
        let dir = Dir::new(&[("pyproject.toml", "[tool.ruff]\n"), ("uv.lock", "")]);
        assert_eq!(dir.command(Action::Test), "uv run pytest -q --color=no");
        assert_eq!(
            dir.command(Action::Lint),
            "uv run ruff check --output-format concise ."
        );
        assert_eq!(dir.command(Action::Format), "uv run ruff format .");
        let settings = ProjectSettings {
            package_manager: "poetry".into(),
            ..ProjectSettings::default()
        };
        let plan = dir
            .plan_with(
                Action::Test,
                Request {
                    filter: Some("adds"),
                    path: Some(&dir.0.path().join("tests")),
                },
                &settings,
            )
            .unwrap();
        assert_eq!(
            plan.command,
            "poetry run pytest -q --color=no -k adds tests"
        );
        let plain = Dir::new(&[("requirements-dev.txt", "pytest\n")]);
        assert_eq!(
            plain.command(Action::Test),
            "python3 -m pytest -q --color=no"
        );
        assert!(
            plain
                .plan(Action::Lint, Request::default())
                .unwrap_err()
                .contains("linter")
        );
    }

    #[test]
    fn go_commands() {
        let dir = Dir::new(&[("go.mod", "module x\n")]);
        let path = dir.0.path().join("pkg/calc");
        let plan = dir
            .plan(
                Action::Test,
                Request {
                    filter: Some("TestSub"),
                    path: Some(&path),
                },
            )
            .unwrap();
        assert_eq!(plan.command, "go test -v ./pkg/calc/... -run TestSub");
        assert_eq!(dir.command(Action::Lint), "go vet ./...");
    }

    #[test]
    fn make_targets_are_read_from_the_makefile() {
        let dir = Dir::new(&[(
            "Makefile",
            "CC := gcc\n.PHONY: check fmt\ncheck: build\n\t./run-tests\nbuild fmt:\n\ttrue\n",
        )]);
        assert_eq!(dir.command(Action::Test), "make check");
        assert_eq!(dir.command(Action::Build), "make build");
        assert_eq!(dir.command(Action::Format), "make fmt");
        let error = dir.plan(Action::Lint, Request::default()).unwrap_err();
        assert!(error.contains("its targets: check, build, fmt"), "{error}");
        let error = dir
            .plan(
                Action::Test,
                Request {
                    filter: Some("x"),
                    path: None,
                },
            )
            .unwrap_err();
        assert!(error.contains("`filter` cannot be passed"), "{error}");
    }

    #[test]
    fn configured_commands_replace_detection() {
        let dir = Dir::new(&[("Cargo.toml", "")]);
        let settings = ProjectSettings {
            test_runner: "cargo nextest run {filter}".into(),
            linter: "./lint.sh".into(),
            ..ProjectSettings::default()
        };
        let plan = dir
            .plan_with(
                Action::Test,
                Request {
                    filter: Some("it's"),
                    path: None,
                },
                &settings,
            )
            .unwrap();
        assert_eq!(plan.command, r"cargo nextest run 'it'\''s'");
        assert_eq!(plan.ecosystem, "config");
        let path = dir.0.path().join("src");
        let plan = dir
            .plan_with(
                Action::Lint,
                Request {
                    filter: None,
                    path: Some(&path),
                },
                &settings,
            )
            .unwrap();
        assert_eq!(plan.command, "./lint.sh src");
    }

    #[test]
    fn no_project_is_a_clear_error() {
        let dir = Dir::new(&[("README.md", "")]);
        let error = dir.plan(Action::Test, Request::default()).unwrap_err();
        assert!(error.starts_with("no project found in"), "{error}");
        assert!(error.contains("`[tools] test_runner`"), "{error}");
    }
}
