//! Status badges for READMEs and other sites: `/badge.svg` says the page's overall status and
//! `/components/{id}/badge.svg` one component's, drawn as shields.io draws its "flat" badges
//! (a grey label, a coloured message, rounded corners, a faint gradient) and measured the way
//! badge-maker measures, so they sit beside the badges a README already has.

use askama::Template;

use super::verdana;
use super::views::Model;
use super::PagesBuilder;
use crate::domain::{Choice, ComponentStatus, Indicator};

const SVG: &str = "image/svg+xml";

/// Space left and right of each text, in pixels (badge-maker's `horizPadding`).
const PADDING: u32 = 5;

/// The label of the page's badge when the page has no name.
const DEFAULT_LABEL: &str = "status";

/// shields.io's named colours.
mod colour {
    pub const GREEN: &str = "#4c1";
    pub const YELLOW: &str = "#dfb317";
    pub const ORANGE: &str = "#fe7d37";
    pub const RED: &str = "#e05d44";
    pub const BLUE: &str = "#007ec6";
}

#[derive(Template)]
#[template(path = "badges/badge.svg")]
struct Badge<'a> {
    label: &'a str,
    message: &'a str,
    /// The text alternative: "label: message".
    text: String,
    colour: &'static str,
    width: u32,
    left: u32,
    right: u32,
    /// Text positions and lengths are in tenths of a pixel: the text is drawn at 110px and
    /// scaled down, as badge-maker does, for finer placement.
    label_x: u32,
    label_length: u32,
    message_x: u32,
    message_length: u32,
}

impl<'a> Badge<'a> {
    fn new(label: &'a str, message: &'a str, colour: &'static str) -> Badge<'a> {
        let label_width = text_width(label);
        let message_width = text_width(message);
        let left = label_width + 2 * PADDING;
        let right = message_width + 2 * PADDING;
        // Widths are odd, so each centre falls on a whole tenth.
        Badge {
            label,
            message,
            text: format!("{label}: {message}"),
            colour,
            width: left + right,
            left,
            right,
            label_x: 10 * (1 + PADDING) + 5 * label_width,
            label_length: 10 * label_width,
            message_x: 10 * (left - 1 + PADDING) + 5 * message_width,
            message_length: 10 * message_width,
        }
    }
}

/// The width in whole pixels that badge-maker gives `text` in 11px Verdana: the characters'
/// widths added up, truncated, and rounded up to an odd number ("increase chances of pixel grid
/// alignment"). Control characters take no room.
pub fn text_width(text: &str) -> u32 {
    let thousandths: u64 = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| u64::from(char_width(c)))
        .sum();
    let px = u32::try_from(thousandths / 1000).unwrap_or(u32::MAX - 1);
    px | 1
}

fn char_width(c: char) -> u32 {
    let code = u32::from(c);
    let at = verdana::WIDTHS.partition_point(|(first, _, _)| *first <= code);
    match at.checked_sub(1).map(|i| verdana::WIDTHS[i]) {
        Some((_, last, width)) if code <= last => width,
        _ => verdana::EM,
    }
}

fn indicator_colour(indicator: Indicator) -> &'static str {
    match indicator {
        Indicator::None => colour::GREEN,
        Indicator::Minor => colour::YELLOW,
        Indicator::Major => colour::ORANGE,
        Indicator::Critical => colour::RED,
        Indicator::Maintenance => colour::BLUE,
    }
}

fn status_colour(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational => colour::GREEN,
        ComponentStatus::DegradedPerformance => colour::YELLOW,
        ComponentStatus::PartialOutage => colour::ORANGE,
        ComponentStatus::MajorOutage => colour::RED,
        ComponentStatus::UnderMaintenance => colour::BLUE,
    }
}

/// Names as a badge can show them: XML cannot carry control characters even escaped.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).collect()
}

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let name = printable(m.site.name.trim());
    let label = if name.is_empty() {
        DEFAULT_LABEL
    } else {
        &name
    };
    let page = Badge::new(
        label,
        m.indicator.description(),
        indicator_colour(m.indicator),
    );
    out.add("/badge.svg", SVG, page.render()?.into_bytes(), true);
    for c in m.components {
        let name = printable(&c.name);
        let badge = Badge::new(&name, c.status.label(), status_colour(c.status));
        out.add(
            format!("/components/{}/badge.svg", c.id),
            SVG,
            badge.render()?.into_bytes(),
            true,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_as_badge_maker_measures_it() {
        // shields.io's own "build | passing" badge: 37 and 51 pixels wide halves.
        assert_eq!(text_width("build"), 27);
        assert_eq!(text_width("passing"), 41);
        assert_eq!(text_width(""), 1);
        // Wider letters take more room; characters outside the table count as "m".
        assert!(text_width("WWW") > text_width("iii"));
        assert_eq!(text_width("中"), text_width("m"));
        assert_eq!(text_width("é"), text_width("e"));
        assert_eq!(text_width("a\u{7}b"), text_width("ab"));
    }

    #[test]
    fn every_width_is_odd() {
        for text in ["", "a", "ab", "API", "All Systems Operational", "Ünïcödé ✓"] {
            assert_eq!(text_width(text) % 2, 1, "{text:?}");
        }
    }

    #[test]
    fn the_width_table_is_sorted_and_disjoint() {
        for pair in verdana::WIDTHS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn the_badge_is_laid_out_as_shields_lays_out_build_passing() {
        let b = Badge::new("build", "passing", colour::GREEN);
        assert_eq!((b.left, b.right, b.width), (37, 51, 88));
        assert_eq!((b.label_x, b.label_length), (195, 270));
        assert_eq!((b.message_x, b.message_length), (615, 410));
    }
}
