//! The JWT bearer grant's assertion check (`grant_type=urn:ietf:params:oauth:grant-type:
//! jwt-bearer`): an RS256 JWT signed by the connected app's private key, verified against
//! the certificate the app holds.
//!
//! Checked in the order Salesforce must check them: the token's shape and `alg` (RS256
//! only), `iss` (a known consumer key: the app whose certificate applies), the signature,
//! `aud`, `exp`, then `sub` (a user pre-authorized for the app). Each refusal maps to the
//! token endpoint's error body in [`Refusal::error`].
//!
//! The signature is verified with aws-lc-rs (already the TLS crypto of the workspace); the
//! certificate or public key is read with x509-parser. An assertion is never logged nor
//! echoed in an error.
//!
//! ## Choices on unconfirmed behaviour
//!
//! - An expired `exp` answers "expired authorization code": what simple-salesforce users
//!   saw when its expiry was computed in the past (its issues #371 and #491).
//! - `exp` may lie at most 5 minutes ahead: Salesforce asks for "within 3 minutes"; an
//!   assertion 300 s ahead was observed to work (issue #491), so 3 minutes plus 2 of clock
//!   skew. Further ahead is "invalid assertion".
//! - `exp` is accepted as a number or a numeric string (Salesforce's own example and
//!   simple-salesforce send a string).
//!
//! ## Keys for tests and demos
//!
//! [`AppKey::generate`] makes what an admin makes with `openssl req -x509 ...`: an RSA
//! private key for the client and the public half for the connected app (as a `PUBLIC KEY`
//! PEM, which [`public_key`] reads as it reads a certificate).

use std::fmt;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// How far ahead `exp` may lie, in seconds (see the module doc).
pub const MAX_LIFETIME_SECS: i64 = 300;

