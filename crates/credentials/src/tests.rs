#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use tempfile::TempDir;

use super::*;

const OPENAI_KEY: &str = "sk-canary-openai-7f3a9c0de1b2";
const ANTHROPIC_KEY: &str = "sk-ant-canary-0d9e8f7a6b5c";

struct Fixture {
    root: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn config_dir(&self) -> PathBuf {
        self.root.path().join("config")
    }

    fn credentials(&self) -> PathBuf {
        self.data_dir().join(CREDENTIALS_FILE)
    }

    fn key_file(&self) -> PathBuf {
        self.config_dir().join(KEY_FILE)
    }

    /// A fresh store over the same files, as the next process would open it.
    fn store(&self) -> CredentialStore {
        CredentialStore::encrypted_file(&self.data_dir(), &self.config_dir())
    }

    fn with_two_keys(self) -> Fixture {
        let store = self.store();
        store.set("openai", secret(OPENAI_KEY)).unwrap();
        store.set("anthropic", secret(ANTHROPIC_KEY)).unwrap();
        self
    }
}

fn secret(key: &str) -> Secret {
    Secret::new(key).unwrap()
}

fn exposed(keys: &BTreeMap<String, Secret>) -> Vec<(&str, &str)> {
    keys.iter()
        .map(|(provider, key)| (provider.as_str(), key.expose()))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn envelope(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn keys_round_trip_through_a_new_store() {
    let fixture = Fixture::new().with_two_keys();
    let store = fixture.store();
    assert_eq!(
        exposed(&store.list().unwrap()),
        [("anthropic", ANTHROPIC_KEY), ("openai", OPENAI_KEY)]
    );
    assert_eq!(
        store.get("openai").unwrap().map(|k| k.expose().to_owned()),
        Some(OPENAI_KEY.to_owned())
    );
    assert_eq!(store.get("google").unwrap(), None);

    store
        .set("openai", secret("sk-replaced-000011112222"))
        .unwrap();
    assert!(store.remove("anthropic").unwrap());
    assert!(!store.remove("anthropic").unwrap(), "already gone");
    assert_eq!(
        exposed(&fixture.store().list().unwrap()),
        [("openai", "sk-replaced-000011112222")]
    );
}

#[test]
fn nothing_stored_reads_as_empty_and_creates_no_file() {
    let fixture = Fixture::new();
    assert!(fixture.store().list().unwrap().is_empty());
    assert!(!fixture.root.path().join("data").exists());
    assert!(!fixture.root.path().join("config").exists());
}

#[test]
fn no_key_is_written_in_plaintext() {
    let fixture = Fixture::new().with_two_keys();
    let files = [fixture.credentials(), fixture.key_file()];
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for key in [OPENAI_KEY, ANTHROPIC_KEY, "canary"] {
            assert!(!contains(&bytes, key), "{key} in {}", file.display());
        }
    }
    let envelope = envelope(&fixture.credentials());
    assert_eq!(envelope["version"], 1);
    assert_eq!(envelope["cipher"], "xchacha20poly1305");
    assert_eq!(envelope["nonce"].as_str().unwrap().len(), 48, "24 bytes");
    // The data key is 32 random bytes in hex.
    let key = std::fs::read_to_string(fixture.key_file()).unwrap();
    assert_eq!(key.trim().len(), 64);
}

#[test]
fn files_are_created_private_in_private_folders() {
    let fixture = Fixture::new().with_two_keys();
    assert_eq!(mode(&fixture.credentials()), 0o600);
    assert_eq!(mode(&fixture.key_file()), 0o600);
    assert_eq!(mode(&fixture.data_dir()), 0o700);
    assert_eq!(mode(&fixture.config_dir()), 0o700);
    // The key lives apart from the keys it protects.
    assert_ne!(fixture.credentials().parent(), fixture.key_file().parent());
}

#[test]
fn a_different_data_key_cannot_decrypt_and_says_which_files() {
    let fixture = Fixture::new().with_two_keys();
    let other = Fixture::new().with_two_keys();
    std::fs::copy(other.key_file(), fixture.key_file()).unwrap();
    chmod(&fixture.key_file(), 0o600);

    let error = fixture.store().list().unwrap_err();
    assert!(
        matches!(error, CredentialError::Undecryptable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "`{}` cannot be decrypted",
            fixture.credentials().display()
        )),
        "{message}"
    );
    assert!(
        message.contains(&fixture.key_file().display().to_string()),
        "{message}"
    );
    assert!(
        error
            .hint()
            .unwrap()
            .contains("code-mesh auth logout --all")
    );
    // Writing is refused too, rather than silently dropping the keys it cannot read.
    assert!(fixture.store().set("google", secret("AIza-0000")).is_err());
}

