//! Where a secret comes from, and reading it from there.
//!
//! A secret key in the config is a table with exactly one of `env`, `file` or `credential`.
//! A plain string is refused on purpose: a token pasted into a world-readable config file is
//! the leak this design exists to prevent.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use truce_connectors::Secret;

/// Where to read a secret from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (relative paths are relative to the config file); one trailing newline is
    /// dropped.
    File(PathBuf),
    /// A systemd credential: a file named so in `$CREDENTIALS_DIRECTORY`.
    Credential(String),
}

const HOW: &str =
    "write secrets as { env = \"VAR\" }, { file = \"/path\" } or { credential = \"name\" }";

impl SecretSource {
    /// Reads the secret. The error says where it looked, never what it found.
    pub fn resolve(&self, config_dir: &Path) -> Result<Secret, String> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|err| match err {
                std::env::VarError::NotPresent => {
                    format!("environment variable {name} is not set")
                }
                std::env::VarError::NotUnicode(_) => {
                    format!("environment variable {name} is not valid UTF-8")
                }
            })?,
            SecretSource::File(path) => read_secret_file(&config_dir.join(path))?,
            SecretSource::Credential(name) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                    format!(
                        "credential `{name}` needs $CREDENTIALS_DIRECTORY, which systemd sets \
                         for units with LoadCredential={name}:/path; outside systemd use \
                         {{ env = ... }} or {{ file = ... }}"
                    )
                })?;
                read_secret_file(&Path::new(&dir).join(name))?
            }
        };
        let value = value.strip_suffix('\n').unwrap_or(&value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.trim().is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        Ok(Secret::new(value))
    }

    /// Where the secret comes from, for messages.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(name) => format!("environment variable {name}"),
            SecretSource::File(path) => format!("file {}", path.display()),
            SecretSource::Credential(name) => format!("credential {name}"),
        }
    }
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read secret file {}: {err}", path.display()))
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SourceVisitor)
    }
}

struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HOW)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretSource, E> {
        Err(E::custom(format!(
            "secrets are never written inline; {HOW}"
        )))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        let mut found: Option<SecretSource> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: String = map.next_value()?;
            let source = match key.as_str() {
                "env" => SecretSource::Env(value),
                "file" => SecretSource::File(PathBuf::from(value)),
                "credential" => SecretSource::Credential(value),
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["env", "file", "credential"],
                    ));
                }
            };
            if found.replace(source).is_some() {
                return Err(de::Error::custom(format!("give exactly one source; {HOW}")));
            }
        }
        found.ok_or_else(|| de::Error::custom(format!("no source given; {HOW}")))
    }
}
