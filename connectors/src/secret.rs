//! A string that must never be printed: tokens, client secrets, refresh tokens.
//!
//! `Debug` and `Display` both print `***`, so a secret that ends up in a log line, an error
//! message or a `{:?}` of a config struct leaks nothing. The only way to the value is
//! [`Secret::expose`], which makes every use easy to find.

use std::fmt;

/// A redacting wrapper around a secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (an auth header, a token form).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string (a misconfigured source).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("pat-na1-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "pat-na1-very-secret");
    }
}
