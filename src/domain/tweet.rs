//! How long X counts a tweet, exactly as twitter-text 3.1.0's `parseTweet` does with its v3
//! configuration: text is NFC-normalised; most Latin, Cyrillic and punctuation characters count
//! one and everything else (CJK, most symbols) two; every emoji, however many code points it
//! takes, counts two; and every URL the extractor recognises counts as a 23-character t.co link.
//! `tests/twitter_text.rs` runs twitter-text's conformance suite against it. No IO.

mod emoji;
mod tables;
mod tlds;
mod url;

use std::ops::Range;

use serde::Serialize;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// The most a tweet may weigh, in characters.
pub const MAX_WEIGHTED_LENGTH: usize = 280;

/// How a text measures up as a tweet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TweetLength {
    /// The length X counts, in characters.
    pub weighted_length: usize,
    /// Whether X would accept it: not empty or only whitespace, no invalid characters
    /// (U+FFFE, U+FEFF, U+FFFF), at most 280.
    pub valid: bool,
    /// The weighted length in thousandths of the maximum (1000 is exactly full).
    pub permillage: usize,
}

/// Weighs `text` as X does (twitter-text v3) and says whether it may be posted.
pub fn parse_tweet(text: &str) -> TweetLength {
    let mut length = parse_tweet_with(text, &TweetConfig::V3).length;
    // twitter-text accepts a tweet of only spaces; X refuses it as empty.
    length.valid &= !text.trim().is_empty();
    length
}

/// The host of every link in `text`, lowercased: each URL X's link extractor finds (with or
/// without a protocol: `evil.com/x` counts), and anything written after `http://` or `https://`
/// even where the extractor would not see a link (an IP address, a reserved TLD). The tripwire
/// checks them against its allow-list.
pub fn link_hosts(text: &str) -> Vec<String> {
    fn host_of(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest
            .split(['/', '?', '#', ' ', ')', ']', '>', '"', '\'', '<'])
            .next()
            .unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = if host.starts_with('[') {
            host.split(']').next().unwrap_or("").trim_start_matches('[')
        } else {
            host.split(':').next().unwrap_or("")
        };
        host.trim_end_matches('.').to_lowercase()
    }
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut hosts: Vec<String> = url::find_urls(&units)
        .into_iter()
        .map(|found| host_of(&String::from_utf16_lossy(&found.url)))
        .collect();
    let lower = text.to_lowercase();
    for scheme in ["http://", "https://"] {
        hosts.extend(
            lower
                .match_indices(scheme)
                .map(|(at, _)| host_of(&lower[at..])),
        );
    }
    hosts.retain(|h| !h.is_empty());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// A code point range and the weight of each code point in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightRange {
    pub start: u32,
    pub end: u32,
    pub weight: usize,
}

/// A twitter-text configuration (its `config/v2.json` and `config/v3.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TweetConfig {
    pub max_weighted_length: usize,
    /// Weights are in 1/scale characters.
    pub scale: usize,
    /// The weight of a code point in none of `ranges`, and of an emoji.
    pub default_weight: usize,
    /// What a URL counts, in characters.
    pub transformed_url_length: usize,
    /// Whether an emoji sequence counts once (v3) or by its code points (v2).
    pub emoji_parsing: bool,
    pub ranges: &'static [WeightRange],
}

/// The code points that count one character; everything else counts two.
#[rustfmt::skip]
const LIGHT_RANGES: &[WeightRange] = &[
    // Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Indic scripts... Georgian (U+0000-10FF).
    WeightRange { start: 0, end: 4351, weight: 100 },
    // Spaces, zero-width space and joiners (U+2000-200D).
    WeightRange { start: 8192, end: 8205, weight: 100 },
    // Dashes and quotation marks (U+2010-201F).
    WeightRange { start: 8208, end: 8223, weight: 100 },
    // Primes (U+2032-2037).
    WeightRange { start: 8242, end: 8247, weight: 100 },
];

impl TweetConfig {
    /// 280 weighted characters, emoji counted by their code points.
    pub const V2: TweetConfig = TweetConfig {
        max_weighted_length: MAX_WEIGHTED_LENGTH,
        scale: 100,
        default_weight: 200,
        transformed_url_length: 23,
        emoji_parsing: false,
        ranges: LIGHT_RANGES,
    };

    /// What X uses: V2, and every emoji sequence counts as two.
    pub const V3: TweetConfig = TweetConfig {
        emoji_parsing: true,
        ..TweetConfig::V2
    };

    /// The weight of one UTF-16 code unit. As in twitter-text, a surrogate pair is weighed by
    /// its low surrogate, which no range covers, so it gets the default weight.
    fn weight_of(&self, unit: u16) -> usize {
        let unit = u32::from(unit);
        self.ranges
            .iter()
            .find(|range| (range.start..=range.end).contains(&unit))
            .map_or(self.default_weight, |range| range.weight)
    }
}

