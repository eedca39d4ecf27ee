//! The URLs that twitter-text 3.1.0's `extractUrlsWithIndices` finds, and so the spans a tweet
//! counts as one t.co link. Its regexes are replayed here as a scanner over UTF-16 code units,
//! the units they match and the offsets they report, with the same backtracking choices.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

use super::{tables, tlds};

/// A set of UTF-16 code units: a bitmap for ASCII, sorted inclusive ranges above it.
pub(super) struct CodeUnitSet {
    ascii: u128,
    ranges: &'static [(u16, u16)],
}

impl CodeUnitSet {
    pub(super) const fn new(ascii: u128, ranges: &'static [(u16, u16)]) -> Self {
        CodeUnitSet { ascii, ranges }
    }

    fn contains(&self, unit: u16) -> bool {
        if unit < 128 {
            return self.ascii >> unit & 1 == 1;
        }
        self.ranges
            .binary_search_by(|&(low, high)| {
                if high < unit {
                    Ordering::Less
                } else if low > unit {
                    Ordering::Greater
                } else {
                    Ordering::Equal
                }
            })
            .is_ok()
    }

    /// Whether the unit at `at` exists and belongs to the set.
    fn has(&self, text: &[u16], at: usize) -> bool {
        text.get(at).is_some_and(|&unit| self.contains(unit))
    }

    /// The end of the run of members that starts at `at`.
    fn run_end(&self, text: &[u16], at: usize) -> usize {
        let mut end = at;
        while self.has(text, end) {
            end += 1;
        }
        end
    }
}

/// A URL as twitter-text reports it. `url` is usually `text[span]`; for a URL written without a
/// protocol whose domain has a non-ASCII label, twitter-text keeps only the ASCII part of the
/// domain but still reports the span to the end of the path.
pub(super) struct FoundUrl {
    pub url: Vec<u16>,
    pub span: Range<usize>,
}

const MAX_URL_LENGTH: usize = 4096;
const MAX_TCO_SLUG_LENGTH: usize = 40;
const MAX_DOMAIN_LABEL_LENGTH: usize = 63;
/// Counted in place of the protocol a URL was written without.
const DEFAULT_PROTOCOL_LENGTH: usize = "https://".len();

const fn unit(c: char) -> u16 {
    c as u16
}

/// Every URL in `text`, in order: `extractUrlsWithIndices(text)` with its default options.
pub(super) fn find_urls(text: &[u16]) -> Vec<FoundUrl> {
    let mut urls = Vec::new();
    if !text.contains(&unit('.')) {
        return urls;
    }
    let mut scanner = Scanner::new(text);
    let mut from = 0;
    while let Some(candidate) = scanner.next_candidate(from) {
        // Like the /g regex, the search goes on after the match even when it is then refused.
        from = candidate.end;
        accept(text, &candidate, &mut urls);
    }
    urls
}

/// What the extractor regex captures: the character before the URL, and the URL's parts.
struct Candidate {
    before: Option<u16>,
    start: usize,
    protocol: Option<usize>,
    domain: Range<usize>,
    has_path: bool,
    end: usize,
}

