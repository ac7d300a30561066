//! Titles, `latest_session` and `list_sessions`.

use code_mesh_core::NewSession;
use code_mesh_protocol::{Message, Part, Role, SessionId, ToolResult};
use code_mesh_store::SqliteStore;
use pretty_assertions::assert_eq;

use crate::support::{event, message_added, new_session, temp_db, text_message};

fn add(store: &SqliteStore, id: &SessionId, seq: u64, at: u64, message: Message) {
    store
        .append_event_blocking(&event(id, seq, at, message_added(message)))
        .unwrap();
}

fn title(store: &SqliteStore, id: &SessionId) -> String {
    store.session_blocking(id).unwrap().unwrap().title
}

#[test]
fn the_title_comes_from_the_first_user_prompt() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;

    // Neither an assistant message nor a user message without text names the session.
    add(
        &store,
        &id,
        1,
        1,
        text_message(1, Role::Assistant, "I am ready", 1),
    );
    let tool_only = Message {
        parts: vec![Part::ToolResult(ToolResult {
            call_id: "c".into(),
            name: "shell".into(),
            output: "ok".into(),
            is_error: false,
        })],
        ..text_message(2, Role::User, "", 2)
    };
    add(&store, &id, 2, 2, tool_only);
    assert_eq!(title(&store, &id), "");

    add(
        &store,
        &id,
        3,
        3,
        text_message(
            3,
            Role::User,
            "\n   Refactor the parser   \nso that it streams",
            3,
        ),
    );
    assert_eq!(title(&store, &id), "Refactor the parser");

    // Later prompts do not rename it.
    add(
        &store,
        &id,
        4,
        4,
        text_message(4, Role::User, "Now the lexer", 4),
    );
    assert_eq!(title(&store, &id), "Refactor the parser");
}

#[test]
fn a_long_first_line_is_cut_to_sixty_chars_with_an_ellipsis() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = store.create_session_blocking(new_session("/w")).unwrap().id;
    let prompt = format!("{}\nsecond line", "Ünïcödé ".repeat(20));
    add(&store, &id, 1, 1, text_message(1, Role::User, &prompt, 1));
    let title = title(&store, &id);
    assert_eq!(title.chars().count(), 60, "{title}");
    assert_eq!(title, format!("{}Ünï…", "Ünïcödé ".repeat(7)),);
}

#[test]
fn latest_session_is_the_most_recently_updated_in_exactly_that_cwd() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let first = store.create_session_blocking(new_session("/a")).unwrap();
    let other = store.create_session_blocking(new_session("/b")).unwrap();
    let second = store.create_session_blocking(new_session("/a")).unwrap();
    store
        .create_session_blocking(new_session("/a/sub"))
        .unwrap();

    // Created last, so latest while nothing has been appended.
    assert_eq!(
        store.latest_session_blocking("/a").unwrap().map(|s| s.id),
        Some(second.id.clone())
    );

    // Activity in the older session makes it the latest.
    add(
        &store,
        &first.id,
        1,
        second.created_at + 10_000,
        text_message(1, Role::User, "more", 1),
    );
    let latest = store.latest_session_blocking("/a").unwrap().unwrap();
    assert_eq!(latest.id, first.id);
    assert_eq!(latest.title, "more");
    assert_eq!(
        store.latest_session_blocking("/b").unwrap().map(|s| s.id),
        Some(other.id)
    );
    assert_eq!(store.latest_session_blocking("/c").unwrap(), None);
    assert_eq!(store.latest_session_blocking("/a/").unwrap(), None);
}

#[test]
fn list_sessions_is_most_recent_first_and_limited() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let ids: Vec<SessionId> = (0..4)
        .map(|_| store.create_session_blocking(new_session("/w")).unwrap().id)
        .collect();
    let later = store.session_blocking(&ids[3]).unwrap().unwrap().created_at + 60_000;
    add(
        &store,
        &ids[1],
        1,
        later,
        text_message(1, Role::User, "bump", 1),
    );

    let listed: Vec<SessionId> = store
        .list_sessions_blocking(10)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        listed,
        vec![
            ids[1].clone(),
            ids[3].clone(),
            ids[2].clone(),
            ids[0].clone()
        ]
    );
    assert_eq!(store.list_sessions_blocking(2).unwrap().len(), 2);
    assert_eq!(store.list_sessions_blocking(0).unwrap(), vec![]);
    assert_eq!(store.list_sessions_blocking(usize::MAX).unwrap().len(), 4);
}

#[test]
fn user_sessions_in_a_workspace_leave_out_other_workspaces_and_sub_agents() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let mine = store.create_session_blocking(new_session("/w")).unwrap();
    let newer = store.create_session_blocking(new_session("/w")).unwrap();
    store
        .create_session_blocking(NewSession {
            parent_id: Some(mine.id.clone()),
            agent: Some("tester".into()),
            ..new_session("/w")
        })
        .unwrap();
    store
        .create_session_blocking(NewSession {
            workspace: "/elsewhere".into(),
            ..new_session("/elsewhere")
        })
        .unwrap();
    let workspace = mine.workspace.clone();

    let listed: Vec<SessionId> = store
        .user_sessions_in_blocking(&workspace, 10)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![newer.id.clone(), mine.id.clone()]);
    assert_eq!(
        store
            .user_sessions_in_blocking(&workspace, 1)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.user_sessions_in_blocking("/nowhere", 10).unwrap(),
        vec![]
    );
}
