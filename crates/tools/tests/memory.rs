//! `remember` and `recall` over an in-memory bank: scopes, refusals, expiry.

use std::path::Path;
use std::sync::Arc;

use code_mesh_core::{MemoryBank, MemoryStore, Tool, ToolContext, now_ms};
use code_mesh_protocol::{MemoryKind, MemoryQuery, MemoryScope, NewMemory};
use code_mesh_tools::{RecallTool, RememberTool};
use serde_json::{Value, json};

use crate::support::Workspace;

struct Agent {
    remember: RememberTool,
    recall: RecallTool,
    context: ToolContext,
}

impl Agent {
    fn new(bank: &Arc<MemoryStore>, agent: &str, workspace: &Path, template: &ToolContext) -> Self {
        let mut context = template.clone();
        context.workspace = workspace.to_path_buf();
        context.cwd = workspace.to_path_buf();
        Agent {
            remember: RememberTool::new(bank.clone(), agent),
            recall: RecallTool::new(bank.clone(), agent),
            context,
        }
    }

    async fn remember(&self, arguments: Value) -> Result<String, String> {
        self.remember
            .call(arguments, &self.context)
            .await
            .map(|output| output.text)
            .map_err(|error| error.message)
    }

    async fn recall(&self, arguments: Value) -> Result<String, String> {
        self.recall
            .call(arguments, &self.context)
            .await
            .map(|output| output.text)
            .map_err(|error| error.message)
    }
}

#[tokio::test]
async fn project_notes_stay_in_their_repository_and_global_ones_go_everywhere() {
    let workspace = Workspace::new();
    let bank = Arc::new(MemoryStore::new());
    let here = Agent::new(&bank, "coder", &workspace.root, &workspace.context);
    let elsewhere = Agent::new(&bank, "coder", &workspace.outside(), &workspace.context);
    let tester = Agent::new(&bank, "tester", &workspace.root, &workspace.context);

    let saved = here
        .remember(json!({"content": "The staging deploy runs `make deploy-staging`."}))
        .await
        .unwrap();
    assert!(
        saved.starts_with("Remembered as #1 (project fact; kept until forgotten)."),
        "{saved}"
    );
    here.remember(
        json!({"content": "Answer in British English.", "scope": "global", "kind": "preference"}),
    )
    .await
    .unwrap();
    here.remember(json!({"content": "Deploy fixtures live in tests/deploy.", "scope": "agent"}))
        .await
        .unwrap();

    let found = here.recall(json!({"query": "deploy"})).await.unwrap();
    assert!(
        found.starts_with("2 entries matching \"deploy\", best first:\n"),
        "{found}"
    );
    assert!(
        found
            .contains("#1 [project fact, just now] The staging deploy runs `make deploy-staging`."),
        "{found}"
    );
    assert!(found.contains("#3 [agent fact, just now] Deploy fixtures live in tests/deploy."));

    let other_repo = elsewhere
        .recall(json!({"query": "deploy staging"}))
        .await
        .unwrap();
    assert!(
        other_repo.starts_with("Nothing in memory matches \"deploy staging\""),
        "{other_repo}"
    );
    let global = elsewhere.recall(json!({"query": "English"})).await.unwrap();
    assert!(
        global.contains("#2 [global preference, just now] Answer in British English."),
        "{global}"
    );

    let other_agent = tester.recall(json!({"query": "fixtures"})).await.unwrap();
    assert!(
        other_agent.starts_with("Nothing in memory matches"),
        "another agent's notes: {other_agent}"
    );
    let only_global = here
        .recall(json!({"query": "deploy", "scope": "global"}))
        .await
        .unwrap();
    assert!(
        only_global.contains("(searched global memory)"),
        "{only_global}"
    );

    let stored = bank.recall(&MemoryQuery::default()).await.unwrap();
    let agent_note = stored.iter().find(|hit| hit.entry.id == 3).unwrap();
    assert_eq!(agent_note.entry.memory.agent.as_deref(), Some("coder"));
    assert_eq!(
        agent_note.entry.memory.project.as_deref(),
        Some(workspace.root.display().to_string().as_str())
    );
    let global_note = stored.iter().find(|hit| hit.entry.id == 2).unwrap();
    assert_eq!(global_note.entry.memory.project, None);
}

#[tokio::test]
async fn bad_notes_are_refused_with_what_to_do_instead() {
    let workspace = Workspace::new();
    let bank = Arc::new(MemoryStore::new());
    let agent = Agent::new(&bank, "coder", &workspace.root, &workspace.context);
    let refusals = [
        (json!({"content": "   "}), "the note is empty"),
        (
            json!({"content": "key: sk-proj-7f3a9c0de1b2a1b2c3d4e5f6"}),
            "never store secrets",
        ),
        (
            json!({"content": "x", "scope": "team"}),
            "`scope` is `team`",
        ),
        (
            json!({"content": "x", "kind": "lesson"}),
            "recorded by Code Mesh itself",
        ),
        (json!({"content": "x", "ttl": "soon"}), "e.g. `30d`"),
        (json!({"text": "x"}), "invalid arguments for `remember`"),
    ];
    for (arguments, expected) in refusals {
        let problem = agent.remember(arguments.clone()).await.unwrap_err();
        assert!(problem.contains(expected), "{arguments}: {problem}");
    }
    assert!(
        bank.recall(&MemoryQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
    let problem = agent.recall(json!({"query": " ?! "})).await.unwrap_err();
    assert!(problem.contains("`query` has no words"), "{problem}");
    let problem = agent
        .recall(json!({"query": "x", "limit": 0}))
        .await
        .unwrap_err();
    assert!(problem.contains("`limit` is 0"), "{problem}");
}

#[tokio::test]
async fn the_same_note_twice_is_kept_once() {
    let workspace = Workspace::new();
    let bank = Arc::new(MemoryStore::new());
    let agent = Agent::new(&bank, "coder", &workspace.root, &workspace.context);
    agent
        .remember(json!({"content": "Use tabs."}))
        .await
        .unwrap();
    let again = agent
        .remember(json!({"content": " Use tabs. "}))
        .await
        .unwrap();
    assert_eq!(
        again,
        "Already remembered as #1 (project fact); nothing was added."
    );
    assert_eq!(bank.recall(&MemoryQuery::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_ttl_sets_the_expiry_and_expired_notes_are_not_recalled() {
    let workspace = Workspace::new();
    let bank = Arc::new(MemoryStore::new());
    let agent = Agent::new(&bank, "coder", &workspace.root, &workspace.context);
    let before = now_ms();
    let saved = agent
        .remember(json!({"content": "The release branch is frozen.", "ttl": "30d"}))
        .await
        .unwrap();
    assert!(
        saved.contains("expires in 29 days") || saved.contains("expires in 30 days"),
        "{saved}"
    );
    let hits = bank.recall(&MemoryQuery::default()).await.unwrap();
    let expires_at = hits[0].entry.memory.expires_at.unwrap();
    let month = 30 * 86_400_000;
    assert!(expires_at >= before + month && expires_at <= now_ms() + month);

    bank.remember(NewMemory {
        scope: MemoryScope::Project,
        kind: MemoryKind::Fact,
        project: Some(workspace.root.display().to_string()),
        agent: None,
        content: "The old release branch is frozen.".into(),
        key: None,
        source_session: None,
        expires_at: Some(now_ms() - 1),
    })
    .await
    .unwrap();
    let found = agent
        .recall(json!({"query": "release frozen"}))
        .await
        .unwrap();
    assert!(found.starts_with("1 entry matching"), "{found}");
    assert!(!found.contains("old release"), "{found}");
}
