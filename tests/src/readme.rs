//! The README as test input: its fenced blocks and commands, so tests run
//! what a newcomer would copy and fail when the README stops being true.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_owned()
}

/// The README's text.
pub fn text() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md is readable")
}

/// The first fenced block of `lang` after `heading` in `text`.
pub fn block<'a>(text: &'a str, heading: &str, lang: &str) -> &'a str {
    let section = &text[text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"))..];
    let fence = format!("```{lang}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} block after {heading:?}"))
        + fence.len();
    let len = section[start..].find("```").expect("the block is closed");
    &section[start..start + len]
}

/// The shell commands of a block: continuation lines joined, comments and
/// blank lines dropped.
pub fn commands(block: &str) -> Vec<String> {
    block
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The inline code spans (`` `…` ``) of `text` that start with `prefix`.
pub fn inline_commands(text: &str, prefix: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// A shell command split into leading `VAR=value` assignments and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Environment assignments before the program.
    pub env: Vec<(String, String)>,
    /// The program and its arguments.
    pub words: Vec<String>,
}

/// Parses a README command (plain words, no quoting).
pub fn parse(command: &str) -> Command {
    let mut env = Vec::new();
    let mut words = Vec::new();
    for word in command.split_whitespace() {
        match word.split_once('=') {
            Some((k, v))
                if words.is_empty()
                    && !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
            {
                env.push((k.to_owned(), v.to_owned()));
            }
            _ => words.push(word.to_owned()),
        }
    }
    Command { env, words }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_assignments() {
        let block = "A=1 B=x,y \\\n  cargo run -- --dev   # serves\n# a comment\n\ncargo test\n";
        let cmds = commands(block);
        assert_eq!(cmds, ["A=1 B=x,y    cargo run -- --dev", "cargo test"]);
        let c = parse(&cmds[0]);
        assert_eq!(
            c.env,
            [("A".into(), "1".into()), ("B".into(), "x,y".into())]
        );
        assert_eq!(c.words, ["cargo", "run", "--", "--dev"]);
        assert_eq!(
            inline_commands("run `cargo x` or `ls` and `cargo y z`", "cargo "),
            ["cargo x", "cargo y z"]
        );
    }
}
