//! The `memories` table and its FTS5 index: remembering, ranked recall, filters, keys, expiry.

use code_mesh_core::{MemoryBank, now_ms};
use code_mesh_protocol::{MemoryEntry, MemoryKind, MemoryQuery, MemoryScope, NewMemory, SessionId};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::temp_db;

fn fact(project: &str, content: &str) -> NewMemory {
    NewMemory {
        scope: MemoryScope::Project,
        kind: MemoryKind::Fact,
        project: Some(project.to_owned()),
        agent: None,
        content: content.to_owned(),
        key: None,
        source_session: None,
        expires_at: None,
    }
}

fn global(content: &str) -> NewMemory {
    NewMemory {
        scope: MemoryScope::Global,
        kind: MemoryKind::Preference,
        project: None,
        ..fact("", content)
    }
}

fn agent_note(project: &str, agent: &str, content: &str) -> NewMemory {
    NewMemory {
        scope: MemoryScope::Agent,
        agent: Some(agent.to_owned()),
        ..fact(project, content)
    }
}

fn search(text: &str) -> MemoryQuery {
    MemoryQuery {
        text: Some(text.to_owned()),
        ..MemoryQuery::default()
    }
}

fn contents(store: &SqliteStore, query: &MemoryQuery) -> Vec<String> {
    store
        .recall_blocking(query)
        .unwrap()
        .into_iter()
        .map(|hit| hit.entry.memory.content)
        .collect()
}

/// FTS5's own consistency check of the index against the `memories` table.
fn assert_index_consistent(store: &SqliteStore) {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute(
        "INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .unwrap();
}

#[test]
fn remembered_entries_come_back_whole() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let memory = NewMemory {
        key: Some("style".into()),
        source_session: Some(SessionId::from("ses_a")),
        expires_at: Some(now_ms() + 3_600_000),
        ..agent_note(
            "/p",
            "tester",
            "The tester prefers `pytest -x` for quick runs",
        )
    };
    let before = now_ms();
    let entry = store.remember_blocking(memory.clone()).unwrap();
    assert!(entry.created_at >= before);
    assert_eq!(entry.memory, memory);
    let hits = store.recall_blocking(&search("pytest")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry, entry);
    assert!(
        hits[0].rank < 0.0,
        "bm25 ranks are negative: {}",
        hits[0].rank
    );
}

#[test]
fn stemming_finds_other_forms_of_a_word() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    store
        .remember_blocking(fact("/p", "Run the test suite with cargo test"))
        .unwrap();
    store
        .remember_blocking(fact("/p", "The build needs protoc installed"))
        .unwrap();
    for query in ["tests", "testing", "TESTED", "Tests?"] {
        assert_eq!(
            contents(&store, &search(query)),
            ["Run the test suite with cargo test"],
            "{query}"
        );
    }
    assert_eq!(
        contents(&store, &search("building")),
        ["The build needs protoc installed"]
    );
}

#[test]
fn rarer_words_and_more_matching_words_rank_first() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    for n in 0..20 {
        let tool = if n < 5 { "cargo" } else { "make" };
        store
            .remember_blocking(fact("/p", &format!("{tool} builds crate number {n}")))
            .unwrap();
    }
    store
        .remember_blocking(fact("/p", "cargo clippy must pass before a commit"))
        .unwrap();
    store
        .remember_blocking(fact("/p", "clippy runs on every push to main"))
        .unwrap();

    // `clippy` is rare, `cargo` common: the entry with both words comes first, then the one
    // with `clippy` alone (though longer), then those with `cargo`.
    let found = contents(&store, &search("cargo clippy"));
    assert_eq!(found.len(), 7, "{found:#?}");
    assert_eq!(found[0], "cargo clippy must pass before a commit");
    assert_eq!(found[1], "clippy runs on every push to main");
    assert!(found[2..].iter().all(|c| c.starts_with("cargo builds")));

    let hits = store
        .recall_blocking(&MemoryQuery {
            limit: 3,
            ..search("clippy cargo")
        })
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.windows(2).all(|w| w[0].rank <= w[1].rank), "{hits:?}");
}

