//! The token endpoint, `POST /services/oauth2/token` (form-encoded), and the access tokens
//! it hands out.
//!
//! Grants: `client_credentials` (the client authenticates with `client_id`/`client_secret`
//! in the body or with `Authorization: Basic base64(id:secret)`, which is all
//! simple-salesforce sends), `refresh_token`, and the JWT bearer grant ([`super::jwt`]).
//! Every refusal is HTTP 400 `{"error", "error_description"}` in Salesforce's words; no
//! secret, token or assertion is ever echoed or logged.
//!
//! Responses follow each flow: client credentials add `token_format` and
//! `api_instance_url`; the refresh flow has `scope "api refresh_token"`; the JWT bearer
//! flow answers only `access_token, scope, instance_url, id, token_type`. None carries
//! `expires_in` (Salesforce never sends it): clients learn of expiry from a 401.
//!
//! ## Choices on unconfirmed behaviour
//!
//! - A Basic header that is not base64 of `id:secret` answers `invalid_client` "invalid
//!   client credentials" (the client failed to authenticate; no body shape was observed).
//! - Client credentials on `login.salesforce.com`/`test.salesforce.com` (as seen in the
//!   `Host` header) answer `invalid_grant` "request not supported on this domain", as
//!   observed: the flow needs the org's My Domain.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::errors::Answer;
use super::jwt::{self, Expect, LOGIN_AUDIENCES};
use super::store::{default_owner, id18};
use super::{Shared, lock};

/// The grant type of the JWT bearer flow.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The org id in every identity URL and token.
const ORG_ID: &str = "00D5g0000000SBXEAA";

/// The base URL the org hands out as `instance_url`: the one set for serving (behind TLS
/// or a proxy), else the address the request came to.
pub(crate) fn instance_url(shared: &Shared, headers: &HeaderMap) -> String {
    if let Some(url) = lock(&shared.instance_url).clone() {
        return url;
    }
    format!("http://{}", host(headers).unwrap_or("127.0.0.1"))
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get("host").and_then(|h| h.to_str().ok())
}

fn oauth_error(error: &str, description: &str) -> Response {
    Answer::with(
        400,
        json!({"error": error, "error_description": description}),
    )
    .into_response()
}

/// The client's credentials: from `Authorization: Basic`, else from the body. `Err` for a
/// Basic header that does not decode to `id:secret`.
fn client_credentials(
    headers: &HeaderMap,
    form: &Map<String, Value>,
) -> Result<(Option<String>, Option<String>), ()> {
    let field = |k: &str| form.get(k).and_then(Value::as_str).map(str::to_string);
    let basic = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        });
    match basic {
        Some(encoded) => {
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
            let text = String::from_utf8(decoded).map_err(|_| ())?;
            let (id, secret) = text.split_once(':').ok_or(())?;
            Ok((Some(id.to_string()), Some(secret.to_string())))
        }
        None => Ok((field("client_id"), field("client_secret"))),
    }
}

/// What a successful grant logs in as.
enum Grant {
    ClientCredentials,
    Refresh,
    Jwt { user: usize },
}

