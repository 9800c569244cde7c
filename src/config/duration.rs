//! Durations as people write them in the config: `"500ms"`, `"15s"`, `"2m"`, `"1h"`,
//! `"1d"`, or combinations like `"1m30s"`.

use std::time::Duration;

/// Parses `"15s"`, `"2m"`, `"1h30m"`, `"250ms"`, `"1d"`. A bare number is refused: the unit
/// is what keeps `poll_interval = "15"` from meaning 15 ms to one reader and 15 s to another.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write it like \"15s\" or \"2m\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration; write it like \"15s\" or \"2m\""
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86_400)),
            "" => {
                return Err(format!(
                    "`{text}` has no unit; write it like \"{number}s\" (units: ms, s, m, h, d)"
                ));
            }
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (units: ms, s, m, h, d)"
                ));
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// serde glue for `Duration` fields written as strings.
pub mod serde_str {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Deserializes a duration string such as `"15s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations_parse() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn a_number_without_unit_is_refused_with_a_hint() {
        let err = parse_duration("15").unwrap_err();
        assert!(err.contains("\"15s\""), "{err}");
        assert!(parse_duration("15 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }
}