/// Everything twitter-text's `parseTweet` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTweet {
    pub length: TweetLength,
    /// The last UTF-16 offset (inclusive) of the part that fits, as twitter-text computes it:
    /// an offset into the normalised text, moved by the difference normalisation made to the
    /// text's length (so it can even be negative).
    pub valid_range_end: isize,
    /// The last UTF-16 offset (inclusive) of the text; 0 when it is empty.
    pub display_range_end: usize,
}

/// twitter-text's `parseTweet(text, config)`, with nothing of Herald's added.
pub fn parse_tweet_with(text: &str, config: &TweetConfig) -> ParsedTweet {
    let normalized: Vec<u16> = match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text.encode_utf16().collect(),
        _ => text.nfc().collect::<String>().encode_utf16().collect(),
    };

    // What begins at each offset; a URL wins over an emoji that begins at the same place.
    let mut starts = vec![Start::Nothing; normalized.len()];
    if config.emoji_parsing {
        for emoji in emoji::find_emoji(&normalized) {
            starts[emoji.start] = Start::Emoji(emoji.len());
        }
    }
    for url in url::find_urls(&normalized) {
        // Skipped by the length of the URL's text, which can be shorter than its span.
        starts[url.span.start] = Start::Url(url.url.len());
    }

    let limit = config.max_weighted_length * config.scale;
    let mut weight = 0;
    let mut valid = true;
    let mut valid_end = 0;
    let mut at = 0;
    while at < normalized.len() {
        match starts[at] {
            Start::Url(length) => {
                weight += config.transformed_url_length * config.scale;
                at += length - 1;
            }
            Start::Emoji(length) => {
                weight += config.default_weight;
                at += length - 1;
            }
            Start::Nothing => {
                if is_surrogate_pair(&normalized, at) {
                    at += 1;
                }
                weight += config.weight_of(normalized[at]);
            }
        }
        // Like twitter-text, this looks only at the last unit of a URL or emoji.
        valid = valid && !normalized.get(at).is_some_and(|&u| is_invalid(u));
        if valid && weight <= limit {
            valid_end = at;
        }
        at += 1;
    }

    // Both configurations weigh in whole multiples of the scale.
    let weighted_length = weight / config.scale;
    let valid = valid && weighted_length > 0 && weighted_length <= config.max_weighted_length;
    // Computed in floating point as twitter-text does; it differs from integer arithmetic
    // only for texts nine times too long.
    let permillage = (weighted_length as f64 / config.max_weighted_length as f64 * 1000.0).floor();
    let original_length = text.encode_utf16().count();
    ParsedTweet {
        length: TweetLength {
            weighted_length,
            valid,
            permillage: permillage as usize,
        },
        valid_range_end: valid_end as isize + original_length as isize - normalized.len() as isize,
        display_range_end: original_length.saturating_sub(1),
    }
}

#[derive(Clone, Copy)]
enum Start {
    Nothing,
    /// A URL whose text is this many UTF-16 units long.
    Url(usize),
    /// An emoji this many UTF-16 units long.
    Emoji(usize),
}

fn is_surrogate_pair(text: &[u16], at: usize) -> bool {
    (0xD800..0xDC00).contains(&text[at])
        && text
            .get(at + 1)
            .is_some_and(|u| (0xDC00..0xE000).contains(u))
}

/// twitter-text's invalid characters. (Directional marks such as U+202A were invalid before
/// twitter-text 2.0 and are allowed now.)
fn is_invalid(unit: u16) -> bool {
    matches!(unit, 0xFFFE | 0xFEFF | 0xFFFF)
}

/// The URLs in `text` that X turns into t.co links, with their UTF-16 offsets (the offsets
/// X's API and twitter-text use): `extractUrlsWithIndices`. The text is taken as it is, not
/// normalised. A URL written without a protocol is found only on an ASCII domain with a known
/// TLD, and for some non-ASCII domains the URL text is shorter than its span.
pub fn extract_urls(text: &str) -> Vec<(String, Range<usize>)> {
    let units: Vec<u16> = text.encode_utf16().collect();
    url::find_urls(&units)
        .into_iter()
        .map(|found| (String::from_utf16_lossy(&found.url), found.span))
        .collect()
}

const ELLIPSIS: &str = "…";

