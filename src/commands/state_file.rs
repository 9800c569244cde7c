//! Finding and opening the state file for the reading commands, and formatting for them.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use truce_state::{ReadView, StoreError};

use crate::cli::Global;
use crate::config;

/// The state file: `--state`, else the config's `[state].path`.
pub fn path(global: &Global) -> anyhow::Result<PathBuf> {
    if let Some(path) = &global.state {
        return Ok(path.clone());
    }
    let config = config::parse(&global.config).context(
        "finding the state file (pass --state PATH to read a state file without a config)",
    )?;
    Ok(config.state.path)
}

/// Opens the state file read-only; `None` when it does not exist yet (an empty store).
pub fn open(global: &Global) -> anyhow::Result<(PathBuf, Option<ReadView>)> {
    let path = path(global)?;
    match ReadView::open(&path) {
        Ok(view) => Ok((path, Some(view))),
        Err(StoreError::Missing { .. }) => Ok((path, None)),
        Err(err) => Err(err.into()),
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A timestamp for people: `2026-11-22T20:01:02Z`.
pub fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("@{ms}ms"))
}

/// A timestamp as JSON: RFC 3339 with milliseconds.
pub fn when_json(ms: i64) -> serde_json::Value {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|at| serde_json::Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true)))
        .unwrap_or(serde_json::Value::Null)
}

/// A duration for people: `45s`, `3m`, `2h`, `4d`.
pub fn ago(ms: i64) -> String {
    let secs = (ms.max(0)) / 1000;
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// A field value for people: quoted text, or `(blank)`.
pub fn show(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "(blank)".into(),
        serde_json::Value::String(s) if s.is_empty() => "(blank)".into(),
        other => other.to_string(),
    }
}
