//! Measures long-lived memory at scale: FTS5 recall over 100,000 entries and `remember` with
//! them present.
//!
//! Run: `cargo run -p code-mesh-store --release --example memory_bench [-- ENTRIES [DB]]`
//!
//! The entries are sentences about commands, files and errors generated from a seeded
//! vocabulary (word frequencies skewed as in real notes: a few words are everywhere, most are
//! rare), spread over 50 projects, global preferences and agents' notes, a few with expiry
//! times. Queries are 1 to 4 words drawn the same way, run with and without a project filter.

use std::error::Error;
use std::time::{Duration, Instant};

use code_mesh_core::now_ms;
use code_mesh_protocol::{MemoryKind, MemoryQuery, MemoryScope, NewMemory};
use code_mesh_store::SqliteStore;

const DEFAULT_ENTRIES: usize = 100_000;
const QUERIES: usize = 1_000;
const PROJECTS: u64 = 50;

/// SplitMix64: a seeded generator, so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An item, the first ones far more often than the last (roughly Zipf-like).
    fn skewed<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        items[((unit * unit * unit) * items.len() as f64) as usize]
    }
}

const COMMANDS: &[&str] = &[
    "cargo test",
    "cargo build",
    "npm test",
    "pytest -q",
    "make check",
    "go test ./...",
    "cargo clippy --all-targets",
    "npm run lint",
    "ruff check",
    "mypy src",
    "tox -e py312",
    "just ci",
    "bazel test //...",
    "gradle check",
    "mvn verify",
    "dotnet test",
    "yarn jest",
    "pnpm vitest",
    "deno test",
    "zig build test",
    "cmake --build build",
    "ctest --output-on-failure",
    "cargo nextest run",
    "uv run pytest",
    "poetry run pytest",
    "bundle exec rspec",
    "mix test",
    "swift test",
    "stack test",
    "cabal test",
    "dune test",
    "sbt test",
    "phpunit",
];
const FILES: &[&str] = &[
    "src/lib.rs",
    "src/main.rs",
    "package.json",
    "pyproject.toml",
    "Cargo.toml",
    "Makefile",
    "src/parser.rs",
    "src/server/routes.ts",
    "tests/test_api.py",
    "go.mod",
    "internal/db/db.go",
    "crates/core/src/turn.rs",
    "app/models/user.rb",
    "lib/auth.ex",
    "src/index.tsx",
    "config/settings.yaml",
    "docker-compose.yml",
    ".github/workflows/ci.yml",
    "README.md",
    "migrations/0003_users.sql",
    "src/components/Button.vue",
    "scripts/release.sh",
    "build.gradle",
    "pom.xml",
    "CMakeLists.txt",
    "src/util/strings.c",
    "include/api.h",
    "frontend/vite.config.ts",
    "backend/app.py",
    "src/schema.graphql",
    "proto/service.proto",
];
const ERRORS: &[&str] = &[
    "mismatched types",
    "cannot find module",
    "undefined reference",
    "connection refused",
    "permission denied",
    "timeout waiting for lock",
    "borrowed value does not live long enough",
    "ModuleNotFoundError",
    "TypeError: undefined is not a function",
    "segmentation fault",
    "assertion failed",
    "missing lifetime specifier",
    "unresolved import",
    "port already in use",
    "out of memory",
    "deadlock detected",
    "certificate verify failed",
    "no such file or directory",
    "syntax error near unexpected token",
    "version conflict",
    "flaky snapshot",
    "stale lockfile",
    "linker cc not found",
    "database is locked",
    "too many open files",
    "unused variable",
];
const SUBJECTS: &[&str] = &[
    "the parser",
    "the API server",
    "the test suite",
    "the build",
    "the CLI",
    "the database layer",
    "the frontend",
    "the release script",
    "the auth module",
    "the scheduler",
    "the cache",
    "the config loader",
    "the websocket handler",
    "the migration runner",
    "the logger",
    "the payment service",
    "the search index",
    "the renderer",
    "the plugin system",
];
const ADVICE: &[&str] = &[
    "always",
    "never",
    "prefer",
    "remember to",
    "do not forget to",
    "make sure to",
    "avoid",
    "it is faster to",
    "the team wants to",
    "CI requires you to",
];
const PREFERENCES: &[&str] = &[
    "use tabs for indentation",
    "answer in short paragraphs",
    "write commit messages in English",
    "prefer small pull requests",
    "use snake_case for files",
    "keep functions under 40 lines",
    "run the formatter before committing",
    "avoid unwrap in library code",
    "explain the plan first",
    "use conventional commits",
    "do not add new dependencies without asking",
];
const AGENTS: &[&str] = &["coder", "tester", "reviewer", "planner"];