/// Shortens `text` at a word boundary and appends "…" so that the result, followed by " " + url
/// (counted as 23), fits in 280 weighted; used to compose default tweets.
///
/// The caller appends `" "` and `url`; the whole is measured, so a `url` X would not recognise
/// (such as `http://localhost:8080/…`) is counted by its characters. `text` comes back unchanged
/// when it already fits. A first word too long to fit is cut between characters. When the link
/// leaves no room at all the result is "…".
pub fn fit_with_link(text: &str, url: &str) -> String {
    let fits = |candidate: &str| {
        parse_tweet(&format!("{candidate} {url}")).weighted_length <= MAX_WEIGHTED_LENGTH
    };
    if fits(text) {
        return text.to_string();
    }
    let shortened = |end: usize| {
        let kept = text[..end].trim_end_matches(|c: char| c.is_whitespace() || is_dangling(c));
        format!("{kept}{ELLIPSIS}")
    };
    let word_ends: Vec<usize> = text
        .char_indices()
        .filter(|&(at, c)| c.is_whitespace() && text[..at].ends_with(|b: char| !b.is_whitespace()))
        .map(|(at, _)| at)
        .collect();
    let first_word_end = word_ends.first().copied().unwrap_or(text.len());
    let char_ends: Vec<usize> = text[..first_word_end]
        .char_indices()
        .filter(|&(at, c)| at > 0 && !continues_previous(c) && !text[..at].ends_with('\u{200D}'))
        .map(|(at, _)| at)
        .collect();
    longest_fitting(&word_ends, |end| fits(&shortened(end)))
        .or_else(|| longest_fitting(&char_ends, |end| fits(&shortened(end))))
        .map_or_else(|| ELLIPSIS.to_string(), shortened)
}

/// The last of `ends` at which `fits` holds. Fitting is monotone in practice (a longer prefix
/// weighs more), so a binary search finds it; the walk back covers the odd case where it is not.
fn longest_fitting(ends: &[usize], fits: impl Fn(usize) -> bool) -> Option<usize> {
    let fitting = ends.partition_point(|&end| fits(end));
    ends[..fitting].iter().rev().copied().find(|&end| fits(end))
}

/// Punctuation that should not be left hanging before the ellipsis.
fn is_dangling(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '.' | '-' | '–' | '—' | '(' | '[')
}

/// Characters that belong with the one before them and must not begin a cut-off tail.
fn continues_previous(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
        || matches!(c, '\u{200D}' | '\u{FE0E}' | '\u{FE0F}' | '\u{20E3}')
        || ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)
        || ('\u{E0020}'..='\u{E007F}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_text_counts_one_per_character() {
        let length = parse_tweet("Investigating elevated error rates");
        assert_eq!(length.weighted_length, 34);
        assert!(length.valid);
        assert_eq!(length.permillage, 121);
    }

    #[test]
    fn cjk_and_emoji_count_two_and_urls_count_twenty_three() {
        assert_eq!(parse_tweet("障害").weighted_length, 4);
        assert_eq!(parse_tweet("👩🏽‍🚀").weighted_length, 2);
        assert_eq!(
            parse_tweet("see status.example.com/incidents/42").weighted_length,
            27
        );
    }

    #[test]
    fn empty_whitespace_and_overlong_tweets_are_invalid() {
        assert!(!parse_tweet("").valid);
        assert!(!parse_tweet("  \n ").valid);
        assert!(!parse_tweet("\u{FEFF}hello").valid);
        assert!(parse_tweet(&"x".repeat(280)).valid);
        assert!(!parse_tweet(&"x".repeat(281)).valid);
    }

    #[test]
    fn urls_come_with_utf16_offsets() {
        let urls = extract_urls("😷 see https://example.com/a, or t.co");
        assert_eq!(
            urls,
            vec![
                ("https://example.com/a".to_string(), 7..28),
                ("t.co".to_string(), 33..37)
            ]
        );
    }

    #[test]
    fn a_short_text_is_left_alone() {
        let text = "API latency is back to normal.";
        assert_eq!(fit_with_link(text, "https://status.example.com/i/1"), text);
    }

    #[test]
    fn a_long_text_is_cut_at_a_word_and_the_link_still_fits() {
        let text = "We are investigating elevated error rates on the API. ".repeat(10);
        let url = "https://status.example.com/incidents/01HZX";
        let fitted = fit_with_link(&text, url);
        assert!(fitted.ends_with("error…"), "{fitted}");
        let tweet = parse_tweet(&format!("{fitted} {url}"));
        // " rates" would have made it 283.
        assert_eq!(tweet.weighted_length, 277);
        assert!(tweet.valid);
    }

    #[test]
    fn a_link_x_does_not_recognise_counts_by_its_characters() {
        let url = format!("http://localhost:8080/{}", "a".repeat(200));
        let fitted = fit_with_link(&"word ".repeat(60), &url);
        let tweet = parse_tweet(&format!("{fitted} {url}"));
        assert!(tweet.weighted_length <= MAX_WEIGHTED_LENGTH, "{tweet:?}");
        assert!(tweet.weighted_length > 270, "{tweet:?}");
    }

    #[test]
    fn one_endless_word_is_cut_between_characters() {
        let fitted = fit_with_link(&"障".repeat(300), "https://example.com/x");
        assert_eq!(fitted, format!("{}…", "障".repeat(127)));
    }
}