/// `POST /services/oauth2/token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Map<String, Value> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let get = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or_default();
    let opts = &shared.opts;
    let grant = match get("grant_type") {
        "client_credentials" => {
            let login_host = host(&headers).is_some_and(|h| {
                let name = h.split(':').next().unwrap_or_default();
                name.eq_ignore_ascii_case("login.salesforce.com")
                    || name.eq_ignore_ascii_case("test.salesforce.com")
            });
            if login_host {
                return oauth_error("invalid_grant", "request not supported on this domain");
            }
            let Ok((id, secret)) = client_credentials(&headers, &form) else {
                return oauth_error("invalid_client", "invalid client credentials");
            };
            if id.as_deref() != Some(opts.client_id.as_str()) {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if secret.as_deref() != Some(opts.client_secret.as_str()) {
                return oauth_error("invalid_client", "invalid client credentials");
            }
            Grant::ClientCredentials
        }
        "refresh_token" => {
            let Ok((id, secret)) = client_credentials(&headers, &form) else {
                return oauth_error("invalid_client", "invalid client credentials");
            };
            if id.as_deref() != Some(opts.client_id.as_str()) {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if secret.is_some() && secret.as_deref() != Some(opts.client_secret.as_str()) {
                return oauth_error("invalid_client", "invalid client credentials");
            }
            if opts.refresh_token.as_deref() != Some(get("refresh_token")) {
                return oauth_error("invalid_grant", "expired access/refresh token");
            }
            Grant::Refresh
        }
        JWT_BEARER => {
            let mut audiences: Vec<String> =
                LOGIN_AUDIENCES.iter().map(|a| a.to_string()).collect();
            audiences.push(instance_url(&shared, &headers));
            let key = lock(&shared.jwt_key).clone();
            let now = lock(&shared.org).now().timestamp();
            let expect = Expect {
                client_id: &opts.client_id,
                key: key.as_deref(),
                users: &opts.users,
                audiences: &audiences,
                now,
            };
            match jwt::verify(get("assertion"), &expect) {
                Ok(user) => Grant::Jwt {
                    user: opts
                        .users
                        .iter()
                        .position(|u| u.eq_ignore_ascii_case(&user))
                        .unwrap_or(0),
                },
                Err(refusal) => {
                    let (error, description) = refusal.error();
                    return oauth_error(error, description);
                }
            }
        }
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    };
    issue(&shared, &headers, grant)
}

/// The id of the org's `n`th listed user (the first is the integration user, who also
/// runs the client-credentials flow).
fn user_id(n: usize) -> String {
    if n == 0 {
        default_owner()
    } else {
        id18(&format!("0055g{:010}", n + 1))
    }
}

fn issue(shared: &Shared, headers: &HeaderMap, grant: Grant) -> Response {
    let opts = &shared.opts;
    let seq = shared.token_seq.fetch_add(1, Ordering::SeqCst);
    let access_token = format!(
        "{ORG_ID}!AQ{:016x}{:016x}",
        seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ opts.seed,
        seq
    );
    let expiry = opts.token_lifetime.map(|d| Instant::now() + d);
    lock(&shared.tokens).insert(access_token.clone(), expiry);
    let base = instance_url(shared, headers);
    let user = match grant {
        Grant::Jwt { user } => user_id(user),
        _ => user_id(0),
    };
    let id = format!("{base}/id/{ORG_ID}/{user}");
    let body = match grant {
        Grant::Jwt { .. } => json!({
            "access_token": access_token, "scope": "api", "instance_url": base,
            "id": id, "token_type": "Bearer",
        }),
        Grant::ClientCredentials | Grant::Refresh => {
            let mut body = json!({
                "access_token": access_token, "instance_url": base, "id": id,
                "token_type": "Bearer", "issued_at": Utc::now().timestamp_millis().to_string(),
                "signature": "c2FuZGJveC1zaWduYXR1cmUtbm90LWFuLWhtYWM=", "scope": "api",
            });
            if matches!(grant, Grant::ClientCredentials) {
                body["token_format"] = json!("opaque");
                body["api_instance_url"] = json!(base);
            } else {
                body["scope"] = json!("api refresh_token");
            }
            body
        }
    };
    Answer::ok(body).into_response()
}

/// Whether a data call carries a live access token (`Bearer` or `OAuth`).
pub(crate) fn token_valid(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("OAuth "))
        })
    else {
        return false;
    };
    let mut tokens = lock(&shared.tokens);
    match tokens.get(token.trim()) {
        Some(None) => true,
        Some(Some(expiry)) if *expiry > Instant::now() => true,
        Some(Some(_)) => {
            tokens.remove(token.trim());
            false
        }
        None => false,
    }
}
