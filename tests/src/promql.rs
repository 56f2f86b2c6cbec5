//! Reads the metric names a PromQL expression selects, and the series
//! names a Prometheus text exposition holds: enough to check that a
//! dashboard only queries what the gateway exports.
//!
//! String literals, label matchers (`{…}`), range and subquery selectors
//! (`[…]`) and grouping clauses (`by (…)`, `without (…)`, `on (…)`,
//! `ignoring (…)`, `group_left (…)`, `group_right (…)`) are skipped; of what
//! is left, an identifier followed by `(` (or by `by`/`without`) is a
//! function or aggregation, a keyword is an operator, and any other
//! identifier is a metric name.

use std::collections::BTreeSet;

/// Words that are operators or modifiers, not metrics.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];

/// Keywords followed by a parenthesized list of label names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names `expr` selects.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_past(&chars, i, '}'),
            '[' => i = skip_past(&chars, i, ']'),
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                // `sum by (x) (…)`: an aggregation with its grouping first.
                let grouped = matches!(word_at(&chars, next).as_str(), "by" | "without");
                let called = chars.get(next) == Some(&'(') || grouped;
                let lower = word.to_ascii_lowercase();
                if GROUPING.contains(&lower.as_str()) {
                    if called {
                        i = skip_past(&chars, next, ')');
                    }
                } else if !called && !KEYWORDS.contains(&lower.as_str()) {
                    names.insert(word);
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number, with its exponent or duration unit (`1e3`, `5m`).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The identifier starting at `at`, lowercased (empty if none does).
fn word_at(chars: &[char], at: usize) -> String {
    chars[at.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The index past the string literal starting at `open`.
fn skip_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The index past the `close` that ends the group opened at `open`
/// (strings inside are skipped).
fn skip_past(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    while i < chars.len() && chars[i] != close {
        if matches!(chars[i], '"' | '\'' | '`') {
            i = skip_string(chars, i);
        } else {
            i += 1;
        }
    }
    i + 1
}

/// The names of the samples in a text exposition (comments skipped).
pub fn exposed_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn functions_labels_ranges_and_groupings_are_not_metrics() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.99, sum by (le, plugin) (rate(a_bucket{plugin="by", x=~"y|z"}[$__rate_interval])))"#
            ),
            ["a_bucket"]
        );
        assert_eq!(
            names(
                "sum(rate(a_sum[5m])) / ignoring (x) group_left (y) sum(rate(b_count[1h:1m] offset 5m))"
            ),
            ["a_sum", "b_count"]
        );
        assert_eq!(names("max without (instance) (up) > bool 1e3"), ["up"]);
        assert_eq!(names("a or on(x) b unless c"), ["a", "b", "c"]);
        assert_eq!(names("sum by (code) (rate(d_total[1m]))"), ["d_total"]);
        assert_eq!(names("topk without(x) (3, e)"), ["e"]);
    }

    #[test]
    fn the_exposition_names_its_samples() {
        let text = "# HELP a A.\n# TYPE a counter\na_total{x=\"1\"} 3\nb 1\n\n";
        assert_eq!(
            exposed_series(text).into_iter().collect::<Vec<_>>(),
            ["a_total", "b"]
        );
    }
}