fn sentence(rng: &mut Rng) -> String {
    let command = rng.skewed(COMMANDS);
    let file = rng.skewed(FILES);
    let error = rng.skewed(ERRORS);
    let subject = rng.skewed(SUBJECTS);
    let advice = rng.skewed(ADVICE);
    match rng.below(7) {
        0 => format!("{subject} is tested with `{command}`; {advice} run it after editing {file}"),
        1 => format!("`{command}` fails with \"{error}\" when {file} is out of date"),
        2 => format!("{subject} lives in {file} and is built by `{command}`"),
        3 => format!("fixed \"{error}\" in {subject} by editing {file}, then `{command}` passed"),
        4 => format!("{advice} check {file} before changing {subject}"),
        5 => format!("{error} in {file}: {advice} restart {subject}, it happens after `{command}`"),
        _ => format!(
            "{subject} depends on {file}; `{command}` takes about {} seconds",
            rng.below(300)
        ),
    }
}

fn entry(rng: &mut Rng, now: u64) -> NewMemory {
    let project = format!("/home/dev/project-{}", rng.below(PROJECTS));
    let expires_at = (rng.below(20) == 0).then(|| now + 3_600_000 + rng.below(86_400_000));
    match rng.below(10) {
        0 => NewMemory {
            scope: MemoryScope::Global,
            kind: MemoryKind::Preference,
            project: None,
            agent: None,
            content: format!("{} {}", rng.skewed(ADVICE), rng.skewed(PREFERENCES)),
            key: None,
            source_session: None,
            expires_at,
        },
        1 => NewMemory {
            scope: MemoryScope::Agent,
            kind: MemoryKind::Fact,
            project: Some(project),
            agent: Some(rng.skewed(AGENTS).to_owned()),
            content: sentence(rng),
            key: None,
            source_session: None,
            expires_at,
        },
        2 | 3 => NewMemory {
            scope: MemoryScope::Project,
            kind: MemoryKind::Lesson,
            project: Some(project),
            agent: None,
            content: sentence(rng),
            key: None,
            source_session: None,
            expires_at,
        },
        _ => NewMemory {
            scope: MemoryScope::Project,
            kind: MemoryKind::Fact,
            project: Some(project),
            agent: None,
            content: sentence(rng),
            key: None,
            source_session: None,
            expires_at,
        },
    }
}

/// 1 to 4 query words taken from the same vocabulary as the entries.
fn query_text(rng: &mut Rng) -> String {
    let words: Vec<String> = (0..1 + rng.below(4))
        .map(|_| {
            let pool = match rng.below(4) {
                0 => COMMANDS,
                1 => FILES,
                2 => ERRORS,
                _ => SUBJECTS,
            };
            let phrase = rng.skewed(pool);
            let parts: Vec<&str> = phrase
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .collect();
            parts
                .get(rng.below(parts.len().max(1) as u64) as usize)
                .copied()
                .unwrap_or("test")
                .to_owned()
        })
        .collect();
    words.join(" ")
}

struct Stats {
    sorted: Vec<Duration>,
}

