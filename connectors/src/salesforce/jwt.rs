//! The JWT bearer grant's assertion: an RS256 JWT signed with the External Client App's
//! private key, exchanged at the token endpoint for a session
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`).
//!
//! Claims: `iss` the app's consumer key (client id), `sub` the username truce runs as,
//! `aud` the login URL, `exp` [`LIFETIME_SECS`] ahead (Salesforce wants it within three
//! minutes). A fresh assertion is signed for every token request: at start-up and when a
//! session expires (the pipeline's token cache renews once per expiry).
//!
//! ## Where the key lives
//!
//! The config hands the PEM text over as a [`Secret`]; [`SigningKey::from_pem`] checks it
//! once, when the connector is built, and keeps only the DER key inside
//! `jsonwebtoken::EncodingKey`, which redacts its `Debug` and zeroes its bytes on drop. A
//! [`SigningKey`] prints as `SigningKey(***)`, and every assertion is a [`Secret`] from the
//! moment it is made: neither ever reaches a log line, an error or a file. A key that does
//! not parse is a [`KeyError`] that says what kind of text it found (a certificate, an
//! encrypted key, an EC key...), never any of the text itself.
//!
//! ## Crypto
//!
//! `jsonwebtoken` with its `aws_lc_rs` backend only: aws-lc-rs is the crypto rustls
//! already builds for the workspace, and no OpenSSL is linked. `jsonwebtoken` picks its
//! backend process-wide; [`SigningKey::from_pem`] installs the aws-lc-rs one if nothing
//! did, so a second backend enabled by another crate cannot leave it without one.

use std::fmt;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::secret::Secret;

/// Seconds an assertion lives: within Salesforce's three minutes, with room for a remote
/// clock running a little behind this host's.
pub const LIFETIME_SECS: i64 = 150;

/// Why a private key cannot sign assertions. Holds none of the key's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block at all.
    #[error(
        "it is not PEM text (expected a block that begins with BEGIN PRIVATE KEY or BEGIN \
         RSA PRIVATE KEY)"
    )]
    NotPem,
    /// A PEM block of something else (a certificate, a public key).
    #[error(
        "it holds a PEM {0} block, not a private key: give the private key whose \
         certificate the External Client App holds"
    )]
    NotAPrivateKey(String),
    /// A passphrase-protected key.
    #[error(
        "it is an encrypted private key; truce needs it unencrypted (openssl pkey -in KEY \
         -out truce.key), readable only by truce"
    )]
    Encrypted,
    /// A private key of another algorithm.
    #[error("it is a {0} private key; the JWT bearer flow signs with RSA (RS256) only")]
    NotRsa(&'static str),
    /// A PEM private key block whose contents are not a usable RSA key.
    #[error("its PEM block does not hold a usable RSA private key (PKCS#1 or PKCS#8)")]
    Malformed,
}

/// The private key assertions are signed with. Prints as `SigningKey(***)`.
#[derive(Clone)]
pub struct SigningKey {
    key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// The PEM label of the first block in `text`, if any.
fn pem_label(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .and_then(|rest| rest.strip_suffix("-----"))
}

fn provider() {
    // Err means a provider is installed already: any will do for RS256.
    let _ = CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
}

impl SigningKey {
    /// Reads an RSA private key from PEM text: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`). The key is tried once, so one that cannot sign is
    /// refused here rather than at the first login.
    pub fn from_pem(pem: &Secret) -> Result<SigningKey, KeyError> {
        let text = pem.expose();
        let label = pem_label(text).ok_or(KeyError::NotPem)?;
        match label {
            "RSA PRIVATE KEY" | "PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "EC PRIVATE KEY" => return Err(KeyError::NotRsa("EC")),
            "OPENSSH PRIVATE KEY" => return Err(KeyError::NotRsa("OpenSSH-format")),
            other => return Err(KeyError::NotAPrivateKey(other.to_string())),
        }
        // OpenSSL's legacy encryption keeps the label and adds headers.
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let key = match EncodingKey::from_rsa_pem(text.as_bytes()) {
            Ok(key) => key,
            Err(_) if EncodingKey::from_ec_pem(text.as_bytes()).is_ok() => {
                return Err(KeyError::NotRsa("EC"));
            }
            Err(_) if EncodingKey::from_ed_pem(text.as_bytes()).is_ok() => {
                return Err(KeyError::NotRsa("Ed25519"));
            }
            Err(_) => return Err(KeyError::Malformed),
        };
        provider();
        jsonwebtoken::crypto::sign(b"truce", &key, Algorithm::RS256)
            .map_err(|_| KeyError::Malformed)?;
        Ok(SigningKey { key })
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// A signed assertion for `client_id` logging in `username` at `audience`, expiring
/// [`LIFETIME_SECS`] after `now` (seconds since the epoch).
pub fn assertion(
    key: &SigningKey,
    client_id: &str,
    username: &str,
    audience: &str,
    now: i64,
) -> Result<Secret, KeyError> {
    let claims = Claims {
        iss: client_id,
        sub: username,
        aud: audience,
        exp: now + LIFETIME_SECS,
    };
    // Salesforce's own example header is `{"alg":"RS256"}`, without `typ`.
    let header = Header {
        typ: None,
        ..Header::new(Algorithm::RS256)
    };
    provider();
    jsonwebtoken::encode(&header, &claims, &key.key)
        .map(Secret::new)
        .map_err(|_| KeyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_an_rsa_private_key_says_what_it_is_and_nothing_of_its_content() {
        let cases = [
            ("just some secret words", KeyError::NotPem),
            (
                "-----BEGIN CERTIFICATE-----\nMIIBsecretcontent\n-----END CERTIFICATE-----\n",
                KeyError::NotAPrivateKey("CERTIFICATE".into()),
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBsecretcontent\n-----END ENCRYPTED PRIVATE KEY-----\n",
                KeyError::Encrypted,
            ),
            (
                "-----BEGIN EC PRIVATE KEY-----\nMIIBsecretcontent\n-----END EC PRIVATE KEY-----\n",
                KeyError::NotRsa("EC"),
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIBsecretcontent\n-----END PRIVATE KEY-----\n",
                KeyError::Malformed,
            ),
        ];
        for (text, expected) in cases {
            let err = SigningKey::from_pem(&Secret::new(text)).err();
            assert_eq!(err.as_ref(), Some(&expected), "{text}");
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(!message.contains("secret"), "{message}");
        }
    }
}
