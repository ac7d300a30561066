//! Trying the next provider when one fails: [`FailoverProvider`].
//!
//! The candidates are tried in order (`[providers] default`/`model`, then `fallback`). Each
//! one is normally a [`RetryingProvider`](crate::RetryingProvider), so a candidate only fails
//! once its own retries are spent. When it fails before any content of the answer arrived,
//! the same request goes to the next candidate with that candidate's model, and the stream
//! says so with [`StreamEvent::Failover`]; the engine then records the new `provider/model`
//! on the answer, so the session shows which provider answered each turn.
//!
//! What fails over: every failure except a request the provider refused as malformed
//! (`BadRequest` other than 404): the next provider would most likely refuse the same
//! conversation, and quietly answering from another model would hide the mistake. A 404 (this
//! provider does not have the model) does fail over. So do rejected or missing keys (`Auth`):
//! the next provider has its own key, and a user who configured fallbacks wants an answer
//! more than an early stop; the failover event still names the failure, so nothing is hidden.
//! A failure after the answer started is never failed over: the user has already seen part
//! of it.

use std::sync::Arc;

use async_trait::async_trait;
use code_mesh_core::{
    ModelRequest, Provider, ProviderError, ProviderErrorKind, ProviderStream, StreamEvent,
};
use futures::StreamExt;

use crate::retry::is_answer;

/// One provider and model to try.
#[derive(Clone)]
pub struct Candidate {
    pub provider: Arc<dyn Provider>,
    /// The model's name as the provider knows it.
    pub model: String,
}

impl Candidate {
    pub fn new(provider: Arc<dyn Provider>, model: impl Into<String>) -> Self {
        Candidate {
            provider,
            model: model.into(),
        }
    }

    /// `provider/model`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.provider.name(), self.model)
    }
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full_name())
    }
}

/// Whether a failure before the answer started should move the request to the next provider.
/// A request too long for the window is not moved: the engine compacts it and retries.
pub fn fails_over(error: &ProviderError) -> bool {
    match error.kind {
        ProviderErrorKind::BadRequest => error.status == Some(404),
        ProviderErrorKind::ContextTooLong => false,
        _ => true,
    }
}

/// A provider that tries its candidates in order until one answers.
pub struct FailoverProvider {
    candidates: Arc<[Candidate]>,
}

impl FailoverProvider {
    /// `candidates` in order of preference; the first is the one the request names. Fails
    /// when there is none.
    pub fn new(candidates: Vec<Candidate>) -> Result<Self, ProviderError> {
        if candidates.is_empty() {
            return Err(ProviderError::new(
                ProviderErrorKind::Config,
                "",
                "no provider to send the request to",
            )
            .with_hint("pick a model with -m provider/model or `providers.model`"));
        }
        Ok(FailoverProvider {
            candidates: candidates.into(),
        })
    }

    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }
}

#[async_trait]
impl Provider for FailoverProvider {
    fn name(&self) -> &str {
        self.candidates
            .first()
            .map_or("", |candidate| candidate.provider.name())
    }

    async fn stream(&self, request: ModelRequest) -> Result<ProviderStream, ProviderError> {
        if self.candidates.len() == 1
            && let Some(only) = self.candidates.first()
        {
            return only.provider.stream(request).await;
        }
        let state = Failover {
            candidates: Arc::clone(&self.candidates),
            index: 0,
            request,
            current: None,
            answered: false,
            done: false,
        };
        Ok(futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
        .boxed())
    }
}

struct Failover {
    candidates: Arc<[Candidate]>,
    /// The candidate being tried.
    index: usize,
    /// The request as the engine made it (for the first candidate's model).
    request: ModelRequest,
    current: Option<ProviderStream>,
    answered: bool,
    done: bool,
}

impl Failover {
    async fn next(&mut self) -> Option<Result<StreamEvent, ProviderError>> {
        loop {
            if self.done {
                return None;
            }
            let Some(current) = self.current.as_mut() else {
                let candidate = self.candidates.get(self.index)?.clone();
                let mut request = self.request.clone();
                if self.index > 0 {
                    request.model = candidate.model.clone();
                }
                match candidate.provider.stream(request).await {
                    Ok(stream) => {
                        self.current = Some(stream);
                        continue;
                    }
                    Err(error) => return Some(self.failed(error)),
                }
            };
            return match current.next().await {
                None => {
                    self.done = true;
                    None
                }
                Some(Ok(event)) => {
                    self.answered |= is_answer(&event);
                    Some(Ok(event))
                }
                Some(Err(error)) if self.answered => {
                    self.done = true;
                    Some(Err(error))
                }
                Some(Err(error)) => Some(self.failed(error)),
            };
        }
    }

    /// After a candidate failed before answering: a `Failover` event, or the error.
    fn failed(&mut self, error: ProviderError) -> Result<StreamEvent, ProviderError> {
        self.current = None;
        let next = self.candidates.get(self.index + 1);
        match (self.candidates.get(self.index), next) {
            (Some(from), Some(to)) if fails_over(&error) => {
                self.index += 1;
                let (from, to) = (self.full_name_of(from), to.full_name());
                tracing::info!(%from, %to, kind = ?error.kind, %error, "failing over");
                Ok(StreamEvent::Failover {
                    from,
                    to,
                    message: error.message,
                })
            }
            _ => {
                self.done = true;
                Err(error)
            }
        }
    }

    /// The first candidate answers under the request's model, the others under their own.
    fn full_name_of(&self, candidate: &Candidate) -> String {
        if self.index == 0 {
            format!("{}/{}", candidate.provider.name(), self.request.model)
        } else {
            candidate.full_name()
        }
    }
}
