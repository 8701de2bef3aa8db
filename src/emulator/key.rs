//! The emulator's service account: a fresh RSA key and its Google-format key file.

use std::io::Write as _;
use std::path::Path;

use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::Rng as _;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, rand_core::OsRng};
use serde_json::json;

/// The project the emulated service account lives in.
pub const PROJECT_ID: &str = "emulator-project";
/// The emulated service account's address.
pub const CLIENT_EMAIL: &str = "invitation-gateway@emulator-project.iam.gserviceaccount.com";

/// An RSA private key for an emulator's service account. Generating one costs a few hundred
/// milliseconds of CPU; tests that start many emulators generate one and share it.
#[derive(Clone)]
pub struct EmulatorKey(RsaPrivateKey);

impl EmulatorKey {
    /// A fresh 2048-bit key.
    pub fn generate() -> anyhow::Result<EmulatorKey> {
        Ok(EmulatorKey(RsaPrivateKey::new(&mut OsRng, 2048)?))
    }
}

impl std::fmt::Debug for EmulatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmulatorKey(..)")
    }
}

/// A service account whose private key exists only in this emulator (and the key file it hands out).
pub struct ServiceAccount {
    /// `private_key_id`, also the `kid` of signJwt's JWTs.
    pub private_key_id: String,
    /// The complete Google-format key file.
    pub key_json: String,
    /// Signs JWTs for signJwt.
    pub encoding_key: EncodingKey,
    /// Verifies assertions at the token endpoint.
    pub decoding_key: DecodingKey,
}

impl ServiceAccount {
    /// The account for `key`; `token_uri` goes into the key file.
    pub fn new(key: &EmulatorKey, token_uri: &str) -> anyhow::Result<ServiceAccount> {
        let private_key = &key.0;
        let pem = private_key.to_pkcs8_pem(LineEnding::LF)?;
        let encoding_key = EncodingKey::from_rsa_pem(pem.as_bytes())?;
        let decoding_key = DecodingKey::from_rsa_raw_components(
            &private_key.n().to_bytes_be(),
            &private_key.e().to_bytes_be(),
        );
        let mut rng = rand::rng();
        let private_key_id: String = (0..20)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect();
        let client_id: String = std::iter::once(rng.random_range(1..=9))
            .chain((1..21).map(|_| rng.random_range(0..=9)))
            .map(|digit: u8| char::from(b'0' + digit))
            .collect();
        let key_json = json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": private_key_id,
            "private_key": pem.as_str(),
            "client_email": CLIENT_EMAIL,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                CLIENT_EMAIL.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        });
        let key_json = serde_json::to_string_pretty(&key_json)?;
        Ok(ServiceAccount {
            private_key_id,
            key_json,
            encoding_key,
            decoding_key,
        })
    }
}

/// Writes a key file that only its owner may read.
pub fn write_key_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // `mode` only applies to new files; an existing file keeps its bits unless we narrow them.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    }
}
