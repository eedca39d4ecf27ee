//! twitter-text's own conformance cases, run against `herald::domain::tweet`. The fixtures in
//! tests/fixtures/twitter-text are read as they are (see SOURCE.txt): the weighted-length cases
//! from validate.yml, the URL sections of extract.yml and tlds.yml, and reference-cases.json,
//! what twitter-text 3.1.0 answers for texts the suite leaves out. Each section reports its
//! count; a failure lists every case that failed. Run with `-- --nocapture` to see the counts.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use herald::domain::tweet::{extract_urls, parse_tweet_with, TweetConfig};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/twitter-text")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn load_json(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("parsing {name}: {e}"))
}

fn load_yaml(name: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    docs.remove(0)
}

/// The tally of one section of a fixture.
struct Section {
    name: String,
    passed: usize,
    failures: Vec<String>,
}

impl Section {
    fn new(name: impl Into<String>) -> Self {
        Section {
            name: name.into(),
            passed: 0,
            failures: Vec::new(),
        }
    }

    fn check<T: PartialEq + Debug>(&mut self, description: &str, text: &str, got: T, want: T) {
        if got == want {
            self.passed += 1;
        } else {
            self.failures.push(format!(
                "{description}\n    text: {text:?}\n    want: {want:?}\n    got:  {got:?}"
            ));
        }
    }
}

