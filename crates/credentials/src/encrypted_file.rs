//! [`EncryptedFile`]: the keys in one file under XChaCha20-Poly1305, its data key in another.
//!
//! `credentials.enc` (in the data folder) is a JSON envelope:
//! `{"version":1,"cipher":"xchacha20poly1305","nonce":HEX,"ciphertext":HEX}`, the ciphertext
//! being the JSON map provider → key, authenticated together with the envelope's version.
//! Every change rewrites it whole, with a fresh random nonce, into a temporary file that is
//! then renamed over it, so a reader sees the old file or the new one, never half of one.
//!
//! `credentials.key` (in the config folder) holds the random 256-bit data key, in hex. Both
//! are created mode 0600 (their folders 0700 when this creates them) and refused when other
//! users may read or change them. Keeping the key apart means a copied data folder (a backup,
//! a support bundle) carries no readable keys; it does not protect against a process running
//! as the same user, which only an OS keyring can.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::{CredentialError, KeyBackend, Secret};

/// The credentials file's name in the data folder.
pub const CREDENTIALS_FILE: &str = "credentials.enc";
/// The data key's file name in the config folder.
pub const KEY_FILE: &str = "credentials.key";

const VERSION: u32 = 1;
const CIPHER: &str = "xchacha20poly1305";
/// Authenticated with the ciphertext, so a file cannot be passed off as another version's.
const ASSOCIATED_DATA: &[u8] = b"code-mesh credentials v1";
const KEY_BYTES: usize = 32;

/// Stored keys in an encrypted file whose data key is kept in a separate file.
#[derive(Clone, Debug)]
pub struct EncryptedFile {
    path: PathBuf,
    key_path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

impl EncryptedFile {
    /// `credentials.enc` in `data_dir`, its key `credentials.key` in `config_dir`.
    pub fn new(data_dir: &Path, config_dir: &Path) -> EncryptedFile {
        EncryptedFile::at(data_dir.join(CREDENTIALS_FILE), config_dir.join(KEY_FILE))
    }

    /// The credentials file at `path` and its data key at `key_path`.
    pub fn at(path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> EncryptedFile {
        EncryptedFile {
            path: path.into(),
            key_path: key_path.into(),
        }
    }

    /// The encrypted credentials file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file holding the data key.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    fn undecryptable(&self, reason: &'static str) -> CredentialError {
        CredentialError::Undecryptable {
            path: self.path.clone(),
            key_path: self.key_path.clone(),
            reason,
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> CredentialError {
        CredentialError::Malformed {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The data key, when its file exists.
    fn read_key(&self) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialError> {
        let Some(text) = read_private(&self.key_path)? else {
            return Ok(None);
        };
        let text = Zeroizing::new(text);
        let key = from_hex(text.trim())
            .filter(|key| key.len() == KEY_BYTES)
            .ok_or_else(|| CredentialError::Malformed {
                path: self.key_path.clone(),
                reason: format!("it must hold {KEY_BYTES} bytes in hex"),
            })?;
        Ok(Some(key))
    }

    /// The data key, made (randomly) when there is none yet.
    fn read_or_create_key(&self) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
        if let Some(key) = self.read_key()? {
            return Ok(key);
        }
        let mut generated = Key::generate();
        let key = Zeroizing::new(generated.to_vec());
        generated.as_mut_slice().zeroize();
        let hex = Zeroizing::new(to_hex(&key) + "\n");
        match create_private(&self.key_path, hex.as_bytes()) {
            Ok(()) => Ok(key),
            // Another process made it first: use theirs.
            Err(CredentialError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                self.read_key()?
                    .ok_or_else(|| self.undecryptable("its key file vanished while in use"))
            }
            Err(error) => Err(error),
        }
    }
}

impl KeyBackend for EncryptedFile {
    fn location(&self) -> String {
        format!(
            "encrypted in `{}` (key in `{}`)",
            self.path.display(),
            self.key_path.display()
        )
    }

    fn load(&self) -> Result<BTreeMap<String, Secret>, CredentialError> {
        let Some(text) = read_private(&self.path)? else {
            return Ok(BTreeMap::new());
        };
        let envelope: Envelope =
            serde_json::from_str(&text).map_err(|error| self.malformed(error.to_string()))?;
        if envelope.version != VERSION || envelope.cipher != CIPHER {
            return Err(self.malformed(format!(
                "it is version {} with cipher `{}`; this Code Mesh reads version {VERSION} with `{CIPHER}`",
                envelope.version, envelope.cipher
            )));
        }
        let nonce = from_hex(&envelope.nonce)
            .and_then(|nonce| XNonce::try_from(nonce.as_slice()).ok())
            .ok_or_else(|| self.malformed("its nonce is not 24 bytes in hex"))?;
        let ciphertext = from_hex(&envelope.ciphertext)
            .ok_or_else(|| self.malformed("its ciphertext is not hex"))?;
        let key = self
            .read_key()?
            .ok_or_else(|| self.undecryptable("the key file is missing"))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| self.undecryptable("the key has the wrong length"))?;
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: &ciphertext,
                        aad: ASSOCIATED_DATA,
                    },
                )
                .map_err(|_| {
                    self.undecryptable(
                        "the file was changed, or the key is not the one it was written with",
                    )
                })?,
        );
        let keys: BTreeMap<String, String> = serde_json::from_slice(&plaintext)
            .map_err(|_| self.malformed("its decrypted content is not a map of keys"))?;
        keys.into_iter()
            .map(|(provider, key)| Ok((provider, Secret::new(key)?)))
            .collect()
    }