/// The regex engine reads the same domain labels again from every place a URL might start;
/// the scanner remembers them, which keeps long runs of CJK text or of `a.a.a.` linear.
struct Scanner<'a> {
    text: &'a [u16],
    /// Where the run of domain characters, `_` and `-` that starts at each offset ends.
    run_end: Vec<usize>,
    /// The first `_` at or after each offset.
    next_underscore: Vec<usize>,
    /// `domain_end` at each offset, once known.
    domains: Vec<Option<Option<usize>>>,
    /// `tld_end` at each offset, once known.
    tlds: Vec<Option<Option<usize>>>,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a [u16]) -> Self {
        let len = text.len();
        let mut run_end = vec![len; len + 1];
        let mut next_underscore = vec![len; len + 1];
        for at in (0..len).rev() {
            let u = text[at];
            let in_run = tables::DOMAIN.contains(u) || u == unit('_') || u == unit('-');
            run_end[at] = if in_run { run_end[at + 1] } else { at };
            next_underscore[at] = if u == unit('_') {
                at
            } else {
                next_underscore[at + 1]
            };
        }
        Scanner {
            text,
            run_end,
            next_underscore,
            domains: vec![None; len + 1],
            tlds: vec![None; len + 1],
        }
    }

    /// The leftmost match of twitter-text's `extractUrl` regex at or after `from`.
    fn next_candidate(&mut self, from: usize) -> Option<Candidate> {
        for at in from..=self.text.len() {
            // `validUrlPrecedingChars` is one character, or the start of the text.
            if tables::URL_PRECEDING.has(self.text, at) {
                if let Some(candidate) = self.url_at(at + 1, Some(self.text[at])) {
                    return Some(candidate);
                }
            }
            if at == 0 {
                if let Some(candidate) = self.url_at(0, None) {
                    return Some(candidate);
                }
            }
        }
        None
    }

    /// Protocol (optional), domain, port, path and query, starting at `start`.
    fn url_at(&mut self, start: usize, before: Option<u16>) -> Option<Candidate> {
        let text = self.text;
        let with_protocol = ["https://", "http://"]
            .iter()
            .find(|protocol| starts_with_ignore_ascii_case(text, start, protocol))
            .and_then(|protocol| {
                let domain_start = start + protocol.len();
                let domain_end = self.domain_end(domain_start)?;
                Some((Some(protocol.len()), domain_start..domain_end))
            });
        let (protocol, domain) = match with_protocol {
            Some(found) => found,
            None => (None, start..self.domain_end(start)?),
        };

        let mut end = domain.end;
        // Port.
        let is_digit = |at: usize| {
            text.get(at)
                .is_some_and(|u| (unit('0')..=unit('9')).contains(u))
        };
        if text.get(end) == Some(&unit(':')) && is_digit(end + 1) {
            end += 1;
            while is_digit(end) {
                end += 1;
            }
        }
        // Path.
        let has_path = text.get(end) == Some(&unit('/'));
        if has_path {
            end = path_end(text, end + 1);
        }
        // Query.
        if text.get(end) == Some(&unit('?')) {
            end = query_end(text, end + 1).unwrap_or(end);
        }
        Some(Candidate {
            before,
            start,
            protocol,
            domain,
            has_path,
            end,
        })
    }

    /// A label of `validSubdomain` at `at`: a run of domain characters, `_` and `-` that begins
    /// and ends with a domain character and is followed by a dot.
    fn label_at(&self, at: usize) -> Option<Range<usize>> {
        let end = self.run_end[at];
        let is_label = end > at
            && tables::DOMAIN.contains(self.text[at])
            && tables::DOMAIN.contains(self.text[end - 1])
            && self.text.get(end) == Some(&unit('.'));
        is_label.then_some(at..end)
    }

    /// `validDomain` at `start`: subdomains, a domain name and a TLD. The regex takes every
    /// label as a subdomain first, then gives them back one at a time until the label after
    /// the domain name is a TLD; so the domain ends at the last TLD it can. The domain name
    /// may not contain `_`. Returns where the domain ends.
    fn domain_end(&mut self, start: usize) -> Option<usize> {
        // The labels from `start` up to the first offset already worked out...
        let mut labels = Vec::new();
        let mut at = start;
        while self.domains[at].is_none() {
            match self.label_at(at) {
                Some(label) => {
                    at = label.end + 1;
                    labels.push(label);
                }
                None => {
                    self.domains[at] = Some(None);
                    break;
                }
            }
        }
        // ...then back to `start`: a domain from a later label wins over one from this label.
        for label in labels.into_iter().rev() {
            let later = self.domains[label.end + 1].flatten();
            let here = || {
                let has_underscore = self.next_underscore[label.start] < label.end;
                if has_underscore {
                    None
                } else {
                    self.tld_end(label.end + 1)
                }
            };
            let end = later.or_else(here);
            self.domains[label.start] = Some(end);
        }
        self.domains[start].flatten()
    }

    fn tld_end(&mut self, at: usize) -> Option<usize> {
        *self.tlds[at].get_or_insert_with(|| tld_end(self.text, at))
    }
}

/// The longest TLD, in UTF-16 code units.
const LONGEST_TLD: usize = 24;

