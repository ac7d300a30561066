//! Building the provider for a wire.

use std::sync::Arc;

use code_mesh_core::{Provider, ProviderError};
use code_mesh_protocol::config::Wire;

use crate::{OpenAiChatProvider, ProviderSettings};

/// The provider speaking `settings.wire`.
pub fn build_provider(settings: ProviderSettings) -> Result<Arc<dyn Provider>, ProviderError> {
    match settings.wire {
        Wire::Chat => Ok(Arc::new(OpenAiChatProvider::new(settings)?)),
        other => Err(ProviderError::new(
            code_mesh_core::ProviderErrorKind::Config,
            settings.name.clone(),
            format!(
                "the `{}` wire of provider `{}` is not available in this build",
                wire_name(other),
                settings.name
            ),
        )
        .with_hint(format!(
            "set `providers.{}.wire = \"chat\"` to use its OpenAI-compatible endpoint",
            settings.name
        ))),
    }
}

/// The config name of a wire.
pub fn wire_name(wire: Wire) -> &'static str {
    match wire {
        Wire::Chat => "chat",
        Wire::Responses => "responses",
        Wire::Anthropic => "anthropic",
        Wire::Gemini => "gemini",
        Wire::Ollama => "ollama",
    }
}
