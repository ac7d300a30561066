//! The `memories` table and its FTS5 index: [`SqliteStore`] as the engine's [`MemoryBank`].

use std::path::Path;

use async_trait::async_trait;
use code_mesh_core::{MemoryBank, StoreError, now_ms};
use code_mesh_protocol::{
    MemoryEntry, MemoryHit, MemoryKind, MemoryQuery, MemoryScope, NewMemory, SessionId,
};
use rusqlite::{Connection, Row, ToSql, TransactionBehavior, params, params_from_iter};

use crate::{SqliteStore, error};

const ENTRY_COLUMNS: &str = "m.id, m.scope, m.kind, m.project, m.agent, m.content, m.key, \
                             m.source_session, m.created_at, m.expires_at";

impl SqliteStore {
    /// Stores an entry (replacing a keyed one) and drops entries whose time has passed.
    pub fn remember_blocking(&self, memory: NewMemory) -> Result<MemoryEntry, StoreError> {
        let now = now_ms();
        let mut conn = self.writer();
        let fail = |err: rusqlite::Error| self.sqlite_error("storing a memory entry", err);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.prepare_cached("DELETE FROM memories WHERE expires_at <= ?1")
            .and_then(|mut delete| delete.execute([now]))
            .map_err(fail)?;
        let id = insert(&tx, self.path(), &memory, now)?;
        tx.commit().map_err(fail)?;
        Ok(MemoryEntry {
            id,
            memory,
            created_at: now,
        })
    }

    /// Entries matching `query`. With words: the entries holding every word first, then
    /// those holding only some, each group by BM25 rank (rarer words and shorter entries
    /// first). Without words: newest first.
    ///
    /// Entries with every word are found with an FTS5 AND query, cheap even for common words;
    /// ranking all entries with any word (the OR query) costs about 1 µs per matching entry,
    /// so it only runs when the AND query found fewer than the limit.
    pub fn recall_blocking(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, StoreError> {
        let now = now_ms();
        let limit = code_mesh_core::memory::limit(query);
        let text = query.text.as_deref().unwrap_or("");
        let words = fts_words(text);
        if words.is_empty() {
            if !text.trim().is_empty() {
                // Words made only of punctuation match nothing.
                return Ok(Vec::new());
            }
            return self.select_hits(None, query, limit, now);
        }
        let mut hits = self.select_hits(Some(&words.join(" ")), query, limit, now)?;
        if words.len() > 1 && hits.len() < limit {
            // The best entries with some of the words; at most `hits.len()` of them are
            // already there.
            let some = self.select_hits(Some(&words.join(" OR ")), query, limit, now)?;
            for hit in some {
                if hits.len() == limit {
                    break;
                }
                if !hits.iter().any(|known| known.entry.id == hit.entry.id) {
                    hits.push(hit);
                }
            }
        }
        Ok(hits)
    }

    /// Up to `limit` entries passing the query's filters: those matching the FTS5 query
    /// `fts` by rank, or, without one, newest first.
    fn select_hits(
        &self,
        fts: Option<&str>,
        query: &MemoryQuery,
        limit: usize,
        now: u64,
    ) -> Result<Vec<MemoryHit>, StoreError> {
        let mut sql = String::new();
        let mut values: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(fts) = fts {
            sql.push_str(&format!(
                "SELECT {ENTRY_COLUMNS}, bm25(memories_fts) AS rank FROM memories_fts \
                 JOIN memories m ON m.id = memories_fts.rowid WHERE memories_fts MATCH ?"
            ));
            values.push(Box::new(fts.to_owned()));
        } else {
            sql.push_str(&format!(
                "SELECT {ENTRY_COLUMNS}, 0.0 AS rank FROM memories m WHERE 1"
            ));
        }
        if !query.scopes.is_empty() {
            sql.push_str(&format!(" AND m.scope IN ({})", marks(query.scopes.len())));
            for scope in &query.scopes {
                values.push(Box::new(scope.name()));
            }
        }
        if !query.kinds.is_empty() {
            sql.push_str(&format!(" AND m.kind IN ({})", marks(query.kinds.len())));
            for kind in &query.kinds {
                values.push(Box::new(kind.name()));
            }
        }
        if let Some(project) = &query.project {
            sql.push_str(" AND (m.scope = 'global' OR m.project = ?)");
            values.push(Box::new(project.clone()));
        }
        if let Some(agent) = &query.agent {
            sql.push_str(" AND (m.scope <> 'agent' OR m.agent = ?)");
            values.push(Box::new(agent.clone()));
        }
        if !query.include_expired {
            sql.push_str(" AND (m.expires_at IS NULL OR m.expires_at > ?)");
            values.push(Box::new(now));
        }
        if fts.is_some() {
            sql.push_str(" ORDER BY rank, m.id DESC LIMIT ?");
        } else {
            // Served by `memories_by_time`, read backwards until the limit is reached.
            sql.push_str(" ORDER BY m.created_at DESC, m.id DESC LIMIT ?");
        }
        values.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));

