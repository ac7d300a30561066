//! The response cache table: [`SqliteStore`] as the engine's [`ResponseCache`].

use async_trait::async_trait;
use code_mesh_core::{ResponseCache, StoreError, now_ms};
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;

impl SqliteStore {
    /// The cached answer stored under `key`.
    pub fn cached_response_blocking(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reader()
            .prepare_cached("SELECT value FROM response_cache WHERE key = ?1")
            .and_then(|mut select| {
                select
                    .query_row(params![key], |row| row.get::<_, String>(0))
                    .optional()
            })
            .map_err(|err| self.sqlite_error("reading the response cache", err))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn cache_response_blocking(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.writer()
            .prepare_cached(
                "INSERT INTO response_cache (key, value, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
                 created_at = excluded.created_at",
            )
            .and_then(|mut upsert| upsert.execute(params![key, value, now_ms()]))
            .map(|_| ())
            .map_err(|err| self.sqlite_error("writing the response cache", err))
    }
}

#[async_trait]
impl ResponseCache for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.on_blocking_thread(move |store| store.cached_response_blocking(&key))
            .await
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.on_blocking_thread(move |store| store.cache_response_blocking(&key, &value))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn answers_are_stored_replaced_and_kept_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code-mesh.db");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get("k").await.unwrap(), None);
        store.put("k", "first").await.unwrap();
        store.put("k", "second").await.unwrap();
        store.put("other", "x").await.unwrap();
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some("second"));
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.get("k").await.unwrap().as_deref(), Some("second"));
        assert_eq!(reopened.get("other").await.unwrap().as_deref(), Some("x"));
    }
}