#[test]
fn a_missing_data_key_cannot_decrypt() {
    let fixture = Fixture::new().with_two_keys();
    std::fs::remove_file(fixture.key_file()).unwrap();
    let error = fixture.store().list().unwrap_err();
    assert!(
        error.to_string().ends_with("the key file is missing"),
        "{error}"
    );
}

#[test]
fn a_tampered_file_cannot_decrypt() {
    let fixture = Fixture::new().with_two_keys();
    let mut envelope = envelope(&fixture.credentials());
    let ciphertext = envelope["ciphertext"].as_str().unwrap().to_owned();
    // Flip the low bit of the first byte.
    let first = u8::from_str_radix(&ciphertext[..2], 16).unwrap() ^ 1;
    envelope["ciphertext"] = format!("{first:02x}{}", &ciphertext[2..]).into();
    std::fs::write(fixture.credentials(), envelope.to_string()).unwrap();

    let error = fixture.store().list().unwrap_err();
    assert!(
        matches!(error, CredentialError::Undecryptable { .. }),
        "{error:?}"
    );

    std::fs::write(fixture.credentials(), "not json").unwrap();
    let error = fixture.store().list().unwrap_err();
    assert!(
        matches!(error, CredentialError::Malformed { .. }),
        "{error:?}"
    );
    assert!(error.hint().unwrap().contains("auth logout --all"));
}

#[test]
fn files_other_users_can_read_are_refused() {
    let fixture = Fixture::new().with_two_keys();
    for (file, loose) in [(fixture.key_file(), 0o644), (fixture.credentials(), 0o640)] {
        chmod(&file, loose);
        let error = fixture.store().list().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "`{}` is accessible to other users (mode {loose:04o}), so Code Mesh will not use it",
                file.display()
            )
        );
        assert!(
            error
                .hint()
                .unwrap()
                .contains(&format!("chmod 600 {}", file.display())),
            "{:?}",
            error.hint()
        );
        chmod(&file, 0o600);
    }
    assert_eq!(fixture.store().list().unwrap().len(), 2);
}

#[test]
fn every_change_rewrites_the_file_whole_with_a_fresh_nonce() {
    let fixture = Fixture::new().with_two_keys();
    let before = envelope(&fixture.credentials());
    // A second name for the old file: a rewrite in place would change what it shows.
    let old = fixture.root.path().join("old-credentials");
    std::fs::hard_link(fixture.credentials(), &old).unwrap();
    let old_bytes = std::fs::read(&old).unwrap();

    let store = fixture.store();
    store.set("openai", secret(OPENAI_KEY)).unwrap();
    let after = envelope(&fixture.credentials());
    assert_ne!(before["nonce"], after["nonce"], "same content, new nonce");
    assert_ne!(before["ciphertext"], after["ciphertext"]);
    assert_eq!(
        std::fs::read(&old).unwrap(),
        old_bytes,
        "replaced, not edited"
    );
    assert_eq!(mode(&fixture.credentials()), 0o600);
    let left: Vec<String> = std::fs::read_dir(fixture.data_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [CREDENTIALS_FILE], "no temporary file is left behind");
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn removing_the_last_key_removes_the_file_and_clear_removes_the_data_key() {
    let fixture = Fixture::new().with_two_keys();
    let store = fixture.store();
    store.remove("openai").unwrap();
    store.remove("anthropic").unwrap();
    assert!(!fixture.credentials().exists());
    assert!(fixture.key_file().exists());

    let fixture = Fixture::new().with_two_keys();
    // `clear` is the way out when the file cannot be decrypted any more.
    std::fs::write(fixture.credentials(), "garbage").unwrap();
    fixture.store().clear().unwrap();
    assert!(!fixture.credentials().exists());
    assert!(!fixture.key_file().exists());
    assert!(fixture.store().list().unwrap().is_empty());
    fixture.store().clear().unwrap();
}

#[test]
fn debug_output_of_the_store_and_its_errors_shows_no_key() {
    let fixture = Fixture::new().with_two_keys();
    let store = fixture.store();
    let shown = format!("{store:?} {:?}", store.list().unwrap());
    assert!(!shown.contains("canary"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(store.location().contains(CREDENTIALS_FILE));
}