        let conn = self.reader();
        let fail = |err: rusqlite::Error| self.sqlite_error("searching memory", err);
        let mut select = conn.prepare_cached(&sql).map_err(fail)?;
        let rows = select
            .query_map(params_from_iter(values.iter().map(|v| v.as_ref())), |row| {
                Ok((entry_from_row(row)?, row.get::<_, f64>(10)?))
            })
            .map_err(fail)?;
        let mut hits = Vec::new();
        for row in rows {
            let (entry, rank) = row.map_err(fail)?;
            hits.push(MemoryHit {
                entry: entry
                    .map_err(|why| error::unstorable(self.path(), "a memory entry", why))?,
                rank,
            });
        }
        Ok(hits)
    }

    /// Removes the entry with this id; false when there is none.
    pub fn forget_blocking(&self, id: u64) -> Result<bool, StoreError> {
        self.writer()
            .prepare_cached("DELETE FROM memories WHERE id = ?1")
            .and_then(|mut delete| delete.execute([id]))
            .map(|deleted| deleted > 0)
            .map_err(|err| self.sqlite_error(&format!("forgetting memory entry {id}"), err))
    }
}

/// Inserts `memory` within an open transaction, first removing the keyed entry it replaces.
pub(crate) fn insert(
    conn: &Connection,
    path: &Path,
    memory: &NewMemory,
    now: u64,
) -> Result<u64, StoreError> {
    let fail = |err: rusqlite::Error| error::sqlite(path, "storing a memory entry", &err);
    if let Some(key) = &memory.key {
        conn.prepare_cached(
            "DELETE FROM memories WHERE scope = ?1 AND IFNULL(project, '') = IFNULL(?2, '') \
             AND IFNULL(agent, '') = IFNULL(?3, '') AND key = ?4",
        )
        .and_then(|mut delete| {
            delete.execute(params![
                memory.scope.name(),
                memory.project,
                memory.agent,
                key
            ])
        })
        .map_err(fail)?;
    }
    conn.prepare_cached(
        "INSERT INTO memories (scope, kind, project, agent, content, key, source_session, \
         created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            memory.scope.name(),
            memory.kind.name(),
            memory.project,
            memory.agent,
            memory.content,
            memory.key,
            memory.source_session.as_ref().map(SessionId::as_str),
            now,
            memory.expires_at
        ])
    })
    .map_err(fail)?;
    u64::try_from(conn.last_insert_rowid())
        .map_err(|err| error::unstorable(path, "a memory entry id", err))
}

/// The words of free text as FTS5 strings: each quoted, so that no input is FTS5 syntax
/// (`AND`, `NEAR(`, `*`, `col:`, quotes). Joined with spaces they make an AND query, with
/// ` OR ` an OR query; either way BM25 ranks rarer words higher.
fn fts_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|word| !word.is_empty())
        .map(|word| format!("\"{word}\""))
        .collect()
}

fn marks(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// An entry from the [`ENTRY_COLUMNS`]; the inner error names an unknown scope or kind.
fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Result<MemoryEntry, String>> {
    let scope: String = row.get(1)?;
    let kind: String = row.get(2)?;
    let (Some(scope), Some(kind)) = (MemoryScope::from_name(&scope), MemoryKind::from_name(&kind))
    else {
        return Ok(Err(format!("unknown scope `{scope}` or kind `{kind}`")));
    };
    Ok(Ok(MemoryEntry {
        id: row.get(0)?,
        memory: NewMemory {
            scope,
            kind,
            project: row.get(3)?,
            agent: row.get(4)?,
            content: row.get(5)?,
            key: row.get(6)?,
            source_session: row.get::<_, Option<String>>(7)?.map(SessionId),
            expires_at: row.get(9)?,
        },
        created_at: row.get(8)?,
    }))
}

#[async_trait]
impl MemoryBank for SqliteStore {
    async fn remember(&self, memory: NewMemory) -> Result<MemoryEntry, StoreError> {
        self.on_blocking_thread(move |store| store.remember_blocking(memory))
            .await
    }

    async fn recall(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, StoreError> {
        let query = query.clone();
        self.on_blocking_thread(move |store| store.recall_blocking(&query))
            .await
    }

    async fn forget(&self, id: u64) -> Result<bool, StoreError> {
        self.on_blocking_thread(move |store| store.forget_blocking(id))
            .await
    }
}
