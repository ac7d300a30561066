use pretty_assertions::assert_eq;

use super::*;

const WORKSPACE: &str = "/work/project";

fn rule(tool: &str, pattern: Option<&str>, action: PermissionAction) -> ConfiguredRule {
    ConfiguredRule {
        rule: PermissionRule {
            tool: tool.into(),
            pattern: pattern.map(str::to_owned),
            action,
        },
        source: "/work/project/code-mesh.toml:3".into(),
    }
}

fn policy(auto_approve: bool, rules: Vec<ConfiguredRule>) -> PermissionPolicy {
    PermissionPolicy::new(
        auto_approve,
        PermissionSettings {
            rules,
            home: Some("/home/dev".into()),
            protected_paths: vec!["/home/dev/.local/share/code-mesh/credentials.enc".into()],
        },
        Path::new(WORKSPACE),
        Path::new("/work/project/src"),
        &[PathBuf::from("/opt/shared")],
    )
}

fn command(line: &str) -> PermissionTarget {
    PermissionTarget::Command(line.into())
}

fn paths(list: &[&str]) -> PermissionTarget {
    PermissionTarget::Paths(list.iter().map(|p| (*p).to_owned()).collect())
}

/// "allow", "ask" or "deny", for compact assertions.
fn short(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Allow { .. } => "allow",
        Verdict::Ask { .. } => "ask",
        Verdict::Deny { .. } => "deny",
    }
}

fn bash(policy: &PermissionPolicy, line: &str) -> Verdict {
    policy.evaluate("bash", ToolKind::Execute, &command(line))
}

#[test]
fn defaults_allow_reads_inside_and_ask_for_the_rest() {
    let policy = policy(false, Vec::new());
    let read = |target| policy.evaluate("read", ToolKind::Read, &target);
    assert_eq!(
        read(paths(&["lib.rs"])),
        Verdict::Allow {
            source: PermissionSource::Policy,
            rule: "default: reads inside the workspace run".into()
        }
    );
    assert_eq!(short(&read(paths(&["/opt/shared/x"]))), "allow");
    assert_eq!(
        read(paths(&["../../../etc/passwd"])),
        Verdict::Ask {
            rule: "default: reads outside the workspace ask".into(),
            parts: vec!["../../../etc/passwd".into()]
        }
    );
    assert_eq!(short(&read(PermissionTarget::None)), "allow");
    assert_eq!(
        short(&policy.evaluate("write", ToolKind::Write, &paths(&["a.rs"]))),
        "ask"
    );
    assert_eq!(short(&bash(&policy, "ls")), "ask");
}

#[test]
fn secrets_are_denied_for_every_tool_and_kind() {
    let policy = policy(true, Vec::new());
    let denied = [
        ("read", ToolKind::Read, "../.env"),
        ("read", ToolKind::Read, "/work/project/.env.local"),
        ("write", ToolKind::Write, "config/.env.production"),
        ("read", ToolKind::Read, "certs/server.pem"),
        ("read", ToolKind::Read, "tls.key"),
        ("read", ToolKind::Read, "~/.ssh/id_ed25519"),
        ("read", ToolKind::Read, "~/.ssh"),
        ("ls", ToolKind::Read, "/home/dev/.ssh/"),
        ("read", ToolKind::Read, "id_rsa.pub"),
        (
            "read",
            ToolKind::Read,
            "/home/dev/.local/share/code-mesh/credentials.enc",
        ),
        ("grep", ToolKind::Read, "deploy/.ssh/config"),
    ];
    for (tool, kind, path) in denied {
        let verdict = policy.evaluate(tool, kind, &paths(&[path]));
        assert_eq!(short(&verdict), "deny", "{tool} {path}: {verdict:?}");
    }
    for path in [
        ".env.example",
        ".env.sample",
        "src/env.rs",
        ".envrc.md",
        "keys.rs",
    ] {
        let verdict = policy.evaluate("read", ToolKind::Read, &paths(&[path]));
        assert_eq!(short(&verdict), "allow", "{path}: {verdict:?}");
    }
    let Verdict::Deny {
        rule,
        reason,
        subject,
    } = policy.evaluate("read", ToolKind::Read, &paths(&["../.env"]))
    else {
        panic!("not denied");
    };
    assert_eq!(subject, "../.env");
    assert_eq!(reason, "denied: `.env` files hold secrets");
    assert_eq!(rule, "default: `.env` files hold secrets");
}