#[test]
fn filters_by_scope_kind_project_and_agent() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    store
        .remember_blocking(fact("/a", "alpha uses tabs"))
        .unwrap();
    store
        .remember_blocking(fact("/b", "beta uses tabs"))
        .unwrap();
    store.remember_blocking(global("always use tabs")).unwrap();
    store
        .remember_blocking(agent_note("/a", "tester", "tester of alpha uses tabs"))
        .unwrap();
    store
        .remember_blocking(agent_note("/a", "coder", "coder of alpha uses tabs"))
        .unwrap();
    store
        .remember_blocking(NewMemory {
            kind: MemoryKind::Lesson,
            ..fact("/a", "lesson: alpha tabs break the linter")
        })
        .unwrap();

    let mut query = search("tabs");
    let sorted = |query: &MemoryQuery| {
        let mut found = contents(&store, query);
        found.sort();
        found
    };
    assert_eq!(sorted(&query).len(), 6);

    query.project = Some("/a".into());
    assert_eq!(
        sorted(&query),
        [
            "alpha uses tabs",
            "always use tabs",
            "coder of alpha uses tabs",
            "lesson: alpha tabs break the linter",
            "tester of alpha uses tabs",
        ]
    );
    query.agent = Some("tester".into());
    assert_eq!(
        sorted(&query),
        [
            "alpha uses tabs",
            "always use tabs",
            "lesson: alpha tabs break the linter",
            "tester of alpha uses tabs",
        ]
    );
    query.scopes = vec![MemoryScope::Agent, MemoryScope::Global];
    assert_eq!(
        sorted(&query),
        ["always use tabs", "tester of alpha uses tabs"]
    );
    query.scopes = vec![];
    query.kinds = vec![MemoryKind::Lesson, MemoryKind::Preference];
    assert_eq!(
        sorted(&query),
        ["always use tabs", "lesson: alpha tabs break the linter"]
    );

    // Global entries are seen from any project, even one with nothing of its own.
    let elsewhere = MemoryQuery {
        project: Some("/nowhere".into()),
        ..search("tabs")
    };
    assert_eq!(contents(&store, &elsewhere), ["always use tabs"]);
    // The same filters without text list newest first.
    let listing = MemoryQuery {
        project: Some("/b".into()),
        ..MemoryQuery::default()
    };
    assert_eq!(
        contents(&store, &listing),
        ["always use tabs", "beta uses tabs"]
    );
}

#[test]
fn without_words_entries_are_listed_newest_first() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    for n in 0..25 {
        store
            .remember_blocking(fact("/p", &format!("entry {n}")))
            .unwrap();
    }
    // At most 20 unless the query says otherwise, newest first, with or without words.
    assert_eq!(contents(&store, &MemoryQuery::default()).len(), 20);
    assert_eq!(contents(&store, &search("entry")).len(), 20);
    for n in 0..20 {
        let doomed = store.recall_blocking(&search(&n.to_string())).unwrap();
        assert!(store.forget_blocking(doomed[0].entry.id).unwrap());
    }
    let newest_first = ["entry 24", "entry 23", "entry 22", "entry 21", "entry 20"];
    assert_eq!(contents(&store, &MemoryQuery::default()), newest_first);
    for text in ["", "   ", "\n\t"] {
        let hits = store.recall_blocking(&search(text)).unwrap();
        let found: Vec<_> = hits
            .iter()
            .map(|h| h.entry.memory.content.as_str())
            .collect();
        assert_eq!(found, newest_first, "{text:?}");
        assert!(hits.iter().all(|hit| hit.rank == 0.0));
    }
    let limited = MemoryQuery {
        limit: 2,
        ..MemoryQuery::default()
    };
    assert_eq!(contents(&store, &limited), ["entry 24", "entry 23"]);
}

#[test]
fn a_keyed_entry_replaces_the_one_with_the_same_scope_project_agent_and_key() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let keyed = |memory: NewMemory, key: &str| NewMemory {
        key: Some(key.to_owned()),
        ..memory
    };
    // Global entries have no project and no agent: NULLs must still collide.
    let first = store
        .remember_blocking(keyed(global("answer in English words"), "language"))
        .unwrap();
    let second = store
        .remember_blocking(keyed(global("answer in French words"), "language"))
        .unwrap();
    // A replaced entry's id is never given to another entry (`forget ID` must not hit one
    // the user never saw).
    assert!(second.id > first.id);
    assert_eq!(
        contents(&store, &search("answer")),
        ["answer in French words"]
    );

    // Same key elsewhere: another project, another agent, another scope, or no key at all.
    store
        .remember_blocking(keyed(fact("/a", "tests: make words"), "test-command"))
        .unwrap();
    store
        .remember_blocking(keyed(fact("/b", "tests: just words"), "test-command"))
        .unwrap();
    store
        .remember_blocking(keyed(
            agent_note("/a", "tester", "tests: tox words"),
            "test-command",
        ))
        .unwrap();
    store
        .remember_blocking(keyed(
            agent_note("/a", "coder", "tests: nox words"),
            "test-command",
        ))
        .unwrap();
    store
        .remember_blocking(fact("/a", "unkeyed words"))
        .unwrap();
    store
        .remember_blocking(fact("/a", "unkeyed words"))
        .unwrap();
    assert_eq!(contents(&store, &search("words")).len(), 7);

    store
        .remember_blocking(keyed(fact("/a", "tests: cargo words"), "test-command"))
        .unwrap();
    store
        .remember_blocking(keyed(
            agent_note("/a", "tester", "tests: pytest words"),
            "test-command",
        ))
        .unwrap();
    let mut found = contents(&store, &search("words"));
    found.sort();
    assert_eq!(
        found,
        [
            "answer in French words",
            "tests: cargo words",
            "tests: just words",
            "tests: nox words",
            "tests: pytest words",
            "unkeyed words",
            "unkeyed words",
        ]
    );
    assert_index_consistent(&store);

    // The unique index itself refuses a duplicate written behind the store's back.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let duplicate = conn.execute(
        "INSERT INTO memories (scope, kind, content, key, created_at) \
         VALUES ('global', 'preference', 'x', 'language', 1)",
        [],
    );
    assert!(duplicate.is_err(), "{duplicate:?}");
}