/// The end of a TLD starting at `at`: a generic TLD, else a country TLD (the longest that
/// fits, as the regex lists longer TLDs first), else a punycode one.
fn tld_end(text: &[u16], at: usize) -> Option<usize> {
    // No TLD holds an ASCII character other than a letter, so none reaches past one.
    let mut window = [0; LONGEST_TLD];
    let mut available = 0;
    for &u in text.get(at..).unwrap_or(&[]).iter().take(LONGEST_TLD) {
        if u < 128 && !u8::try_from(u).is_ok_and(|b| b.is_ascii_alphabetic()) {
            break;
        }
        window[available] = js_canonical_case(u);
        available += 1;
    }
    for list in [&*GENERIC, &*COUNTRY] {
        for len in (1..=available).rev() {
            // The lookahead after a TLD: `(?=[^0-9a-zA-Z@+-]|$)`.
            if !tables::TLD_CONTINUES.has(text, at + len) && list.contains(&window[..len]) {
                return Some(at + len);
            }
        }
    }
    if starts_with_ignore_ascii_case(text, at, "xn--") && tables::PUNYCODE.has(text, at + 4) {
        return Some(tables::PUNYCODE.run_end(text, at + 4));
    }
    None
}

/// TLDs as a case-insensitive regex compares them: by `js_canonical_case`.
struct TldSet(HashSet<Vec<u16>>);

impl TldSet {
    fn new(list: &[&str]) -> Self {
        TldSet(
            list.iter()
                .map(|tld| tld.encode_utf16().map(js_canonical_case).collect())
                .collect(),
        )
    }

    fn contains(&self, canonical: &[u16]) -> bool {
        self.0.contains(canonical)
    }
}

static GENERIC: LazyLock<TldSet> = LazyLock::new(|| TldSet::new(tlds::GENERIC));
static COUNTRY: LazyLock<TldSet> = LazyLock::new(|| TldSet::new(tlds::COUNTRY));

/// How a case-insensitive JavaScript regex without the `u` flag compares a code unit: by its
/// upper case, unless that takes more than one unit or turns a non-ASCII unit into ASCII.
fn js_canonical_case(unit: u16) -> u16 {
    if unit < 128 {
        return u16::from((unit as u8).to_ascii_uppercase());
    }
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit;
    };
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => match u16::try_from(u32::from(u)) {
            Ok(u) if u >= 128 => u,
            _ => unit,
        },
        _ => unit,
    }
}

fn starts_with_ignore_ascii_case(text: &[u16], at: usize, prefix: &str) -> bool {
    let prefix = prefix.as_bytes();
    text.len() >= at + prefix.len()
        && text[at..at + prefix.len()]
            .iter()
            .zip(prefix)
            .all(|(&u, &b)| u8::try_from(u).is_ok_and(|u| u.eq_ignore_ascii_case(&b)))
}

/// `validUrlPath*` after the slash: path characters and balanced parentheses, ending on a path
/// ending character or a closing parenthesis (so `/foo.` does not take the full stop).
fn path_end(text: &[u16], start: usize) -> usize {
    let mut at = start;
    let mut end = start;
    loop {
        if tables::PATH.has(text, at) {
            at += 1;
            if tables::PATH_END.contains(text[at - 1]) {
                end = at;
            }
        } else if let Some(after) = balanced_parens_end(text, at) {
            at = after;
            end = at;
        } else {
            return end;
        }
    }
}

/// `validUrlBalancedParens`: `(path chars)` or one nested level, `(a(b)c)`.
fn balanced_parens_end(text: &[u16], at: usize) -> Option<usize> {
    if text.get(at) != Some(&unit('(')) {
        return None;
    }
    let inner = tables::PATH.run_end(text, at + 1);
    if inner > at + 1 && text.get(inner) == Some(&unit(')')) {
        return Some(inner + 1);
    }
    if text.get(inner) != Some(&unit('(')) {
        return None;
    }
    let nested = tables::PATH.run_end(text, inner + 1);
    if nested == inner + 1 || text.get(nested) != Some(&unit(')')) {
        return None;
    }
    let tail = tables::PATH.run_end(text, nested + 1);
    (text.get(tail) == Some(&unit(')'))).then_some(tail + 1)
}

/// A query after the `?`: query characters up to the last query ending character.
fn query_end(text: &[u16], start: usize) -> Option<usize> {
    let run_end = tables::QUERY.run_end(text, start);
    (start..run_end)
        .rev()
        .find(|&at| tables::QUERY_END.contains(text[at]))
        .map(|at| at + 1)
}