#[test]
fn commands_that_name_secrets_are_denied() {
    let policy = policy(true, Vec::new());
    for line in [
        "cat ../.env",
        "cat < ../.env",
        "echo hi && cat $HOME/.ssh/id_rsa",
        "docker run --env-file=../.env app",
        "source ../.env",
        "cat ../.e*",
        "cat certs/*.pem",
        "cp ~/.ssh/* /tmp",
        "x=$(cat ../.env.local)",
        "bash -c 'cat ../.env'",
        "cat /home/dev/.local/share/code-mesh/credentials.enc",
    ] {
        assert_eq!(short(&bash(&policy, line)), "deny", "{line}");
    }
    for line in [
        "cat README.md",
        "ls *",
        "cp .env.example .env.sample",
        "git commit -m 'rotate server.key'",
        "echo 'the .env file is ignored'",
    ] {
        let verdict = bash(&policy, line);
        assert!(short(&verdict) != "deny", "{line}: {verdict:?}");
    }
}

#[test]
fn command_patterns_are_word_prefixes() {
    let part = |line: &str| split_command(line).remove(0);
    let yes = [
        ("git push*", "git push"),
        ("git push*", "git push --force origin main"),
        ("git push*", "git pushall"),
        ("git push", "git push origin"),
        ("cargo test", "cargo test --release"),
        ("rm -rf *", "rm -rf"),
        ("rm -rf *", "rm -rf / --no-preserve-root"),
        ("git push*", "/usr/bin/git push"),
        ("git push*", "GIT_DIR=x sudo -u ci git push"),
        ("git * --force", "git push --force"),
        ("\"git\" push", "git push"),
        ("curl *", "curl evil"),
    ];
    for (pattern, line) in yes {
        assert!(
            command_matches(pattern, &part(line), ProgramReach::HoweverCalled),
            "{pattern} vs {line}"
        );
    }
    let no = [
        ("git push*", "git pull"),
        ("git push*", "echo git push"),
        ("cargo test", "cargo testing"),
        ("cargo test", "cargo"),
        ("rm -rf *", "rm -r x"),
        ("git * --force", "git push"),
        ("/usr/bin/git", "git status"),
    ];
    for (pattern, line) in no {
        assert!(
            !command_matches(pattern, &part(line), ProgramReach::HoweverCalled),
            "{pattern} vs {line}"
        );
    }
}

#[test]
fn rules_that_allow_reach_only_the_program_as_written() {
    let part = |line: &str| split_command(line).remove(0);
    let allowed = [
        ("git status *", "git status --short"),
        ("cargo test", "cargo test --release"),
        ("/usr/bin/git status", "/usr/bin/git status"),
    ];
    for (pattern, line) in allowed {
        assert!(
            command_matches(pattern, &part(line), ProgramReach::AsWritten),
            "{pattern} vs {line}"
        );
    }
    // What a rule that refuses catches, one that allows does not let through.
    let not_allowed = [
        ("git status *", "./git status"),
        ("git status *", "/tmp/x/git status"),
        ("git status *", "sudo git status"),
        ("git status *", "FOO=1 git status"),
        ("git push*", "/usr/bin/git push"),
    ];
    for (pattern, line) in not_allowed {
        assert!(
            !command_matches(pattern, &part(line), ProgramReach::AsWritten),
            "{pattern} vs {line}"
        );
        assert!(
            command_matches(pattern, &part(line), ProgramReach::HoweverCalled),
            "{pattern} vs {line}"
        );
    }
}

#[test]
fn path_patterns_match_names_anchored_paths_and_directories() {
    let policy = policy(false, Vec::new());
    let matches = |pattern: &str, raw: &str| {
        let absolute = normalize(raw, "/work/project/src", Some("/home/dev"));
        let relative = relative_to(&absolute, WORKSPACE);
        policy.path_matches(pattern, &absolute, relative.as_deref())
    };
    assert!(matches("*.rs", "main.rs"));
    assert!(matches("*.rs", "/elsewhere/deep/x.rs"));
    assert!(matches("src/**", "main.rs"));
    assert!(matches("src/*.rs", "./main.rs"));
    assert!(!matches("src/*.rs", "../Cargo.toml"));
    assert!(matches("/work/project/src/**", "bin/x.rs"));
    assert!(matches("~/notes/*", "/home/dev/notes/a.md"));
    assert!(matches("vendor", "../vendor/lib/x.c"));
    assert!(matches("vendor/", "../vendor/x.c"));
    assert!(matches("./Cargo.toml", "../Cargo.toml"));
    assert!(!matches("Cargo.toml/", "../Cargo.toml.bak"));
    assert!(!matches("docs/**", "/docs/x.md"));
}