/// Prints every section's count and fails with every failing case, if any.
fn report(sections: Vec<Section>) {
    let mut failures = Vec::new();
    for section in &sections {
        let total = section.passed + section.failures.len();
        println!("{}: {}/{} passed", section.name, section.passed, total);
        for failure in &section.failures {
            failures.push(format!("[{}] {failure}", section.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The fields of twitter-text's `parseTweet` result that a case states.
#[derive(Debug, PartialEq)]
struct Parsed {
    weighted_length: i64,
    valid: bool,
    permillage: i64,
    display_range: (i64, i64),
    valid_range: (i64, i64),
}

fn parse(text: &str, config: &TweetConfig) -> Parsed {
    let parsed = parse_tweet_with(text, config);
    Parsed {
        weighted_length: parsed.length.weighted_length as i64,
        valid: parsed.length.valid,
        permillage: parsed.length.permillage as i64,
        display_range: (0, parsed.display_range_end as i64),
        valid_range: (0, parsed.valid_range_end as i64),
    }
}

fn int(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// The fixture's configurations are the ones Herald builds in.
fn config_named(configs: &Value, name: &str) -> TweetConfig {
    let builtin = match name {
        "v2" => TweetConfig::V2,
        "v3" => TweetConfig::V3,
        other => panic!("unknown config {other}"),
    };
    let json = &configs[name];
    let ranges: Vec<(i64, i64, i64)> = json["ranges"]
        .as_array()
        .expect("ranges")
        .iter()
        .map(|r| (int(r, "start"), int(r, "end"), int(r, "weight")))
        .collect();
    let builtin_ranges: Vec<(i64, i64, i64)> = builtin
        .ranges
        .iter()
        .map(|r| (i64::from(r.start), i64::from(r.end), r.weight as i64))
        .collect();
    assert_eq!(
        int(json, "maxWeightedTweetLength"),
        builtin.max_weighted_length as i64
    );
    assert_eq!(int(json, "scale"), builtin.scale as i64);
    assert_eq!(int(json, "defaultWeight"), builtin.default_weight as i64);
    assert_eq!(
        int(json, "transformedURLLength"),
        builtin.transformed_url_length as i64
    );
    assert_eq!(
        json["emojiParsingEnabled"].as_bool().unwrap_or(false),
        builtin.emoji_parsing
    );
    assert_eq!(ranges, builtin_ranges, "{name} ranges");
    builtin
}

#[test]
fn weighted_lengths_match_validate_yml() {
    let fixture = load_json("validate-length-cases.json");
    let mut sections: Vec<Section> = Vec::new();
    for case in fixture["cases"].as_array().expect("cases") {
        let group = format!(
            "validate.yml {} ({})",
            case["group"].as_str().expect("group"),
            case["config"].as_str().expect("config")
        );
        let config = config_named(
            &fixture["configs"],
            case["config"].as_str().expect("config"),
        );
        let text = case["text"].as_str().expect("text");
        let expected = &case["expected"];
        let want = Parsed {
            weighted_length: int(expected, "weightedLength"),
            valid: expected["valid"].as_bool().expect("valid"),
            permillage: int(expected, "permillage"),
            display_range: (
                int(expected, "displayRangeStart"),
                int(expected, "displayRangeEnd"),
            ),
            valid_range: (
                int(expected, "validRangeStart"),
                int(expected, "validRangeEnd"),
            ),
        };
        if sections.last().is_none_or(|s| s.name != group) {
            sections.push(Section::new(group));
        }
        let section = sections.last_mut().expect("a section");
        let description = case["description"].as_str().unwrap_or("");
        section.check(description, text, parse(text, &config), want);
    }
    report(sections);
}

fn yaml_str<'a>(case: &'a Yaml, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {case:?}"))
}

/// A section of a conformance YAML file whose cases expect a list of URLs.
fn url_section(file: &str, doc: &Yaml, name: &str) -> Section {
    let mut section = Section::new(format!("{file} {name}"));
    for case in doc["tests"][name].as_vec().expect("cases") {
        let text = yaml_str(case, "text");
        let want: Vec<String> = case["expected"]
            .as_vec()
            .expect("expected")
            .iter()
            .map(|url| url.as_str().expect("a URL").to_string())
            .collect();
        let got: Vec<String> = extract_urls(text).into_iter().map(|(url, _)| url).collect();
        section.check(yaml_str(case, "description"), text, got, want);
    }
    section
}

/// A section whose cases expect URLs with their UTF-16 indices.
fn url_with_indices_section(file: &str, doc: &Yaml, name: &str) -> Section {
    let mut section = Section::new(format!("{file} {name}"));
    for case in doc["tests"][name].as_vec().expect("cases") {
        let text = yaml_str(case, "text");
        let want: Vec<(String, usize, usize)> = case["expected"]
            .as_vec()
            .expect("expected")
            .iter()
            .map(|entity| {
                let index = |i: usize| {
                    let n = entity["indices"][i].as_i64().expect("an index");
                    usize::try_from(n).expect("a non-negative index")
                };
                (yaml_str(entity, "url").to_string(), index(0), index(1))
            })
            .collect();
        let got: Vec<(String, usize, usize)> = extract_urls(text)
            .into_iter()
            .map(|(url, span)| (url, span.start, span.end))
            .collect();
        section.check(yaml_str(case, "description"), text, got, want);
    }
    section
}

#[test]
fn urls_are_extracted_as_extract_yml_says() {
    let doc = load_yaml("conformance/extract.yml");
    report(vec![
        url_section("extract.yml", &doc, "urls"),
        url_with_indices_section("extract.yml", &doc, "urls_with_indices"),
        url_with_indices_section("extract.yml", &doc, "urls_with_directional_markers"),
        url_section("extract.yml", &doc, "tco_urls_with_params"),
    ]);
}

#[test]
fn every_tld_in_tlds_yml_ends_a_url() {
    let doc = load_yaml("conformance/tlds.yml");
    report(vec![
        url_section("tlds.yml", &doc, "country"),
        url_section("tlds.yml", &doc, "generic"),
    ]);
}

#[test]
fn lengths_and_urls_match_twitter_text_itself() {
    let fixture = load_json("reference-cases.json");
    let mut lengths = Section::new("reference-cases.json parseTweet (v3)");
    let mut urls = Section::new("reference-cases.json extractUrlsWithIndices");
    for case in fixture["cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        let expected = &case["expected"];
        let parsed = parse_tweet_with(text, &TweetConfig::V3);
        lengths.check(
            "parseTweet",
            text,
            (
                parsed.length.weighted_length as i64,
                parsed.length.valid,
                parsed.length.permillage as i64,
                parsed.valid_range_end as i64,
                parsed.display_range_end as i64,
            ),
            (
                int(expected, "weightedLength"),
                expected["valid"].as_bool().expect("valid"),
                int(expected, "permillage"),
                int(expected, "validRangeEnd"),
                int(expected, "displayRangeEnd"),
            ),
        );
        let want: Vec<(String, i64, i64)> = expected["urls"]
            .as_array()
            .expect("urls")
            .iter()
            .map(|u| {
                let url = u["url"].as_str().expect("url").to_string();
                (
                    url,
                    u["indices"][0].as_i64().expect("start"),
                    u["indices"][1].as_i64().expect("end"),
                )
            })
            .collect();
        let got: Vec<(String, i64, i64)> = extract_urls(text)
            .into_iter()
            .map(|(url, span)| (url, span.start as i64, span.end as i64))
            .collect();
        urls.check("extractUrlsWithIndices", text, got, want);
    }
    report(vec![lengths, urls]);
}
