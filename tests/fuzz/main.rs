//! The stable fuzz driver: every target in `targets.rs`, first on its seed corpus and saved
//! regressions, then on mutations of them for a set time. It runs on the stable toolchain as
//! part of `cargo test`; coverage-guided runs of the same targets use `tests/fuzz/libfuzzer`
//! (cargo fuzz). A failing input is saved under `target/fuzz-findings/<target>/` and named in
//! the failure, to be copied into `tests/fuzz/regressions/<target>/` once fixed.
//!
//! - `HERALD_FUZZ_SECONDS`: mutation time per target (default 2; `.ci/run` gives more).
//! - `HERALD_FUZZ_SEED`: the mutation seed (default: from the clock, printed), to replay a run.

mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The longest input a mutation makes.
const MAX_LEN: usize = 8 * 1024;
/// How many inputs the mutation pool keeps.
const POOL: usize = 512;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// Files in `dir`, sorted by name; none when it does not exist.
fn read_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read a corpus file");
            (e.path().display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

fn seconds() -> f64 {
    std::env::var("HERALD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

fn seed() -> u64 {
    std::env::var("HERALD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
}

/// Tokens that mean something to a target's parser, spliced in by the mutator.
fn dictionary(target: &str) -> &'static [&'static str] {
    match target {
        "forms" => &[
            "name=",
            "&body=",
            "&status=",
            "investigating",
            "identified",
            "resolved",
            "&impact=minor",
            "&impact=critical",
            "&component_1=",
            "major_outage",
            "operational",
            "&display_at=",
            "2026-12-07T11:00:00Z",
            "2026-12-07T11:00",
            "&scheduled_for=",
            "&scheduled_until=",
            "2027-01-01T10:00:00Z",
            "&components=",
            "&notify=on",
            "&custom_tweet=",
            "&email=",
            "&position=",
            "&group=",
            "&description=",
            "&channels_shown=1",
            "&channel=email",
            "&post_to_x=on",
            "%00",
            "%0A",
            "%0D",
            "%E2%80%AE",
            "%EF%BF%BF",
            "%FF",
            "%C3%BC",
            "+",
            "incident[components][1]",
            "incident[component_ids][]",
            "[",
            "]",
            "9999",
            "-1",
            "0001-01-01T00:00:00Z",
            "2100-12-31T23:59:59Z",
            "2101-01-01T00:00:00Z",
            "1999-12-31T23:59:59-01:00",
        ],
        "json_bodies" => &[
            "{",
            "}",
            "[",
            "]",
            "\"name\":",
            "\"body\":",
            "\"status\":",
            "\"impact\":",
            "\"components\":{\"1\":",
            "\"notify\":",
            "\"display_at\":",
            "\"position\":",
            "\\u0000",
            "\\ud800",
            "\\u202e",
            "null",
            "true",
            "false",
            "1e999",
            "-0",
            "18446744073709551616",
            ",",
            ":",
            "\"extra\":1",
            "\"\"",
        ],
        "markdown" => &[
            "[a](",
            ")",
            "<a href=\"",
            "\">",
            "</a>",
            "javascript:",
            "<script>",
            "](//evil.example)",
            "evil.example/x",
            "http://",
            "https://",
            "mailto:x@evil.example",
            "<https://evil.example>",
            "![i](",
            "&#106;",
            "&#x3A;",
            "&amp;",
            "&colon;",
            "\n\n",
            "`",
            "```\n",
            "**",
            "_",
            "|a|b|\n|-|-|\n",
            "[x]: http://evil.example\n",
            "[x][x]",
            "[x]",
            "<img src=x onerror=alert(1)>",
            "\u{FF0E}",
            "xn--",
            "@",
            "www.",
            "evil.example",
            "\\",
            "<",
            ">",
            "\"",
            "'",
            "\u{0}",
            "\u{202E}",
            "%2F%2F",
            "?",
            "#",
            ":80",
            "http:\\\\evil.example",
            "https:evil.example",
            "//",
            "@evil.example",
        ],
        "addresses" => &[
            "@",
            ".",
            "\"",
            "xn--",
            "ü",
            "\u{202E}",
            "\u{200B}",
            ",",
            ";",
            "\t",
            "\n",
            "\r\n",
            "email\n",
            "example.com",
            "a+b",
            "..",
            "-",
            "[127.0.0.1]",
            "(comment)",
            "\\",
            "EXAMPLE.COM",
            "bücher.example",
            "\u{130}",
            "\u{212A}",
            "\u{FF0E}",
            "1",
            "com",
        ],
        "post_length" => &[
            "https://",
            "http://",
            "t.co/",
            ".com",
            "example.com/x",
            "\u{1F468}\u{200D}\u{1F469}",
            "中",
            "é",
            "e\u{301}",
            "\u{FFFE}",
            "\u{FEFF}",
            "\u{1}",
            " ",
            "\n",
            "…",
            "#tag",
            "@user",
            "$CASH",
            "\u{1F1FA}\u{1F1F8}",
            "\u{FE0F}",
            ",",
            ".",
            "-",
            "(",
        ],
        "config" => &[
            "public_url = \"",
            "\"\n",
            "page_name = \"",
            "accent_color = \"#",
            "header_links = \"",
            "footer_text = \"",
            "max_connections = ",
            "trusted_proxies = \"",
            "10.0.0.0/8",
            "::1/128",
            "=",
            ",",
            "https://",
            "http://",
            "\\u0000",
            "smtp_concurrency = ",
            "database_max_connections = ",
            "0",
            "999999999999999999999",
            "#0a0b0c",
            "#fff",
            "Docs=https://docs.acme.example",
            "%2C",
            "[",
            "]",
            "\n",
            "bind = \"",
        ],
        "tokens" => &[
            ".",
            "0",
            "-",
            "+",
            "42",
            "9223372036854775807",
            "-9223372036854775808",
            "A",
            "_",
            "=",
            " ",
            "000000",
            "123456",
            "\u{0}",
        ],
        "branding_files" => &[
            "<svg",
            " xmlns=\"http://www.w3.org/2000/svg\"",
            ">",
            "</svg>",
            "<script>",
            "</script>",
            " onload=\"alert(1)\"",
            " href=\"",
            " xlink:href=\"",
            "javascript:",
            "&#106;",
            "&#x6A;",
            "<!DOCTYPE svg [",
            "<!ENTITY x \"y\">",
            "]>",
            "<![CDATA[",
            "]]>",
            "<?xml version=\"1.0\"?>",
            "<!--",
            "-->",
            "<foreignObject>",
            "data:text/html,",
            "data:image/png;base64,",
            "<use ",
            "<a ",
            "<image ",
            "<set ",
            " attributeName=\"href\"",
            " to=\"javascript:alert(1)\"",
            "<animate ",
            "\u{FEFF}",
            "\"",
            "/>",
        ],
        _ => &[],
    }
}

/// Code points that have broken text handling somewhere, inserted as UTF-8.
const AWKWARD: &[&str] = &[
    "\u{0}",
    "\u{1}",
    "\u{7}",
    "\u{B}",
    "\u{1B}",
    "\u{7F}",
    "\u{85}",
    "\u{A0}",
    "\u{200B}",
    "\u{200D}",
    "\u{202E}",
    "\u{2028}",
    "\u{FEFF}",
    "\u{FFFD}",
    "\u{FFFE}",
    "\u{FFFF}",
    "\u{10FFFF}",
    "\u{1F600}",
    "\u{301}",
    "ß",
    "İ",
    "\r",
    "\r\n",
];

struct Mutator {
    rng: StdRng,
    dictionary: &'static [&'static str],
}

impl Mutator {
    fn token(&mut self) -> &'static [u8] {
        let pick_dictionary = !self.dictionary.is_empty() && self.rng.gen_bool(0.7);
        let list = if pick_dictionary {
            self.dictionary
        } else {
            AWKWARD
        };
        list[self.rng.gen_range(0..list.len())].as_bytes()
    }

    fn position(&mut self, data: &[u8]) -> usize {
        self.rng.gen_range(0..=data.len())
    }

    /// One to four edits of `data`, sometimes spliced with `other`.
    fn mutate(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        for _ in 0..self.rng.gen_range(1..=4) {
            match self.rng.gen_range(0..10) {
                0 if !data.is_empty() => {
                    let at = self.rng.gen_range(0..data.len());
                    data[at] ^= 1 << self.rng.gen_range(0..8);
                }
                1 if !data.is_empty() => {
                    let at = self.rng.gen_range(0..data.len());
                    data[at] = self.rng.gen();
                }
                2 => {
                    let at = self.position(data);
                    let byte: u8 = self.rng.gen();
                    data.insert(at, byte);
                }
                3 if !data.is_empty() => {
                    let start = self.rng.gen_range(0..data.len());
                    let end = (start + self.rng.gen_range(1..=16)).min(data.len());
                    data.drain(start..end);
                }
                4 if !data.is_empty() => {
                    let start = self.rng.gen_range(0..data.len());
                    let end = (start + self.rng.gen_range(1..=32)).min(data.len());
                    let copy = data[start..end].to_vec();
                    let at = self.position(data);
                    data.splice(at..at, copy);
                }
                5 | 6 => {
                    let token = self.token();
                    let at = self.position(data);
                    data.splice(at..at, token.iter().copied());
                }
                7 if !data.is_empty() => {
                    let token = self.token();
                    let start = self.rng.gen_range(0..data.len());
                    let end = (start + self.rng.gen_range(1..=8)).min(data.len());
                    data.splice(start..end, token.iter().copied());
                }
                8 if !other.is_empty() => {
                    let cut = self.rng.gen_range(0..=data.len());
                    let from = self.rng.gen_range(0..other.len());
                    data.truncate(cut);
                    data.extend_from_slice(&other[from..]);
                }
                _ => {
                    // Repeat a piece many times: long lines, deep nesting.
                    if !data.is_empty() {
                        let start = self.rng.gen_range(0..data.len());
                        let end = (start + self.rng.gen_range(1..=4)).min(data.len());
                        let piece = data[start..end].to_vec();
                        let at = self.position(data);
                        for _ in 0..self.rng.gen_range(2..64) {
                            data.splice(at..at, piece.iter().copied());
                        }
                    }
                }
            }
        }
        data.truncate(MAX_LEN);
    }
}

/// Runs `target` on `input`; on a panic, saves the input and fails naming it.
fn guarded(name: &str, target: fn(&[u8]), input: &[u8], origin: &str) {
    let outcome = std::panic::catch_unwind(|| target(input));
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/fuzz-findings")
            .join(name);
        std::fs::create_dir_all(&dir).expect("findings dir");
        let file = dir.join(hex::encode(&Sha256::digest(input)[..8]));
        std::fs::write(&file, input).expect("save the finding");
        panic!(
            "fuzz target {name} failed ({origin}): {message}\n  input ({} bytes) saved at {}\n  \
             as text: {:?}\n  once fixed, copy it into tests/fuzz/regressions/{name}/",
            input.len(),
            file.display(),
            String::from_utf8_lossy(input)
        );
    }
}