/// The checks twitter-text makes on a regex match before it reports a URL.
fn accept(text: &[u16], candidate: &Candidate, urls: &mut Vec<FoundUrl>) {
    let span = candidate.start..candidate.end;
    let protocol_length = candidate.protocol.unwrap_or(DEFAULT_PROTOCOL_LENGTH);
    if !domain_labels_fit(&text[candidate.domain.clone()])
        || protocol_length + span.len() > MAX_URL_LENGTH
    {
        return;
    }

    if candidate.protocol.is_none() {
        // Without a protocol only ASCII domains count, and not after `-`, `_`, `.` or `/`.
        let after_separator = candidate
            .before
            .is_some_and(|u| [unit('-'), unit('_'), unit('.'), unit('/')].contains(&u));
        if after_separator {
            return;
        }
        let domain = &text[candidate.domain.clone()];
        let offset = candidate.domain.start;
        let found = urls.len();
        for ascii in ascii_domains(domain) {
            let span = offset + ascii.start..offset + ascii.end;
            urls.push(FoundUrl {
                url: text[span.clone()].to_vec(),
                span,
            });
        }
        if candidate.has_path && urls.len() > found {
            if let Some(last) = urls.last_mut() {
                // The port, path and query follow the last ASCII domain.
                last.url
                    .extend_from_slice(&text[candidate.domain.end..candidate.end]);
                last.span.end = candidate.end;
            }
        }
        return;
    }

    let length = match tco_link(&text[span.clone()]) {
        TcoLink::SlugTooLong => return,
        TcoLink::Length(length) => length,
        TcoLink::NotTco => span.len(),
    };
    let span = span.start..span.start + length;
    urls.push(FoundUrl {
        url: text[span.clone()].to_vec(),
        span,
    });
}

enum TcoLink {
    NotTco,
    /// A slug over 40 characters: not a t.co link, and not a URL either.
    SlugTooLong,
    /// How much of the URL counts: the slug and a query, nothing after them.
    Length(usize),
}

/// twitter-text's `validTcoUrl` test.
fn tco_link(url: &[u16]) -> TcoLink {
    let Some(protocol) = ["https://", "http://"]
        .iter()
        .find(|p| starts_with_ignore_ascii_case(url, 0, p))
    else {
        return TcoLink::NotTco;
    };
    let slug_start = protocol.len() + "t.co/".len();
    let slug_end = tables::TCO_SLUG.run_end(url, slug_start);
    if !starts_with_ignore_ascii_case(url, protocol.len(), "t.co/") || slug_end == slug_start {
        return TcoLink::NotTco;
    }
    if slug_end - slug_start > MAX_TCO_SLUG_LENGTH {
        return TcoLink::SlugTooLong;
    }
    if url.get(slug_end) == Some(&unit('?')) {
        return TcoLink::Length(query_end(url, slug_end + 1).unwrap_or(slug_end));
    }
    TcoLink::Length(slug_end)
}

/// twitter-text's `idna.toAscii` check: a domain that starts `xn--` must hold an ASCII domain,
/// and every label, punycode-encoded, must be 1 to 63 characters long.
fn domain_labels_fit(domain: &[u16]) -> bool {
    let xn = [unit('x'), unit('n'), unit('-'), unit('-')];
    if domain.starts_with(&xn) && ascii_domains(domain).is_empty() {
        return false;
    }
    domain.split(|&u| u == unit('.')).all(|label| {
        punycode_label_length(label)
            .is_some_and(|length| (1..=MAX_DOMAIN_LABEL_LENGTH).contains(&length))
    })
}

/// The length of punycode.js's `toASCII(label)`: the label is split again at the other full
/// stops (`。．｡`), and each part with a character outside printable ASCII becomes `xn--` and
/// its punycode encoding. None when it is certainly longer than a label may be.
fn punycode_label_length(label: &[u16]) -> Option<usize> {
    let is_stop = |u: u16| [0x3002, 0xFF0E, 0xFF61].contains(&u);
    let mut total = 0;
    for (i, part) in label.split(|&u| is_stop(u)).enumerate() {
        total += usize::from(i > 0);
        if part.iter().all(|&u| (0x20..=0x7E).contains(&u)) {
            total += part.len();
        } else {
            let code_points: Vec<u32> = char::decode_utf16(part.iter().copied())
                .map(|c| c.map_or_else(|e| u32::from(e.unpaired_surrogate()), u32::from))
                .collect();
            // Every code point adds at least one character: this is over the limit already.
            if code_points.len() > MAX_DOMAIN_LABEL_LENGTH {
                return None;
            }
            total += "xn--".len() + punycode_encoded_length(&code_points);
        }
    }
    Some(total)
}