impl Stats {
    fn new(mut latencies: Vec<Duration>) -> Stats {
        latencies.sort();
        Stats { sorted: latencies }
    }

    fn at(&self, q: f64) -> Duration {
        self.sorted[((self.sorted.len() as f64 - 1.0) * q) as usize]
    }

    fn mean(&self) -> Duration {
        self.sorted.iter().sum::<Duration>() / self.sorted.len().max(1) as u32
    }

    fn line(&self, label: &str, unit_ms: bool) -> String {
        let show = |d: Duration| {
            if unit_ms {
                format!("{:.2} ms", d.as_secs_f64() * 1e3)
            } else {
                format!("{:.1} µs", d.as_secs_f64() * 1e6)
            }
        };
        format!(
            "{label}: mean {}, p50 {}, p99 {}, max {} over {}",
            show(self.mean()),
            show(self.at(0.5)),
            show(self.at(0.99)),
            show(self.at(1.0)),
            self.sorted.len()
        )
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let entries: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => DEFAULT_ENTRIES,
    };
    // A second argument keeps the database there, for looking into it afterwards.
    let dir = tempfile::tempdir()?;
    let path = match std::env::args().nth(2) {
        Some(kept) => std::path::PathBuf::from(kept),
        None => dir.path().join("code-mesh.db"),
    };
    let store = SqliteStore::open(&path)?;
    let now = now_ms();
    let mut rng = Rng(0x5EED);

    let started = Instant::now();
    let mut fill = Vec::with_capacity(entries);
    for _ in 0..entries {
        let memory = entry(&mut rng, now);
        let one = Instant::now();
        store.remember_blocking(memory)?;
        fill.push(one.elapsed());
    }
    println!(
        "filled {entries} entries in {:.1} s ({:.1} MiB with WAL)",
        started.elapsed().as_secs_f64(),
        (std::fs::metadata(&path)?.len()
            + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len()))
            as f64
            / (1024.0 * 1024.0)
    );
    println!("{}", Stats::new(fill).line("remember while filling", false));

    // Fresh connections, as a new process would have.
    drop(store);
    let store = SqliteStore::open(&path)?;

    let mut latencies = Vec::with_capacity(1_000);
    for _ in 0..1_000 {
        let memory = entry(&mut rng, now);
        let one = Instant::now();
        store.remember_blocking(memory)?;
        latencies.push(one.elapsed());
    }
    println!(
        "{}",
        Stats::new(latencies).line(&format!("remember with {entries} present"), false)
    );

    let texts: Vec<String> = (0..QUERIES).map(|_| query_text(&mut rng)).collect();
    for words in 1..=4 {
        for filtered in [false, true] {
            let mut latencies = Vec::new();
            let mut hits = 0;
            for text in texts.iter().filter(|t| t.split(' ').count() == words) {
                let query = MemoryQuery {
                    text: Some(text.clone()),
                    project: filtered.then(|| format!("/home/dev/project-{}", rng.below(PROJECTS))),
                    ..MemoryQuery::default()
                };
                let one = Instant::now();
                hits += store.recall_blocking(&query)?.len();
                latencies.push(one.elapsed());
            }
            let count = latencies.len().max(1);
            let label = format!(
                "recall {words} word{}{} ({:.1} hits each)",
                if words == 1 { "" } else { "s" },
                if filtered {
                    ", one project"
                } else {
                    ", all projects"
                },
                hits as f64 / count as f64
            );
            println!("{}", Stats::new(latencies).line(&label, true));
        }
    }
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let query = MemoryQuery {
            project: Some(format!("/home/dev/project-{}", rng.below(PROJECTS))),
            ..MemoryQuery::default()
        };
        let one = Instant::now();
        store.recall_blocking(&query)?;
        latencies.push(one.elapsed());
    }
    println!(
        "{}",
        Stats::new(latencies).line("list newest 20 of one project (no words)", true)
    );
    Ok(())
}