    fn save(&self, keys: &BTreeMap<String, Secret>) -> Result<(), CredentialError> {
        if keys.is_empty() {
            return remove_if_present(&self.path);
        }
        let key = self.read_or_create_key()?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| self.undecryptable("the key has the wrong length"))?;
        let plain: BTreeMap<&str, &str> = keys
            .iter()
            .map(|(provider, key)| (provider.as_str(), key.expose()))
            .collect();
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&plain).map_err(|error| self.malformed(error.to_string()))?,
        );
        let nonce = XNonce::generate();
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| self.malformed("encryption failed"))?;
        let envelope = Envelope {
            version: VERSION,
            cipher: CIPHER.to_owned(),
            nonce: to_hex(&nonce),
            ciphertext: to_hex(&ciphertext),
        };
        let mut text =
            serde_json::to_vec_pretty(&envelope).map_err(|e| self.malformed(e.to_string()))?;
        text.push(b'\n');
        replace_private(&self.path, &text)
    }

    fn reset(&self) -> Result<(), CredentialError> {
        remove_if_present(&self.path)?;
        remove_if_present(&self.key_path)
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CredentialError {
    let path = path.to_path_buf();
    move |source| CredentialError::Io {
        action,
        path,
        source,
    }
}

/// The file's text, `None` when it does not exist; an error when others may access it.
fn read_private(path: &Path) -> Result<Option<String>, CredentialError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("read", path)(error)),
    };
    check_private(path, &metadata)?;
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(io_error("read", path))
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> Result<(), CredentialError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::Insecure {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Elsewhere the folder's access control list is what protects the files.
#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), CredentialError> {
    Ok(())
}

/// Makes `path`'s folder, mode 0700 for the folders this creates.
fn create_parent(path: &Path) -> Result<&Path, CredentialError> {
    let parent = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(parent)
        .map_err(io_error("create the folder", parent))?;
    Ok(parent)
}

/// Creates `path` (failing when it exists) with mode 0600 and `bytes`, flushed to disk.
fn create_private(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    create_parent(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_error("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", path))
}

/// Replaces `path` with a file of `bytes`, mode 0600: written beside it, flushed, renamed.
fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    let dir = create_parent(path)?;
    // tempfile creates the file 0600 on Unix.
    let mut temporary = tempfile::Builder::new()
        .prefix(".credentials-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_error("create a temporary file in", dir))?;
    temporary
        .write_all(bytes)
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(io_error("write", temporary.path()))?;
    temporary
        .persist(path)
        .map_err(|error| io_error("replace", path)(error.error))?;
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), CredentialError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(io_error("remove", path)(error))
        }
        _ => Ok(()),
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

fn from_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes: Option<Vec<u8>> = text
        .as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect();
    bytes.map(Zeroizing::new)
}
