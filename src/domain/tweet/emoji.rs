//! The emoji that twemoji-parser 11.0.2 finds (the parser twitter-text 3.1.0 uses for its v3
//! weighting), each of which counts as one character of default weight however many code
//! points it takes. The branches below are those of twemoji-parser's regex, tried in its order.

use std::ops::Range;

use super::tables::{
    EMOJI_WITH_VS16, FLAG_REGIONS, GENDERED, GENDERED_WITH_SKIN_OR_VS16, GENDER_SIGN, KEYCAP_BASE,
    PERSON_WITH_PROFESSION, PROFESSION, PROFESSION_WITH_VS16, SINGLE, SKIN_TONE_EMOJI_DEFAULT,
    SKIN_TONE_TEXT_DEFAULT, STARTS, TAG_FLAGS, TEXT_DEFAULT, ZWJ_SEQUENCES,
};

const ZWJ: u32 = 0x200D;
const VS15: u32 = 0xFE0E;
const VS16: u32 = 0xFE0F;
const KEYCAP: u32 = 0x20E3;
const SKIN_TONES: &[(u32, u32)] = &[(0x1F3FB, 0x1F3FF)];
const REGIONAL_INDICATOR_A: u32 = 0x1F1E6;

/// The UTF-16 spans of the emoji in `text`, leftmost first, none overlapping.
pub(super) fn find_emoji(text: &[u16]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        match emoji_end(&Cursor(text), at) {
            Some(end) => {
                found.push(at..end);
                at = end;
            }
            None => at += 1,
        }
    }
    found
}

/// Reads code points out of UTF-16, leaving an unpaired surrogate as it is.
struct Cursor<'a>(&'a [u16]);

impl Cursor<'_> {
    /// The code point at `at` and where the next one starts.
    fn next(&self, at: usize) -> Option<(u32, usize)> {
        let first = *self.0.get(at)?;
        if (0xD800..0xDC00).contains(&first) {
            if let Some(&second) = self.0.get(at + 1) {
                if (0xDC00..0xE000).contains(&second) {
                    let c = 0x10000
                        + ((u32::from(first) - 0xD800) << 10)
                        + (u32::from(second) - 0xDC00);
                    return Some((c, at + 2));
                }
            }
        }
        Some((u32::from(first), at + 1))
    }

    /// Where the code point at `at` ends, if it is in `set`.
    fn take(&self, at: usize, set: &[(u32, u32)]) -> Option<usize> {
        self.next(at)
            .filter(|&(c, _)| contains(set, c))
            .map(|(_, end)| end)
    }

    fn take_char(&self, at: usize, wanted: u32) -> Option<usize> {
        self.next(at)
            .filter(|&(c, _)| c == wanted)
            .map(|(_, end)| end)
    }

    /// `(?:\ufe0f|(?!\ufe0e))`: a VS16 is taken, a VS15 refuses the match.
    fn emoji_presentation(&self, at: usize) -> Option<usize> {
        match self.next(at) {
            Some((VS16, end)) => Some(end),
            Some((VS15, _)) => None,
            _ => Some(at),
        }
    }

    fn optional_skin_tone(&self, at: usize) -> usize {
        self.take(at, SKIN_TONES).unwrap_or(at)
    }

    fn sequence(&self, at: usize, code_points: &[u32]) -> Option<usize> {
        code_points
            .iter()
            .try_fold(at, |at, &c| self.take_char(at, c))
    }
}

