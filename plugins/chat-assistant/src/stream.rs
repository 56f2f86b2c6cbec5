//! Streaming a reply: the text is cut after each sentence (or line) and
//! every piece goes out as a `chat:chunk`; the pieces add up to the text.

use gateway_sdk::chat;

/// `text` cut after each sentence end (`.`, `!` or `?` before whitespace)
/// and each line break, the following whitespace kept with the piece.
pub(crate) fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_some_and(|(_, n)| n.is_whitespace());
        if c == '\n' || (matches!(c, '.' | '!' | '?') && next_is_space) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, n)) = chars.peek().filter(|(_, n)| n.is_whitespace()) {
                end = j + n.len_utf8();
                chars.next();
            }
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Sends `text` to the asker of `reply_id`, piece by piece.
pub(crate) fn send(reply_id: &str, text: &str) {
    for piece in pieces(text) {
        chat::send_chunk(reply_id, piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_after_sentences_and_lines_and_loses_nothing() {
        let cases: [(&str, &[&str]); 6] = [
            (
                "EURUSD is at 1.08512 bid. Spread 0.8 pips.",
                &["EURUSD is at 1.08512 bid. ", "Spread 0.8 pips."],
            ),
            ("Up? Yes!  Really.", &["Up? ", "Yes!  ", "Really."]),
            ("a\n- b\n\nc", &["a\n", "- b\n\n", "c"]),
            ("no end", &["no end"]),
            ("ends. ", &["ends. "]),
            ("", &[]),
        ];
        for (text, expected) in cases {
            let got = pieces(text);
            assert_eq!(got, expected, "{text:?}");
            assert_eq!(got.concat(), text);
        }
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text = "Le prix est 1,08 €. Ça monte…\nOui.";
        assert_eq!(pieces(text).concat(), text);
        assert_eq!(pieces(text).len(), 3);
    }
}
