//! The input policy for stored text: which characters a name or a body may hold, so that
//! whatever is accepted renders as well-formed XML (feeds, calendar, badges), valid HTML and
//! valid JSON, and stores the same on SQLite and PostgreSQL (which refuses U+0000).

use super::FieldError;

/// What shape of text a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextShape {
    /// One line, shown where a person cannot tell look-alike or invisible characters apart
    /// (names, titles, labels): no line breaks, tabs, bidirectional controls or zero-width
    /// characters.
    Line,
    /// Several lines of prose (bodies, descriptions, statements): tab and newline allowed.
    MultiLine,
}

/// Checks `text` against the policy; the error names the field and the first offending
/// character.
pub fn check_text(field: &str, text: &str, shape: TextShape) -> Result<(), FieldError> {
    for c in text.chars() {
        if let Some(why) = refusal(c, shape) {
            return Err(FieldError::new(
                field,
                format!("{why} (U+{:04X}); remove it and try again", u32::from(c)),
            ));
        }
    }
    Ok(())
}

/// Checks a text and bounds its length in characters.
pub fn check_bounded(
    field: &str,
    text: &str,
    shape: TextShape,
    max_chars: usize,
) -> Result<(), FieldError> {
    if text.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    check_text(field, text, shape)
}

/// Line endings as one `\n`: Windows `\r\n` and a lone old-Mac `\r` alike.
pub fn normalise_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn refusal(c: char, shape: TextShape) -> Option<&'static str> {
    let multi = shape == TextShape::MultiLine;
    if c.is_control() {
        return match c {
            '\n' | '\t' if multi => None,
            '\n' | '\r' => Some("must be on one line; it contains a line break"),
            '\t' => Some("must be on one line; it contains a tab"),
            _ => Some("contains a control character, which cannot be shown"),
        };
    }
    if is_noncharacter(c) {
        return Some("contains a character reserved as a non-character, which cannot be shown");
    }
    if !multi && is_bidi_control(c) {
        return Some("contains an invisible text-direction control character");
    }
    if !multi && is_zero_width(c) {
        return Some("contains an invisible zero-width character");
    }
    None
}

/// Unicode's 66 noncharacters: U+FDD0..U+FDEF and the last two code points of every plane.
pub fn is_noncharacter(c: char) -> bool {
    let u = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&u) || u & 0xFFFE == 0xFFFE
}

/// Embeddings, overrides, isolates and marks that reorder what a reader sees
/// (the "Trojan Source" characters, CVE-2021-42574).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters with no width that make two names look alike.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_noncharacters_are_refused_everywhere() {
        for c in [
            '\0',
            '\u{1}',
            '\u{B}',
            '\u{1B}',
            '\u{7F}',
            '\u{85}',
            '\u{9F}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{FDD0}',
            '\u{1FFFF}',
            '\u{10FFFF}',
        ] {
            let text = format!("a{c}b");
            for shape in [TextShape::Line, TextShape::MultiLine] {
                let e = check_text("body", &text, shape).unwrap_err();
                assert_eq!(e.field, "body");
                assert!(e.message.contains(&format!("U+{:04X}", u32::from(c))));
            }
        }
    }

    #[test]
    fn bodies_keep_tabs_newlines_and_direction_marks() {
        let text = "line one\n\tindented\nعربي \u{200F}mark\u{200D}";
        assert!(check_text("body", text, TextShape::MultiLine).is_ok());
    }

    #[test]
    fn names_refuse_line_breaks_bidi_and_zero_width() {
        for text in [
            "a\nb",
            "a\tb",
            "admin\u{202E}txt.exe",
            "a\u{2066}b",
            "pay\u{200B}pal",
            "\u{FEFF}API",
        ] {
            assert!(
                check_text("name", text, TextShape::Line).is_err(),
                "{text:?}"
            );
        }
        assert!(check_text("name", "Zürich API 🚀 日本", TextShape::Line).is_ok());
    }

    #[test]
    fn lengths_are_bounded_in_characters() {
        assert!(check_bounded("name", &"é".repeat(10), TextShape::Line, 10).is_ok());
        let e = check_bounded("name", &"é".repeat(11), TextShape::Line, 10).unwrap_err();
        assert_eq!(e.message, "must be at most 10 characters");
    }

    #[test]
    fn newlines_are_normalised() {
        assert_eq!(normalise_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
    }
}
