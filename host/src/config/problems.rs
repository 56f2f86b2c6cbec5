//! Configuration problems a person can act on: the key as it was written
//! (the environment variable, or the config file's key), the value, what
//! is expected, and "did you mean" for a near-miss key. A load collects
//! every problem instead of stopping at the first.

use std::fmt;
use std::path::PathBuf;

use figment::error::{Actual, Kind};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The config file.
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the offending value was written.
    pub origin: Origin,
    /// The key as written: the variable's name, or the file's dotted key
    /// (empty for the file as a whole).
    pub key: String,
    /// The value as written (hidden for secrets), when there is one.
    pub value: Option<String>,
    /// What is expected instead.
    pub expected: String,
    /// A known key close to an unknown one.
    pub did_you_mean: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Env(_) => write!(f, "environment variable {}", self.key)?,
            Origin::File(path) if self.key.is_empty() => write!(f, "{}", path.display())?,
            Origin::File(path) => write!(f, "{}: {}", path.display(), self.key)?,
            Origin::Default => write!(
                f,
                "setting {} ({})",
                self.key,
                super::settings::variable(&self.key)
            )?,
        }
        if let Some(value) = &self.value {
            write!(f, " = {value}")?;
        }
        write!(f, ": {}", self.expected)?;
        if let Some(known) = &self.did_you_mean {
            write!(f, "; did you mean `{known}`?")?;
        }
        Ok(())
    }
}

/// The value shown for secrets.
pub const HIDDEN: &str = "<hidden>";

/// The known name closest to `name`, if one is close enough to be a typo:
/// the same but for case, or within a few edits.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let (distance, best) = known
        .into_iter()
        .map(|k| (strsim::osa_distance(&lower, &k.to_ascii_lowercase()), k))
        .min_by_key(|(d, _)| *d)?;
    (distance <= (name.len() / 4).max(2)).then(|| best.to_owned())
}

/// A serde expectation in words.
fn in_words(expected: &str) -> String {
    let max = match expected {
        "u8" => Some(u64::from(u8::MAX)),
        "u16" => Some(u64::from(u16::MAX)),
        "u32" => Some(u64::from(u32::MAX)),
        "u64" | "usize" => Some(u64::MAX),
        _ => None,
    };
    if let Some(max) = max {
        return format!("expected a whole number from 0 to {max}");
    }
    match expected {
        "a boolean" => "expected true or false".into(),
        "a string" | "path string" => "expected a string".into(),
        "a sequence" => "expected a list".into(),
        e if e.starts_with("struct ") || e == "a map" => "expected a table".into(),
        e => format!("expected {e}"),
    }
}

/// How `actual` was written, as near to TOML as figment tells.
pub fn written(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(x) => x.to_string(),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Str(s) => format!("{s:?}"),
        Actual::Seq => "a list".into(),
        Actual::Map => "a table".into(),
        other => other.to_string(),
    }
}

/// What figment's `kind` says is expected, the value it saw (if it
/// says), and for an unknown key, that key and the closest known one.
pub struct Reading {
    /// What is expected.
    pub expected: String,
    /// The value seen, as written.
    pub value: Option<String>,
    /// The unknown key, for an unknown-key error.
    pub unknown: Option<String>,
    /// The closest known key to the unknown one.
    pub did_you_mean: Option<String>,
}

/// Reads a figment error kind into words.
pub fn read_kind(kind: &Kind) -> Reading {
    let plain = |expected: String, value: Option<String>| Reading {
        expected,
        value,
        unknown: None,
        did_you_mean: None,
    };
    match kind {
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            plain(in_words(expected), Some(written(actual)))
        }
        Kind::UnknownVariant(variant, variants) => plain(
            format!(
                "expected one of {}",
                variants
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(format!("{variant:?}")),
        ),
        Kind::UnknownField(field, fields) => Reading {
            expected: "not a known setting".into(),
            value: None,
            unknown: Some(field.clone()),
            did_you_mean: did_you_mean(field, fields.iter().copied()),
        },
        Kind::MissingField(field) => plain(format!("`{field}` is required"), None),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => {
            plain("expected a smaller number".into(), None)
        }
        other => plain(other.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let known = ["port", "host", "max_connections_per_user", "jwt_secret"];
        assert_eq!(did_you_mean("prot", known).as_deref(), Some("port"));
        assert_eq!(
            did_you_mean("max_conections_per_user", known).as_deref(),
            Some("max_connections_per_user")
        );
        assert_eq!(
            did_you_mean("MAX_CONNECTIONS_PER_USER", known).as_deref(),
            Some("max_connections_per_user")
        );
        assert_eq!(did_you_mean("colour_scheme", known), None);
    }

    #[test]
    fn a_problem_reads_as_one_line_with_key_value_and_expectation() {
        let p = Problem {
            origin: Origin::Env("MAX_CONNECTIONS_PER_USER".into()),
            key: "MAX_CONNECTIONS_PER_USER".into(),
            value: Some("\"-1\"".into()),
            expected: in_words("usize"),
            did_you_mean: None,
        };
        assert_eq!(
            p.to_string(),
            "environment variable MAX_CONNECTIONS_PER_USER = \"-1\": expected a whole number from 0 to 18446744073709551615"
        );
        let p = Problem {
            origin: Origin::File("gateway.toml".into()),
            key: "prot".into(),
            value: Some("1".into()),
            expected: "not a known setting".into(),
            did_you_mean: Some("port".into()),
        };
        assert_eq!(
            p.to_string(),
            "gateway.toml: prot = 1: not a known setting; did you mean `port`?"
        );
    }
}
