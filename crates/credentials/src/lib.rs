//! Provider API keys for Code Mesh, stored encrypted at rest.
//!
//! `code-mesh auth login PROVIDER` puts a key here; runs use it when the provider's key is
//! not in the environment (the environment always wins). Keys live in [`Secret`]s, whose
//! `Debug` and `Display` are redacted and whose memory is wiped on drop, so they do not end
//! up in logs or error messages by accident.
//!
//! `code-mesh serve`'s API token is kept in the same store, under [`SERVER_TOKEN`].
//!
//! [`CredentialStore`] reads and writes the provider → key map through a [`KeyBackend`]. One
//! backend exists: [`EncryptedFile`], an XChaCha20-Poly1305 file whose random data key sits
//! in a separate file, both mode 0600. An OS keyring (Secret Service, macOS Keychain, Windows
//! Credential Manager) would be a second [`KeyBackend`] keeping the same map in one keyring
//! item; it is not written yet, because the machines this is built on have none and it
//! would bring D-Bus or platform libraries with it.

mod encrypted_file;
mod error;
mod secret;
mod server_token;

use std::collections::BTreeMap;
use std::path::Path;

pub use encrypted_file::{CREDENTIALS_FILE, EncryptedFile, KEY_FILE};
pub use error::CredentialError;
pub use secret::Secret;
pub use server_token::{SERVER_TOKEN, ServerToken, random_token};

/// Where the provider → key map is kept. Implementations load and save the whole map: small,
/// and what both an encrypted file and a single keyring item can do atomically.
pub trait KeyBackend: Send + Sync {
    /// Where the keys are, for messages (e.g. "encrypted in `…/credentials.enc` (key in
    /// `…/credentials.key`)").
    fn location(&self) -> String;
    /// Every stored key; empty when none was ever stored.
    fn load(&self) -> Result<BTreeMap<String, Secret>, CredentialError>;
    /// Replaces the stored map with `keys`.
    fn save(&self, keys: &BTreeMap<String, Secret>) -> Result<(), CredentialError>;
    /// Forgets everything, including what protects the keys, even when the stored keys
    /// cannot be read any more.
    fn reset(&self) -> Result<(), CredentialError>;
}

/// The stored API keys, by provider name.
pub struct CredentialStore {
    backend: Box<dyn KeyBackend>,
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore")
            .field("location", &self.backend.location())
            .finish()
    }
}

impl CredentialStore {
    /// A store over `backend`.
    pub fn new(backend: impl KeyBackend + 'static) -> CredentialStore {
        CredentialStore {
            backend: Box::new(backend),
        }
    }

    /// The encrypted-file store: `credentials.enc` in `data_dir`, its data key
    /// `credentials.key` in `config_dir`.
    pub fn encrypted_file(data_dir: &Path, config_dir: &Path) -> CredentialStore {
        CredentialStore::new(EncryptedFile::new(data_dir, config_dir))
    }

    /// Where the keys are, for messages.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Every stored provider key, by provider (not the server token kept beside them).
    pub fn list(&self) -> Result<BTreeMap<String, Secret>, CredentialError> {
        let mut keys = self.backend.load()?;
        keys.remove(SERVER_TOKEN);
        Ok(keys)
    }

    /// The key stored for `provider`.
    pub fn get(&self, provider: &str) -> Result<Option<Secret>, CredentialError> {
        Ok(self.backend.load()?.remove(provider))
    }

    /// Stores `key` for `provider`, replacing any key it had.
    pub fn set(&self, provider: &str, key: Secret) -> Result<(), CredentialError> {
        let mut keys = self.backend.load()?;
        keys.insert(provider.to_owned(), key);
        self.backend.save(&keys)
    }

    /// Removes `provider`'s key; `false` when it had none.
    pub fn remove(&self, provider: &str) -> Result<bool, CredentialError> {
        let mut keys = self.backend.load()?;
        if keys.remove(provider).is_none() {
            return Ok(false);
        }
        self.backend.save(&keys)?;
        Ok(true)
    }

    /// Removes every key and what protects them; works when they cannot be read any more.
    pub fn clear(&self) -> Result<(), CredentialError> {
        self.backend.reset()
    }
}

#[cfg(all(test, unix))]
mod tests;