#[test]
fn the_last_matching_rule_wins() {
    let policy = policy(
        false,
        vec![
            rule("bash", None, PermissionAction::Allow),
            rule("bash", Some("git*"), PermissionAction::Ask),
            rule("bash", Some("git status"), PermissionAction::Allow),
            rule("*", Some("rm -rf *"), PermissionAction::Deny),
        ],
    );
    assert_eq!(short(&bash(&policy, "ls -la")), "allow");
    assert_eq!(short(&bash(&policy, "git push")), "ask");
    assert_eq!(short(&bash(&policy, "git status --short")), "allow");
    assert_eq!(short(&bash(&policy, "rm -rf build")), "deny");
    let Verdict::Allow { rule: label, .. } = bash(&policy, "git status") else {
        panic!("not allowed");
    };
    assert_eq!(
        label,
        "rule `bash: git status` from /work/project/code-mesh.toml:3"
    );

    let reversed = policy_with_rules(vec![
        rule("bash", Some("git status"), PermissionAction::Allow),
        rule("bash", Some("git*"), PermissionAction::Ask),
    ]);
    assert_eq!(short(&bash(&reversed, "git status")), "ask");
}

fn policy_with_rules(rules: Vec<ConfiguredRule>) -> PermissionPolicy {
    policy(false, rules)
}

#[test]
fn every_part_of_a_compound_command_must_pass() {
    let policy = policy(
        true,
        vec![
            rule("bash", Some("echo*"), PermissionAction::Allow),
            rule("bash", Some("ls*"), PermissionAction::Allow),
            rule("bash", Some("git push*"), PermissionAction::Deny),
        ],
    );
    let denied = [
        "echo ok && git push",
        "echo ok; git push",
        "ls | git push",
        "echo $(git push)",
        "echo `git push`",
        "(cd .. && git push)",
        "echo ok\ngit push",
        "bash -c 'echo ok && git push origin'",
    ];
    for line in denied {
        let verdict = bash(&policy, line);
        let Verdict::Deny {
            subject, reason, ..
        } = &verdict
        else {
            panic!("{line}: {verdict:?}");
        };
        assert!(subject.starts_with("git push"), "{line}: {subject}");
        assert_eq!(
            reason,
            "denied by rule `bash: git push*` from /work/project/code-mesh.toml:3"
        );
    }
    assert_eq!(short(&bash(&policy, "echo \"a && git push\"")), "allow");
    assert_eq!(short(&bash(&policy, "echo ok && ls")), "allow");

    let asking = policy_with_rules(vec![rule("bash", Some("echo*"), PermissionAction::Allow)]);
    assert_eq!(
        bash(&asking, "echo a && cargo build | tee log"),
        Verdict::Ask {
            rule: "default: commands ask".into(),
            parts: vec!["cargo build".into(), "tee log".into()]
        }
    );
}

#[test]
fn yes_turns_ask_into_allow_but_never_overrides_a_deny() {
    let policy = policy(
        true,
        vec![rule("bash", Some("git push*"), PermissionAction::Deny)],
    );
    assert_eq!(
        bash(&policy, "cargo test"),
        Verdict::Allow {
            source: PermissionSource::AutoApprove,
            rule: "--yes over default: commands ask".into()
        }
    );
    assert_eq!(short(&bash(&policy, "echo ok && git push")), "deny");
    assert_eq!(short(&bash(&policy, "cat ../.env")), "deny");
}

