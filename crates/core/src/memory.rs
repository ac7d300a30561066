//! Long-lived memory shared by every store: how queries filter entries, and how lessons
//! become entries.

use code_mesh_protocol::{Lesson, MemoryKind, MemoryQuery, MemoryScope, NewMemory, SessionId};

/// Entries a query returns when it names no limit.
pub const DEFAULT_RECALL_LIMIT: usize = 20;

/// The query's limit, or the default.
pub fn limit(query: &MemoryQuery) -> usize {
    if query.limit == 0 {
        DEFAULT_RECALL_LIMIT
    } else {
        query.limit
    }
}

/// Whether `memory` passes the query's scope, kind, project, agent and expiry filters (its
/// text is matched separately).
pub fn matches_filters(memory: &NewMemory, query: &MemoryQuery, now: u64) -> bool {
    if !query.scopes.is_empty() && !query.scopes.contains(&memory.scope) {
        return false;
    }
    if !query.kinds.is_empty() && !query.kinds.contains(&memory.kind) {
        return false;
    }
    let other_project = query
        .project
        .as_ref()
        .is_some_and(|project| memory.project.as_ref() != Some(project));
    if memory.scope != MemoryScope::Global && other_project {
        return false;
    }
    let other_agent = query
        .agent
        .as_ref()
        .is_some_and(|agent| memory.agent.as_ref() != Some(agent));
    if memory.scope == MemoryScope::Agent && other_agent {
        return false;
    }
    query.include_expired || memory.expires_at.is_none_or(|at| at > now)
}

/// The project memory entry a lesson of a task in `workspace` is stored as.
pub fn lesson_memory(lesson: &Lesson, workspace: &str, session: &SessionId) -> NewMemory {
    NewMemory {
        scope: MemoryScope::Project,
        kind: MemoryKind::Lesson,
        project: Some(workspace.to_owned()),
        agent: None,
        content: lesson.content.clone(),
        key: Some(lesson.key.clone()),
        source_session: Some(session.clone()),
        expires_at: None,
    }
}