fn contains(set: &[(u32, u32)], c: u32) -> bool {
    set.binary_search_by(|&(low, high)| {
        if high < c {
            std::cmp::Ordering::Less
        } else if low > c {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    })
    .is_ok()
}

/// The ASCII members of STARTS (`#`, `*` and digits, for keycaps), as a bitmap.
const ASCII_STARTS: u128 = {
    let mut bits = 0;
    let mut i = 0;
    while i < STARTS.len() {
        let mut c = STARTS[i].0;
        while c <= STARTS[i].1 && c < 128 {
            bits |= 1 << c;
            c += 1;
        }
        i += 1;
    }
    bits
};

/// The end of the emoji that starts at `at`, taking the first branch of the regex that fits.
fn emoji_end(text: &Cursor, at: usize) -> Option<usize> {
    // Most text begins no emoji; one lookup spares it the branches.
    let (first, _) = text.next(at)?;
    let may_start = match first {
        0..128 => ASCII_STARTS >> first & 1 == 1,
        _ => contains(STARTS, first),
    };
    if !may_start {
        return None;
    }
    let branches: [&dyn Fn() -> Option<usize>; 10] = [
        // 1. Man or woman, optional skin tone, ZWJ, profession: 👩🏽‍🚀
        &|| {
            let at = text.take(at, PERSON_WITH_PROFESSION)?;
            let at = text.take_char(text.optional_skin_tone(at), ZWJ)?;
            text.take(at, PROFESSION_WITH_VS16)
                .and_then(|at| text.take_char(at, VS16))
                .or_else(|| text.take(at, PROFESSION))
        },
        // 2. A person, then a skin tone or VS16, ZWJ, gender sign, VS16: 🏋️‍♀️
        &|| {
            let at = text.take(at, GENDERED_WITH_SKIN_OR_VS16)?;
            let at = text
                .take(at, SKIN_TONES)
                .or_else(|| text.take_char(at, VS16))?;
            gender_suffix(text, at)
        },
        // 3. A person, optional skin tone, ZWJ, gender sign, VS16: 🙆🏾‍♂️
        &|| {
            let at = text.take(at, GENDERED)?;
            gender_suffix(text, text.optional_skin_tone(at))
        },
        // 4. Families, couples and other fixed ZWJ sequences: 👨‍👩‍👧‍👦
        &|| ZWJ_SEQUENCES.iter().find_map(|seq| text.sequence(at, seq)),
        // 5. Keycaps: 1️⃣
        &|| {
            let at = text.take(at, KEYCAP_BASE)?;
            let at = text.take_char(at, VS16).unwrap_or(at);
            text.take_char(at, KEYCAP)
        },
        // 6. Characters that are emoji only with VS16: ©️
        &|| text.take_char(text.take(at, EMOJI_WITH_VS16)?, VS16),
        // 7. Characters that are emoji unless VS15 asks for text: ☺
        &|| text.emoji_presentation(text.take(at, TEXT_DEFAULT)?),
        // 8. Characters that a skin tone may follow: ✌🏿
        &|| {
            let at = text
                .take(at, SKIN_TONE_TEXT_DEFAULT)
                .and_then(|at| text.emoji_presentation(at))
                .or_else(|| text.take(at, SKIN_TONE_EMOJI_DEFAULT))?;
            Some(text.optional_skin_tone(at))
        },
        // 9. Subdivision flags, country flags, single code points: 🏴󠁧󠁢󠁳󠁣󠁴󠁿 🇳🇿 😷
        &|| {
            TAG_FLAGS
                .iter()
                .find_map(|seq| text.sequence(at, seq))
                .or_else(|| flag_end(text, at))
                .or_else(|| text.take(at, SINGLE))
        },
        // 10. A VS16 on its own.
        &|| text.take_char(at, VS16),
    ];
    branches.iter().find_map(|branch| branch())
}

/// ZWJ, female or male sign, VS16.
fn gender_suffix(text: &Cursor, at: usize) -> Option<usize> {
    let at = text.take_char(at, ZWJ)?;
    text.take_char(text.take(at, GENDER_SIGN)?, VS16)
}

/// Two regional indicators that name a region with a flag.
fn flag_end(text: &Cursor, at: usize) -> Option<usize> {
    let letter = |at| {
        let (c, end) = text.next(at)?;
        let offset = c.checked_sub(REGIONAL_INDICATOR_A).filter(|&o| o < 26)?;
        Some((b'A' + offset as u8, end))
    };
    let (first, at) = letter(at)?;
    let (second, end) = letter(at)?;
    FLAG_REGIONS.contains(&[first, second]).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(s: &str) -> Vec<Range<usize>> {
        find_emoji(&s.encode_utf16().collect::<Vec<_>>())
    }

    #[test]
    fn every_branch_begins_with_a_listed_start() {
        let sets = [
            PERSON_WITH_PROFESSION,
            GENDERED_WITH_SKIN_OR_VS16,
            GENDERED,
            KEYCAP_BASE,
            EMOJI_WITH_VS16,
            TEXT_DEFAULT,
            SKIN_TONE_TEXT_DEFAULT,
            SKIN_TONE_EMOJI_DEFAULT,
            SINGLE,
        ];
        let members = sets
            .iter()
            .flat_map(|set| set.iter().flat_map(|&(a, b)| a..=b));
        let sequence_starts = ZWJ_SEQUENCES.iter().chain(TAG_FLAGS).map(|seq| seq[0]);
        let flag_starts = FLAG_REGIONS
            .iter()
            .map(|region| REGIONAL_INDICATOR_A + u32::from(region[0] - b'A'));
        for c in members
            .chain(sequence_starts)
            .chain(flag_starts)
            .chain([VS16])
        {
            assert!(contains(STARTS, c), "{c:X}");
        }
    }

    #[test]
    fn a_zwj_family_is_one_emoji() {
        assert_eq!(spans("👨‍👩‍👧‍👦!"), vec![0..11]);
    }

    #[test]
    fn text_presentation_selector_refuses_a_text_default_emoji() {
        assert_eq!(spans("☺\u{FE0E}"), vec![]);
        assert_eq!(spans("☺\u{FE0F}"), vec![0..2]);
        assert_eq!(spans("☺"), vec![0..1]);
    }

    #[test]
    fn flags_need_a_known_region() {
        assert_eq!(spans("🇳🇿"), vec![0..4]);
        // "AA" is no region: two single regional indicators.
        assert_eq!(spans("🇦🇦"), vec![0..2, 2..4]);
    }
}
