//! [`CliHost`]: the server's sessions, opened as `run` opens them.

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::Store;
use code_mesh_protocol::{ModelListing, SessionId, SessionInfo};
use code_mesh_providers::ProviderRegistry;
use code_mesh_server::{HostError, HostErrorKind, OpenRequest, OpenedSession, SessionHost};
use code_mesh_store::SqliteStore;

use crate::exit::{CliError, Exit};
use crate::run::SessionRequest;
use crate::setup::Context;

/// Opens sessions with `serve`'s context (its config with `serve`'s `--model`, `--strategy`
/// and `--sandbox`) in one store shared by every session.
pub struct CliHost {
    context: Context,
    sqlite: SqliteStore,
    store: Arc<dyn Store>,
    auto_approve: bool,
}

impl CliHost {
    pub fn new(context: Context, sqlite: SqliteStore, auto_approve: bool) -> Self {
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        CliHost {
            context,
            sqlite,
            store,
            auto_approve,
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn existing(&self, id: &SessionId) -> Result<SessionInfo, HostError> {
        self.store
            .session(id)
            .await
            .map_err(|error| HostError::new(HostErrorKind::Unavailable, error.to_string()))?
            .ok_or_else(|| HostError::new(HostErrorKind::NotFound, format!("no session `{id}`")))
    }
}

#[async_trait]
impl SessionHost for CliHost {
    async fn open(&self, request: OpenRequest) -> Result<OpenedSession, HostError> {
        let resumed_model = match &request.resume {
            Some(id) => Some(self.existing(id).await?.model).filter(|model| !model.is_empty()),
            None => None,
        };
        let mut registry = ProviderRegistry::new(
            |name: &str| self.context.env_var(name),
            &self.context.loaded.config.providers,
        );
        crate::auth::fill_stored_keys(&self.context, &mut registry);
        // The model `open_session_with` will pick, checked first: a name that cannot be is the
        // request's fault (400), a provider without its key is this setup's (503).
        let model = request
            .model
            .clone()
            .or(resumed_model)
            .or_else(|| registry.default_model());
        if let Some(model) = &model {
            check_model(&registry, model)?;
        }
        let session_request = SessionRequest {
            session: request.resume,
            continue_last: false,
            model: request.model,
            strategy: request.strategy,
            agents: None,
            auto_approve: self.auto_approve,
        };
        let opened = crate::run::open_session_with(&self.context, &self.sqlite, &session_request)
            .await
            // With no model known, `open_session_with` looked for a local Ollama and found none
            // (or one without models): the setup's fault, like a missing key.
            .map_err(|error| host_error(error, model.is_none()))?;
        Ok(OpenedSession {
            handle: opened.handle,
            driver: opened.driver,
        })
    }

    async fn fork(
        &self,
        id: &SessionId,
        through_seq: Option<u64>,
    ) -> Result<SessionInfo, HostError> {
        self.existing(id).await?;
        let (child, _) = crate::sessions::fork_session(&*self.store, id, through_seq)
            .await
            .map_err(|error| host_error(error, false))?;
        Ok(child)
    }

    async fn models(&self) -> Result<Vec<ModelListing>, HostError> {
        crate::models::listings(&self.context)
            .await
            .map_err(|error| host_error(error, false))
    }

    fn config(&self) -> serde_json::Value {
        match serde_json::to_value(&self.context.loaded.config) {
            Ok(value) => super::mask::mask_secrets(value),
            Err(error) => serde_json::json!({
                "error": format!("cannot encode the configuration: {error}")
            }),
        }
    }
}

/// Whether `model` names a model of a provider that can be called.
fn check_model(registry: &ProviderRegistry, model: &str) -> Result<(), HostError> {
    let Err(error) = registry.resolve_model(model) else {
        return Ok(());
    };
    let missing_key = registry.get(&error.provider).is_some_and(|provider| {
        !provider.base_url.is_empty()
            && provider.api_key.is_none()
            && provider.api_key_env.is_some()
    });
    let kind = if missing_key {
        HostErrorKind::Unavailable
    } else {
        HostErrorKind::BadRequest
    };
    Err(with_hint(HostError::new(kind, error.message), error.hint))
}

/// A command-line error as the API reports it: bad arguments are the request's, a provider
/// that cannot be used is unavailable, and so is a session whose store or config fails.
fn host_error(error: CliError, usage_is_unavailable: bool) -> HostError {
    let kind = match error.exit {
        Exit::Usage if usage_is_unavailable => HostErrorKind::Unavailable,
        Exit::Usage => HostErrorKind::BadRequest,
        _ => HostErrorKind::Unavailable,
    };
    with_hint(HostError::new(kind, error.message), error.hint)
}

fn with_hint(error: HostError, hint: Option<String>) -> HostError {
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}