/// The length of the RFC 3492 punycode encoding of `input`.
fn punycode_encoded_length(input: &[u32]) -> usize {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    fn adapt(delta: u32, points: u32, first: bool) -> u32 {
        let mut delta = if first { delta / DAMP } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - T_MIN) * T_MAX) / 2 {
            delta /= BASE - T_MIN;
            k += BASE;
        }
        k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
    }

    let basic = input.iter().filter(|&&c| c < 0x80).count();
    let mut length = basic + usize::from(basic > 0);
    let mut n: u32 = 0x80;
    let mut delta: u32 = 0;
    let mut bias: u32 = 72;
    let mut handled = basic as u32;
    let basic = basic as u32;
    while (handled as usize) < input.len() {
        let m = input.iter().copied().filter(|&c| c >= n).min().unwrap_or(n);
        delta += (m - n) * (handled + 1);
        n = m;
        for &c in input {
            if c < n {
                delta += 1;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    length += 1;
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                length += 1;
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    length
}

/// `validAsciiDomain` applied to a domain, globally: the ASCII domains inside it, at the offsets
/// twitter-text computes for them (it looks each one up again with `indexOf`).
fn ascii_domains(domain: &[u16]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut search_from = 0;
    let mut at = 0;
    while at < domain.len() {
        match ascii_domain_end(domain, at) {
            Some(end) => {
                let matched = &domain[at..end];
                let start = index_of(domain, matched, search_from).unwrap_or(at);
                search_from = start + matched.len();
                found.push(start..search_from);
                at = end;
            }
            // A match can only start at a label character, and if none starts at `at`, none
            // starts later in the same run: the labels and TLD after it are the same.
            None => at = tables::ASCII_DOMAIN_LABEL.run_end(domain, at).max(at + 1),
        }
    }
    found
}

/// One match of `validAsciiDomain` at `at`: labels of ASCII letters, digits, `-` and Latin
/// accented letters, each followed by a dot, then a TLD.
fn ascii_domain_end(domain: &[u16], at: usize) -> Option<usize> {
    let mut label_ends = Vec::new();
    let mut start = at;
    loop {
        let end = tables::ASCII_DOMAIN_LABEL.run_end(domain, start);
        if end == start || domain.get(end) != Some(&unit('.')) {
            break;
        }
        label_ends.push(end + 1);
        start = end + 1;
    }
    label_ends
        .iter()
        .rev()
        .find_map(|&tld_start| tld_end(domain, tld_start))
}

fn index_of(haystack: &[u16], needle: &[u16], from: usize) -> Option<usize> {
    (from..=haystack.len().saturating_sub(needle.len()))
        .find(|&at| haystack[at..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn punycode_lengths_match_rfc_3492_examples() {
        // "bücher" is "xn--bcher-kva"; "ü" alone is "xn--tda".
        let bucher: Vec<u32> = "bücher".chars().map(u32::from).collect();
        assert_eq!(punycode_encoded_length(&bucher), "bcher-kva".len());
        assert_eq!(punycode_encoded_length(&[0xFC]), "tda".len());
        assert_eq!(
            punycode_label_length(&utf16("ドメイン名例")),
            Some("xn--eckwd4c7cu47r2wf".len())
        );
    }

    #[test]
    fn javascript_case_folding_keeps_non_ascii_out_of_ascii() {
        assert_eq!(js_canonical_case(u16::from(b'a')), u16::from(b'A'));
        // Dotless i upper-cases to I, which a JavaScript regex does not allow.
        assert_eq!(js_canonical_case(0x131), 0x131);
        assert_eq!(js_canonical_case(0x440), 0x420);
    }

    #[test]
    fn tlds_fit_the_window_and_hold_no_ascii_but_letters() {
        for tld in tlds::GENERIC.iter().chain(tlds::COUNTRY) {
            assert!(tld.encode_utf16().count() <= LONGEST_TLD, "{tld}");
            assert!(
                tld.chars().all(|c| !c.is_ascii() || c.is_ascii_lowercase()),
                "{tld}"
            );
        }
    }

    #[test]
    fn tld_lookahead_refuses_a_longer_word() {
        assert_eq!(tld_end(&utf16("com"), 0), Some(3));
        assert_eq!(tld_end(&utf16("comx"), 0), None);
        assert_eq!(tld_end(&utf16("COM/"), 0), Some(3));
    }
}
