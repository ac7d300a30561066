//! SQLite persistence for Code Mesh sessions: [`SqliteStore`], the [`Store`] the native front
//! ends give the engine.
//!
//! Everything lives in one SQLite file (`<data dir>/code-mesh.db`): the sessions, their
//! message histories and their event logs (see the schema in `schema.rs`). Sessions are event
//! sourced: the engine appends events, and each append stores the event *and* applies it to
//! the session's state (history, usage totals, title, model) in one transaction, so the state
//! always matches the log and resuming a session reads the history directly instead of
//! replaying events.
//!
//! The same file keeps the response cache ([`ResponseCache`], `[providers] cache = true`).
//!
//! Durability: the database runs in WAL mode with `synchronous=NORMAL` and nothing is
//! buffered in memory, so killing the process at any point loses no committed event and never
//! corrupts the file. Several processes may share the file (a busy timeout of 5 s covers
//! their brief write locks).
//!
//! Threading: rusqlite is synchronous. The `*_blocking` methods run on the calling thread
//! (for the CLI's `sessions list|show`); the async [`Store`] methods run them through
//! `tokio::task::spawn_blocking`, keeping SQLite off the async worker threads.
//!
//! This crate depends on `code-mesh-core` (for the [`Store`] trait) and
//! `code-mesh-protocol` only.
//!
//! [`Store`]: code_mesh_core::Store
//! [`ResponseCache`]: code_mesh_core::ResponseCache

mod apply;
mod cache;
mod checkpoint;
mod error;
mod memory;
mod schema;
mod sqlite;

pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
