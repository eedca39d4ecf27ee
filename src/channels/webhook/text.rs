//! Shortening text to a platform's limit: cut at a word boundary, end with "…" and, when given,
//! a tail such as a link to the whole incident. Never splits a UTF-8 character, and avoids
//! splitting a visible character (a base letter and its accents, an emoji and its modifiers).
//! Each platform counts length its own way, hence `Measure`.

/// How a platform counts the length of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Unicode code points.
    Chars,
    /// UTF-16 code units, as JavaScript's `length` counts. Never less than `Chars`, so a text
    /// within a limit in these units is within it in code points too: the safe choice where a
    /// platform does not say which it means (Slack, Discord).
    Utf16,
    /// UTF-8 bytes.
    Bytes,
    /// UTF-8 bytes once written as a JSON string (`"` and `\` count 2, control characters up to
    /// 6): for limits on the size of a whole JSON payload (Teams).
    JsonBytes,
}

impl Measure {
    /// The length of one character.
    pub fn of_char(self, c: char) -> usize {
        match self {
            Measure::Chars => 1,
            Measure::Utf16 => c.len_utf16(),
            Measure::Bytes => c.len_utf8(),
            Measure::JsonBytes => match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                c if u32::from(c) < 0x20 => 6,
                c => c.len_utf8(),
            },
        }
    }

    /// The length of a text.
    pub fn len(self, text: &str) -> usize {
        text.chars().map(|c| self.of_char(c)).sum()
    }
}

/// What ends a shortened text.
pub const ELLIPSIS: &str = "…";

/// `text` unchanged if it measures at most `max`; otherwise its beginning, cut at a word
/// boundary, then "…", then `tail`, all together within `max`. When `tail` does not fit, it is
/// left out.
pub fn shorten(text: &str, max: usize, measure: Measure, tail: &str) -> String {
    shorten_keeping(text, max, measure, tail, &[])
}

/// Like `shorten`, but never cuts inside one of the `whole` spans: a cut that would fall after an
/// opener without its closer moves back before the opener (`('<', '>')` keeps a Slack link
/// `<url|text>` whole, `('&', ';')` an escaped `&amp;`).
pub fn shorten_keeping(
    text: &str,
    max: usize,
    measure: Measure,
    tail: &str,
    whole: &[(char, char)],
) -> String {
    if measure.len(text) <= max {
        return text.to_string();
    }
    let ellipsis = measure.len(ELLIPSIS);
    let (tail, reserve) = match measure.len(tail) + ellipsis {
        n if n <= max => (tail, n),
        _ if ellipsis <= max => ("", ellipsis),
        _ => return String::new(),
    };
    let mut end = cut_point(text, max - reserve, measure);
    for (open, close) in whole {
        if let Some(at) = text[..end].rfind(*open) {
            if !text[at..end].contains(*close) {
                end = at;
            }
        }
    }
    let head = text[..end].trim_end();
    format!("{head}{ELLIPSIS}{tail}")
}

/// The byte index at which to cut `text` so that `text[..index]` measures at most `budget`:
/// the end of the last whole word that fits, or, when that would drop more than half of what
/// fits (one very long word, a long URL), the last whole visible character that fits.
pub fn cut_point(text: &str, budget: usize, measure: Measure) -> usize {
    let mut used = 0;
    let mut hard = text.len();
    for (i, c) in text.char_indices() {
        let width = measure.of_char(c);
        if used + width > budget {
            hard = i;
            break;
        }
        used += width;
    }
    if hard == text.len() {
        return hard;
    }
    let head = &text[..hard];
    if text[hard..].starts_with(char::is_whitespace) {
        return head.trim_end().len();
    }
    match head.rfind(char::is_whitespace) {
        Some(space) if space >= hard / 2 => head[..space].trim_end().len(),
        _ => grapheme_boundary(text, hard),
    }
}

/// Moves a cut at `index` (a char boundary) back until it does not split a visible character:
/// not before a combining mark, variation selector, emoji modifier or tag; not after a zero
/// width joiner; not between the two regional indicators of a flag. An approximation of
/// Unicode's grapheme rules that needs no tables.
fn grapheme_boundary(text: &str, mut index: usize) -> usize {
    loop {
        let Some(before) = text[..index].chars().next_back() else {
            return 0;
        };
        let after = text[index..].chars().next();
        let splits = after.is_some_and(extends) || before == '\u{200D}' || {
            is_regional_indicator(before)
                && after.is_some_and(is_regional_indicator)
                && text[..index]
                    .chars()
                    .rev()
                    .take_while(|c| is_regional_indicator(*c))
                    .count()
                    % 2
                    == 1
        };
        if !splits {
            return index;
        }
        index -= before.len_utf8();
    }
}