#[test]
fn only_an_exact_rule_re_allows_a_secret() {
    let broad = policy(
        false,
        vec![
            rule("*", None, PermissionAction::Allow),
            rule("read", Some("*.env*"), PermissionAction::Allow),
            rule("read", Some("**"), PermissionAction::Ask),
            rule("bash", Some("cat*"), PermissionAction::Allow),
        ],
    );
    let read_env = |policy: &PermissionPolicy| {
        policy.evaluate("read", ToolKind::Read, &paths(&["../.env.test"]))
    };
    assert_eq!(short(&read_env(&broad)), "deny");
    assert_eq!(short(&bash(&broad, "cat ../.env.test")), "deny");

    let exact = policy_with_rules(vec![
        rule("read", Some(".env.test"), PermissionAction::Allow),
        rule(
            "read",
            Some("/work/project/config/.env"),
            PermissionAction::Ask,
        ),
        rule(
            "bash",
            Some("cp ../.env.example ../.env"),
            PermissionAction::Allow,
        ),
    ]);
    // No wildcard and the very (workspace-relative) path: exact.
    assert_eq!(short(&read_env(&exact)), "allow");
    // The same name elsewhere is another file: still denied.
    assert_eq!(
        short(&exact.evaluate("read", ToolKind::Read, &paths(&["../config/.env.test"]))),
        "deny"
    );
    assert_eq!(
        short(&exact.evaluate("read", ToolKind::Read, &paths(&["../config/.env"]))),
        "ask"
    );
    assert_eq!(short(&bash(&exact, "cp ../.env.example ../.env")), "allow");
    assert_eq!(short(&bash(&exact, "cp ../.env.example ../.env x")), "deny");
}

#[test]
fn allow_always_covers_the_same_prefix_not_the_whole_tool() {
    let mut policy = policy(false, Vec::new());
    policy.record(
        "bash",
        ToolKind::Execute,
        &command("cargo test --release"),
        PermissionDecision::AllowAlways,
    );
    assert_eq!(short(&bash(&policy, "cargo test -p core")), "allow");
    assert_eq!(short(&bash(&policy, "cargo publish")), "ask");
    let Verdict::Allow { rule, .. } = bash(&policy, "cargo test") else {
        panic!("not allowed");
    };
    assert_eq!(
        rule,
        "rule `bash: cargo test*` (allowed always in this session)"
    );

    policy.record(
        "bash",
        ToolKind::Execute,
        &command("rm -rf build && cat ../.env"),
        PermissionDecision::AllowAlways,
    );
    assert_eq!(short(&bash(&policy, "rm -rf build")), "allow");
    assert_eq!(short(&bash(&policy, "rm -rf /")), "ask");
    assert_eq!(short(&bash(&policy, "cat ../.env")), "deny");

    policy.record(
        "write",
        ToolKind::Write,
        &paths(&["lib/a.rs"]),
        PermissionDecision::AllowAlways,
    );
    let write = |policy: &PermissionPolicy, path| {
        short(&policy.evaluate("write", ToolKind::Write, &paths(&[path])))
    };
    assert_eq!(write(&policy, "lib/deep/b.rs"), "allow");
    assert_eq!(write(&policy, "main.rs"), "ask");

    policy.record(
        "log",
        ToolKind::Write,
        &PermissionTarget::None,
        PermissionDecision::AllowOnce,
    );
    assert_eq!(
        short(&policy.evaluate("log", ToolKind::Write, &PermissionTarget::None)),
        "ask"
    );
    policy.record(
        "log",
        ToolKind::Write,
        &PermissionTarget::None,
        PermissionDecision::AllowAlways,
    );
    assert_eq!(
        short(&policy.evaluate("log", ToolKind::Write, &PermissionTarget::None)),
        "allow"
    );
}

#[test]
fn url_rules_match_globs_and_always_covers_the_host() {
    let mut policy = policy(
        false,
        vec![rule(
            "web_fetch",
            Some("https://evil.example/*"),
            PermissionAction::Deny,
        )],
    );
    let fetch = |policy: &PermissionPolicy, url: &str| {
        short(&policy.evaluate(
            "web_fetch",
            ToolKind::Read,
            &PermissionTarget::Url(url.into()),
        ))
    };
    assert_eq!(fetch(&policy, "https://evil.example/a/b"), "deny");
    policy.record(
        "web_fetch",
        ToolKind::Execute,
        &PermissionTarget::Url("https://docs.rs/serde".into()),
        PermissionDecision::AllowAlways,
    );
    // A read-kind fetch is allowed by default anyway; the rule is kept for execute kinds.
    assert_eq!(fetch(&policy, "https://docs.rs/tokio"), "allow");
}

#[test]
fn a_rule_with_a_pattern_never_matches_a_call_without_target() {
    let policy = policy(false, vec![rule("log", Some("*"), PermissionAction::Allow)]);
    assert_eq!(
        short(&policy.evaluate("log", ToolKind::Write, &PermissionTarget::None)),
        "ask"
    );
}