#[test]
fn expired_entries_are_not_recalled_and_are_purged_by_the_next_remember() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let now = now_ms();
    let expiring = |content: &str, expires_at: u64| NewMemory {
        expires_at: Some(expires_at),
        ..fact("/p", content)
    };
    store
        .remember_blocking(expiring("fresh branch name is trunk", now + 3_600_000))
        .unwrap();
    store
        .remember_blocking(fact("/p", "lasting branch policy"))
        .unwrap();
    // Stored even though already expired (the purge runs before the insert).
    store
        .remember_blocking(expiring("stale branch name is main", now - 1))
        .unwrap();

    let mut found = contents(&store, &search("branch"));
    found.sort();
    assert_eq!(
        found,
        ["fresh branch name is trunk", "lasting branch policy"]
    );
    assert_eq!(contents(&store, &MemoryQuery::default()).len(), 2);
    let with_expired = MemoryQuery {
        include_expired: true,
        ..search("branch")
    };
    assert_eq!(contents(&store, &with_expired).len(), 3);

    // Any remember drops what has expired, index entries included.
    store.remember_blocking(global("unrelated")).unwrap();
    let mut found = contents(&store, &with_expired);
    found.sort();
    assert_eq!(
        found,
        ["fresh branch name is trunk", "lasting branch policy"]
    );
    assert_index_consistent(&store);
}

#[test]
fn forget_removes_an_entry_once() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let kept = store
        .remember_blocking(fact("/p", "keep this note"))
        .unwrap();
    let dropped = store
        .remember_blocking(fact("/p", "drop this note"))
        .unwrap();
    assert!(store.forget_blocking(dropped.id).unwrap());
    assert!(!store.forget_blocking(dropped.id).unwrap());
    assert!(!store.forget_blocking(9_999).unwrap());
    let hits = store.recall_blocking(&search("note")).unwrap();
    let entries: Vec<MemoryEntry> = hits.into_iter().map(|hit| hit.entry).collect();
    assert_eq!(entries, vec![kept]);
    assert_eq!(contents(&store, &search("drop")), Vec::<String>::new());
    // The id of the newest entry, forgotten, is not given out again.
    let next = store.remember_blocking(fact("/p", "another note")).unwrap();
    assert!(next.id > dropped.id);
    assert_index_consistent(&store);
}

#[test]
fn any_text_is_a_valid_query() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    store
        .remember_blocking(fact(
            "/p",
            "the \"quoted\" AND unquoted NEAR words: naïve café 東京 ß",
        ))
        .unwrap();
    let queries = [
        "\"",
        "\"\"",
        "\"quoted",
        "AND",
        "OR",
        "NOT",
        "a AND b OR NOT c",
        "*",
        "quot*",
        "NEAR(",
        "NEAR(a b, 2)",
        "NEAR",
        "(",
        ")",
        "{col}: x",
        "content:naïve",
        "^start",
        "-minus",
        "+plus",
        "a:b:c",
        "'single'",
        "\\",
        "%_",
        "_",
        "__init__",
        "?!.,;",
        "🙂",
        "🙂 emoji",
        "\u{0301}",
        "e\u{0301}",
        "\0",
        "東京",
        "ß",
        "naive",
        "CAFÉ",
        "\u{200b}",
        "x".repeat(10_000).as_str(),
        &"word ".repeat(500),
    ]
    .map(str::to_owned);
    for text in &queries {
        store
            .recall_blocking(&search(text))
            .unwrap_or_else(|err| panic!("{text:?}: {err}"));
    }
    let found = |text: &str| contents(&store, &search(text)).len();
    // Syntax is taken as plain words.
    assert_eq!(found("\"quoted"), 1);
    assert_eq!(found("AND"), 1);
    assert_eq!(found("NEAR("), 1);
    assert_eq!(found("quot*"), 1);
    assert_eq!(found("content:naïve"), 1);
    // Unicode: diacritics folded, other scripts matched.
    assert_eq!(found("naive"), 1);
    assert_eq!(found("CAFÉ"), 1);
    assert_eq!(found("東京"), 1);
    // Nothing to search for, nothing found.
    assert_eq!(found("?!.,;"), 0);
    assert_eq!(found("🙂"), 0);
    assert_eq!(found("_"), 0);
    assert_eq!(found("missing"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_bank_trait_runs_the_same_operations() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let bank: &dyn MemoryBank = &store;
    let entry = bank.remember(fact("/p", "lint with ruff")).await.unwrap();
    let hits = bank.recall(&search("ruff")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry, entry);
    assert!(bank.forget(entry.id).await.unwrap());
    assert_eq!(bank.recall(&search("ruff")).await.unwrap(), vec![]);
}