/// A character that belongs to the one before it.
fn extends(c: char) -> bool {
    matches!(u32::from(c),
        0x0300..=0x036F     // combining diacritical marks
        | 0x0483..=0x0489   // Cyrillic combining marks
        | 0x0591..=0x05BD   // Hebrew points
        | 0x0610..=0x061A | 0x064B..=0x065F // Arabic marks
        | 0x0900..=0x0903 | 0x093A..=0x094F // Devanagari signs and vowel marks
        | 0x1160..=0x11FF   // Hangul medial vowels and final consonants
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x200C | 0x200D   // zero width non-joiner and joiner
        | 0x20D0..=0x20FF   // combining marks for symbols (the keycap)
        | 0xFE00..=0xFE0F   // variation selectors
        | 0xFE20..=0xFE2F
        | 0x1F3FB..=0x1F3FF // emoji skin tones
        | 0xE0020..=0xE007F // tags (subdivision flags)
        | 0xE0100..=0xE01EF)
}

fn is_regional_indicator(c: char) -> bool {
    matches!(u32::from(c), 0x1F1E6..=0x1F1FF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_fits_is_left_alone() {
        assert_eq!(shorten("all good", 8, Measure::Chars, " more"), "all good");
    }

    #[test]
    fn long_text_is_cut_after_a_whole_word_with_an_ellipsis_and_the_tail() {
        let cut = shorten("the quick brown fox jumps", 16, Measure::Chars, " >");
        assert_eq!(cut, "the quick… >");
        assert!(Measure::Chars.len(&cut) <= 16);
        assert_eq!(
            shorten("the quick brown fox", 10, Measure::Chars, ""),
            "the quick…",
            "a word that ends exactly where the room does is kept"
        );
    }

    #[test]
    fn one_endless_word_is_cut_inside_it() {
        let url = format!("https://example.com/{}", "a".repeat(100));
        let cut = shorten(&url, 30, Measure::Chars, "");
        assert_eq!(Measure::Chars.len(&cut), 30);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_tail_that_does_not_fit_is_left_out() {
        assert_eq!(shorten("abcdef ghijk", 4, Measure::Chars, " tail"), "abc…");
        assert_eq!(shorten("abcdef", 0, Measure::Chars, ""), "");
    }

    #[test]
    fn multibyte_text_is_never_split_inside_a_character() {
        let text = "ééééé ééééé ééééé";
        for max in 0..text.len() {
            let cut = shorten(text, max, Measure::Bytes, "");
            assert!(cut.len() <= max, "{max}: {cut}");
        }
    }

    #[test]
    fn accents_emoji_and_flags_stay_whole() {
        // e + combining acute, repeated with no spaces.
        let accented = "e\u{301}".repeat(10);
        let cut = cut_point(&accented, 5, Measure::Chars);
        assert!(!accented[cut..].starts_with('\u{301}'), "{cut}");
        // A family emoji joined with ZWJ, then a skin-toned thumb.
        let family = "👩\u{200D}👩\u{200D}👧👍\u{1F3FD}";
        for budget in 0..Measure::Utf16.len(family) {
            let cut = cut_point(family, budget, Measure::Utf16);
            assert!(
                [0, "👩\u{200D}👩\u{200D}👧".len(), family.len()].contains(&cut),
                "budget {budget} cut at {cut}"
            );
        }
        // Flags: pairs of regional indicators.
        let flags = "🇫🇷🇩🇪🇮🇹";
        for budget in 0..Measure::Chars.len(flags) {
            let cut = cut_point(flags, budget, Measure::Chars);
            assert_eq!(flags[..cut].chars().count() % 2, 0, "budget {budget}");
        }
    }

    #[test]
    fn platforms_count_differently() {
        assert_eq!(Measure::Chars.len("a😀"), 2);
        assert_eq!(Measure::Utf16.len("a😀"), 3);
        assert_eq!(Measure::Bytes.len("a😀"), 5);
        assert_eq!(Measure::JsonBytes.len("\"a\"\n\u{1}"), 2 + 1 + 2 + 2 + 6);
        let json = serde_json::to_string("\"a\"\n\u{1}é😀").unwrap();
        assert_eq!(
            Measure::JsonBytes.len("\"a\"\n\u{1}é😀"),
            json.len() - 2,
            "as serde_json writes it"
        );
    }

    #[test]
    fn spans_that_must_stay_whole_are_not_cut() {
        let text = "see <https://example.com/a/long/path|the details> now";
        let cut = shorten_keeping(text, 30, Measure::Chars, "", &[('<', '>')]);
        assert_eq!(cut, "see…");
        let cut = shorten_keeping(
            "a &amp;&amp;&amp;&amp;",
            10,
            Measure::Chars,
            "",
            &[('&', ';')],
        );
        assert_eq!(cut, "a &amp;…");
    }
}