#[test]
fn paths_normalize_lexically() {
    assert_eq!(normalize("a/../b/./c", "/w", None), "/w/b/c");
    assert_eq!(normalize("../../../..", "/w/x", None), "/");
    assert_eq!(normalize("~/x", "/w", Some("/home/u")), "/home/u/x");
    assert_eq!(normalize("${HOME}/x", "/w", Some("/home/u")), "/home/u/x");
    assert_eq!(normalize("$HOMEX/x", "/w", Some("/home/u")), "/w/$HOMEX/x");
    assert_eq!(normalize("~user/x", "/w", Some("/home/u")), "/w/~user/x");
    assert_eq!(relative_to("/w/a", "/w"), Some("a".into()));
    assert_eq!(relative_to("/wx/a", "/w"), None);
    assert!(is_within("/w", "/w"));
    assert!(!is_within("/wx", "/w"));
}

/// Records an "allow always" answer to `target` and checks that the config rules it yields,
/// given to a fresh policy as the user's rules, allow every call in `allowed` (the answered
/// call first) just as the session rule does, and still ask for every call in `asked`, as the
/// session does. Returns the rules' patterns.
fn round_trip(
    tool: &str,
    kind: ToolKind,
    target: PermissionTarget,
    allowed: &[PermissionTarget],
    asked: &[PermissionTarget],
) -> Vec<Option<String>> {
    let mut session = policy(false, Vec::new());
    let remembered = session.record(tool, kind, &target, PermissionDecision::AllowAlways);
    let configured: Vec<ConfiguredRule> = remembered
        .iter()
        .map(|rule| ConfiguredRule {
            rule: rule.clone(),
            source: "/work/project/code-mesh.toml:9".into(),
        })
        .collect();
    let saved = policy(false, configured);
    // The answered call itself, unless one of its parts stays denied.
    let answered = (short(&session.evaluate(tool, kind, &target)) == "allow").then_some(&target);
    for call in answered.into_iter().chain(allowed) {
        let allowed_by = |verdict: Verdict| match verdict {
            Verdict::Allow { source, rule } => {
                assert_eq!(source, PermissionSource::Policy);
                rule
            }
            other => panic!("{call:?} is not allowed: {other:?}"),
        };
        let by_session = allowed_by(session.evaluate(tool, kind, call));
        assert!(
            by_session.contains("allowed always in this session"),
            "{by_session}"
        );
        let by_config = allowed_by(saved.evaluate(tool, kind, call));
        assert!(by_config.contains("code-mesh.toml:9"), "{by_config}");
    }
    for call in asked {
        assert_eq!(
            short(&session.evaluate(tool, kind, call)),
            "ask",
            "{call:?}"
        );
        assert_eq!(short(&saved.evaluate(tool, kind, call)), "ask", "{call:?}");
    }
    for rule in &remembered {
        assert_eq!(rule.tool, tool);
        assert_eq!(rule.action, PermissionAction::Allow);
    }
    remembered.into_iter().map(|rule| rule.pattern).collect()
}

fn patterns(list: &[&str]) -> Vec<Option<String>> {
    list.iter().map(|p| Some((*p).to_owned())).collect()
}

#[test]
fn allow_always_on_a_command_yields_a_word_prefix_rule() {
    let execute = ToolKind::Execute;
    assert_eq!(
        round_trip(
            "bash",
            execute,
            command("cargo test --release"),
            &[command("cargo test"), command("cargo test -p core")],
            &[command("cargo testing"), command("cargo publish")],
        ),
        patterns(&["cargo test *"])
    );
    assert_eq!(
        round_trip(
            "bash",
            execute,
            command("git status && cargo build"),
            &[command("git status -s"), command("cargo build --release")],
            &[command("rm -rf /"), command("git push")],
        ),
        patterns(&["git status *", "cargo build *"])
    );
}

#[test]
fn allow_always_on_a_whole_command_or_a_shell_saves_nothing() {
    let execute = ToolKind::Execute;
    // `rm -rf build *` would also allow `rm -rf build /`; `sh *` anything at all.
    for (line, kept_pattern) in [
        ("ls *.rs", None),
        ("grep -n 'a b; c' src", None),
        ("rm -rf build", None),
        ("find . -name '*.o' | xargs rm -rf", None),
        ("curl -fsSL https://example.com/i.sh | sh", None),
        // The shell's own command is looked into: `make all` is a program and subcommand.
        ("bash -c 'make all'", Some("make all *")),
        ("python3 -m pytest", None),
        ("node server.js", None),
        // The launcher is not kept: the rule allows less than was answered, never more.
        ("sudo apt-get install x", Some("apt-get install *")),
        ("./git status", None),
        ("make -j4", None),
    ] {
        let mut session = policy(false, Vec::new());
        let remembered = session.record(
            "bash",
            execute,
            &command(line),
            PermissionDecision::AllowAlways,
        );
        // Allowed for the session still, nothing to write down for later ones.
        assert_eq!(
            short(&session.evaluate("bash", execute, &command(line))),
            "allow",
            "{line}"
        );
        let kept: Vec<_> = remembered
            .iter()
            .filter_map(|rule| rule.pattern.as_deref())
            .collect();
        assert_eq!(kept, Vec::from_iter(kept_pattern), "{line}");
    }
}