fn run(name: &str, target: fn(&[u8])) {
    let mut pool: Vec<Vec<u8>> = Vec::new();
    for kind in ["seeds", "regressions"] {
        for (path, bytes) in read_dir(&fuzz_dir().join(kind).join(name)) {
            guarded(name, target, &bytes, &path);
            pool.push(bytes);
        }
    }
    for (i, bytes) in targets::generated_seeds(name).into_iter().enumerate() {
        guarded(name, target, &bytes, &format!("generated seed {i}"));
        pool.push(bytes);
    }
    assert!(
        !pool.is_empty(),
        "no seeds for {name} in tests/fuzz/seeds/{name}"
    );
    let replayed = pool.len();

    let seed = seed();
    let mut mutator = Mutator {
        rng: StdRng::seed_from_u64(seed),
        dictionary: dictionary(name),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds());
    let mut runs = 0u64;
    while Instant::now() < deadline {
        for _ in 0..64 {
            let base = mutator.rng.gen_range(0..pool.len());
            let other = mutator.rng.gen_range(0..pool.len());
            let mut input = pool[base].clone();
            let other = pool[other].clone();
            mutator.mutate(&mut input, &other);
            guarded(
                name,
                target,
                &input,
                &format!("mutation, HERALD_FUZZ_SEED={seed}"),
            );
            runs += 1;
            // Without coverage to say which inputs are interesting, keep a rolling sample so
            // mutations stack up over the run.
            if pool.len() < POOL {
                pool.push(input);
            } else if mutator.rng.gen_bool(0.05) {
                let at = mutator.rng.gen_range(replayed..pool.len());
                pool[at] = input;
            }
        }
    }
    eprintln!(
        "fuzz {name}: {replayed} corpus inputs replayed, {runs} mutations in {:.0} s \
         (HERALD_FUZZ_SEED={seed})",
        seconds()
    );
}

macro_rules! fuzz_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name), targets::$name);
            }
        )*
        #[test]
        fn every_target_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in targets::TARGETS {
                assert!(tested.contains(&name), "{name} has no test");
            }
        }
    };
}

fuzz_tests!(
    forms,
    json_bodies,
    markdown,
    addresses,
    post_length,
    config,
    tokens,
    branding_files
);