/// The audiences every org accepts besides its own URL.
pub const LOGIN_AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// A connected app's key pair, generated: the private key for the client, the public key
/// for the app ([`super::SandboxOptions::jwt_certificate`]).
#[derive(Clone)]
pub struct AppKey {
    /// The RSA private key, PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub private_pem: String,
    /// The same key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), as older OpenSSL writes it.
    pub private_pkcs1_pem: String,
    /// The public key, SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    pub public_pem: String,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(***)")
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`: its OCTET STRING, the
/// third element of the outer SEQUENCE.
fn pkcs1_of(pkcs8: &[u8]) -> Option<Vec<u8>> {
    // One DER element at `at`: (tag, content start, content end).
    fn element(der: &[u8], at: usize) -> Option<(u8, usize, usize)> {
        let tag = *der.get(at)?;
        let first = *der.get(at + 1)?;
        let (len, start) = if first < 0x80 {
            (usize::from(first), at + 2)
        } else {
            let n = usize::from(first & 0x7f);
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | usize::from(*der.get(at + 2 + i)?);
            }
            (len, at + 2 + n)
        };
        Some((tag, start, start.checked_add(len)?))
    }
    let (_, mut at, _) = element(pkcs8, 0)?;
    for _ in 0..2 {
        at = element(pkcs8, at)?.2;
    }
    let (tag, start, end) = element(pkcs8, at)?;
    (tag == 0x04).then(|| pkcs8.get(start..end).map(<[u8]>::to_vec))?
}

impl AppKey {
    /// A fresh 2048-bit RSA key pair.
    pub fn generate() -> Result<AppKey, JwtKeyError> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair as _;
        let failed = |_| JwtKeyError::Generation;
        let pair =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
        let private = pair.as_der().map_err(failed)?.as_ref().to_vec();
        let public = pair
            .public_key()
            .as_der()
            .map_err(failed)?
            .as_ref()
            .to_vec();
        let pkcs1 = pkcs1_of(&private).ok_or(JwtKeyError::Generation)?;
        Ok(AppKey {
            private_pkcs1_pem: pem("RSA PRIVATE KEY", &pkcs1),
            private_pem: pem("PRIVATE KEY", &private),
            public_pem: pem("PUBLIC KEY", &public),
        })
    }
}

/// Why a certificate or key cannot be used to verify assertions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtKeyError {
    /// Not PEM, or a PEM block of another kind.
    #[error(
        "not a PEM certificate or public key (expected CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY)"
    )]
    NotPem,
    /// The DER inside does not parse.
    #[error("the PEM block does not hold a valid {0}")]
    Malformed(&'static str),
    /// A key of another algorithm: the JWT bearer flow is RS256 only.
    #[error("the key is not an RSA key (the JWT bearer flow is RS256 only)")]
    NotRsa,
    /// [`AppKey::generate`] failed.
    #[error("generating an RSA key pair failed")]
    Generation,
}

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

fn rsa_of(spki: &SubjectPublicKeyInfo<'_>) -> Result<Vec<u8>, JwtKeyError> {
    if spki.algorithm.algorithm.to_id_string() != RSA_ENCRYPTION {
        return Err(JwtKeyError::NotRsa);
    }
    Ok(spki.subject_public_key.data.to_vec())
}

/// The RSA public key (PKCS#1 DER) of a PEM X.509 certificate, SubjectPublicKeyInfo
/// (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) block.
pub fn public_key(pem: &str) -> Result<Vec<u8>, JwtKeyError> {
    let block = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or(JwtKeyError::NotPem)?;
    match block.label.as_str() {
        "CERTIFICATE" => {
            let cert = block
                .parse_x509()
                .map_err(|_| JwtKeyError::Malformed("X.509 certificate"))?;
            rsa_of(cert.public_key())
        }
        "PUBLIC KEY" => {
            let (_, spki) = SubjectPublicKeyInfo::from_der(&block.contents)
                .map_err(|_| JwtKeyError::Malformed("public key"))?;
            rsa_of(&spki)
        }
        "RSA PUBLIC KEY" => Ok(block.contents),
        _ => Err(JwtKeyError::NotPem),
    }
}

/// Why an assertion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, not RS256, a bad signature, no `exp`, or `exp` too far ahead.
    InvalidAssertion,
    /// `iss` names no connected app.
    UnknownClient,
    /// `aud` is not a login URL nor the org's.
    BadAudience,
    /// `exp` has passed.
    Expired,
    /// `sub` is no user pre-authorized for the app.
    NotApproved,
}

impl Refusal {
    /// The token endpoint's `(error, error_description)`.
    pub fn error(self) -> (&'static str, &'static str) {
        match self {
            Refusal::InvalidAssertion => ("invalid_grant", "invalid assertion"),
            Refusal::UnknownClient => ("invalid_client_id", "client identifier invalid"),
            Refusal::BadAudience => ("invalid_grant", "audience is invalid"),
            Refusal::Expired => ("invalid_grant", "expired authorization code"),
            Refusal::NotApproved => ("invalid_grant", "user hasn't approved this consumer"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error().1)
    }
}

/// What the org checks an assertion against.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The connected app's consumer key.
    pub client_id: &'a str,
    /// Its certificate's RSA key (PKCS#1 DER); `None` refuses every assertion.
    pub key: Option<&'a [u8]>,
    /// Usernames pre-authorized for the app.
    pub users: &'a [String],
    /// Accepted audiences (compared without a trailing `/`).
    pub audiences: &'a [String],
    /// The org's clock, seconds since the epoch.
    pub now: i64,
}

fn decode_json(part: &str) -> Option<serde_json::Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// `exp` as seconds: a JSON number or a numeric string.
fn seconds(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Verifies an assertion; returns the username (`sub`) it logs in.
pub fn verify(assertion: &str, expect: &Expect<'_>) -> Result<String, Refusal> {
    use Refusal::*;
    let mut parts = assertion.trim().split('.');
    let (Some(head), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidAssertion);
    };
    let header = decode_json(head).ok_or(InvalidAssertion)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(InvalidAssertion);
    }
    let claims = decode_json(body).ok_or(InvalidAssertion)?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    if text("iss") != Some(expect.client_id) {
        return Err(UnknownClient);
    }
    let key = expect.key.ok_or(InvalidAssertion)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature.trim_end_matches('='))
        .map_err(|_| InvalidAssertion)?;
    let signed = format!("{head}.{body}");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| InvalidAssertion)?;
    let accepted = |aud: &str| {
        let aud = aud.trim_end_matches('/');
        expect
            .audiences
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(aud))
    };
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    };
    if !audience_ok {
        return Err(BadAudience);
    }
    let exp = claims
        .get("exp")
        .and_then(seconds)
        .ok_or(InvalidAssertion)?;
    if exp <= expect.now {
        return Err(Expired);
    }
    if exp > expect.now + MAX_LIFETIME_SECS {
        return Err(InvalidAssertion);
    }
    // `sub` (older documents call it `prn`).
    let user = text("sub").or_else(|| text("prn")).ok_or(NotApproved)?;
    if !expect.users.iter().any(|u| u.eq_ignore_ascii_case(user)) {
        return Err(NotApproved);
    }
    Ok(user.to_string())
}