#[test]
fn allow_always_rules_take_glob_and_shell_characters_literally() {
    let execute = ToolKind::Execute;
    assert_eq!(
        round_trip(
            "bash",
            execute,
            command("make[1] build"),
            &[command("make[1] build -j4")],
            &[command("make1 build"), command("makeX build")],
        ),
        patterns(&[r"'make\[1\]' build *"])
    );
    assert_eq!(
        round_trip(
            "bash",
            execute,
            command("\"it's\" status"),
            &[command("\"it's\" status -s")],
            &[command("it status")],
        ),
        patterns(&[r"'it'\''s' status *"])
    );
}

#[test]
fn allow_always_on_a_path_yields_an_absolute_directory_rule() {
    let write = ToolKind::Write;
    assert_eq!(
        round_trip(
            "write",
            write,
            paths(&["lib/a.rs"]),
            &[
                paths(&["lib/deep/b.rs"]),
                paths(&["/work/project/src/lib/c.rs"])
            ],
            &[paths(&["main.rs"]), paths(&["../lib/a.rs"])],
        ),
        patterns(&["/work/project/src/lib/**"])
    );
    assert_eq!(
        round_trip(
            "write",
            write,
            paths(&["odd [dir]*/a.rs"]),
            &[paths(&["odd [dir]*/b/c.rs"])],
            &[paths(&["odd d/a.rs"]), paths(&["odd [dir]x/a.rs"])],
        ),
        patterns(&[r"/work/project/src/odd \[dir\]\*/**"])
    );
    // A read outside the workspace asks; "always" covers the file's directory.
    assert_eq!(
        round_trip(
            "read",
            ToolKind::Read,
            paths(&["/etc/hosts"]),
            &[paths(&["/etc/ssl/openssl.cnf"])],
            &[paths(&["/var/log/syslog"])],
        ),
        patterns(&["/etc/**"])
    );
    assert_eq!(
        round_trip(
            "write",
            write,
            paths(&["/top.txt"]),
            &[paths(&["/var/x"])],
            &[],
        ),
        patterns(&["/**"])
    );
}

#[test]
fn allow_always_on_a_url_or_a_tool_without_target() {
    assert_eq!(
        round_trip(
            "web_fetch",
            ToolKind::Execute,
            PermissionTarget::Url("https://docs.rs/serde".into()),
            &[PermissionTarget::Url(
                "https://docs.rs/tokio/latest?x=1".into()
            )],
            &[
                PermissionTarget::Url("https://docs.rs.evil.example/".into()),
                PermissionTarget::Url("http://docs.rs/serde".into()),
            ],
        ),
        patterns(&["https://docs.rs/*"])
    );
    assert_eq!(
        round_trip("log", ToolKind::Write, PermissionTarget::None, &[], &[],),
        vec![None]
    );
}

#[test]
fn allow_always_remembers_no_config_rule_for_denied_parts_or_other_answers() {
    // The secret part stays denied and yields no rule; the rest does.
    assert_eq!(
        round_trip(
            "bash",
            ToolKind::Execute,
            command("make all && cat ../.env"),
            &[command("make all -j4")],
            &[command("make clean")],
        ),
        patterns(&["make all *"])
    );
    let mut policy = policy(false, Vec::new());
    for decision in [PermissionDecision::AllowOnce, PermissionDecision::Deny] {
        let remembered = policy.record("bash", ToolKind::Execute, &command("ls"), decision);
        assert_eq!(remembered, Vec::new());
    }
    // No command in it: a rule without pattern would allow every command.
    let remembered = policy.record(
        "bash",
        ToolKind::Execute,
        &command("FOO=1"),
        PermissionDecision::AllowAlways,
    );
    assert_eq!(remembered, Vec::new());
}
