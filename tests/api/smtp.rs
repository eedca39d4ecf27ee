//! A real SMTP server for the email tests: `tests/smtp/sink.py` (aiosmtpd), one per test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    refuse: Vec<String>,
    /// Whether it announces SMTPUTF8 (RFC 6531), as aiosmtpd does by default.
    smtputf8: bool,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt: String,
    /// The name the client gave in EHLO.
    pub helo: String,
    pub raw: String,
}

impl Received {
    /// The value of the first header with this name (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with(' ') || line.starts_with('\t') {
                    // RFC 5322 unfolding: only the line break goes.
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_string());
                }
            }
        }
        value
    }

    /// The decoded text of the message (quoted-printable soft breaks removed).
    pub fn text(&self) -> String {
        self.raw.replace("=\r\n", "").replace("=3D", "=")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    pub fn start(refuse: &[&str]) -> SmtpSink {
        let mut sink = SmtpSink {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            refuse: refuse.iter().map(|s| s.to_string()).collect(),
            smtputf8: true,
        };
        sink.launch();
        sink
    }

    /// A sink that does not announce SMTPUTF8: an ASCII-only relay.
    pub fn start_ascii_only() -> SmtpSink {
        let mut sink = SmtpSink::stopped();
        sink.smtputf8 = false;
        sink.launch();
        sink
    }

    /// A sink that is not running yet: its port refuses connections until `launch`.
    pub fn stopped() -> SmtpSink {
        SmtpSink {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            refuse: Vec::new(),
            smtputf8: true,
        }
    }

    pub fn launch(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                "--port",
                &self.port.to_string(),
                "--dir",
                self.dir.path().to_str().unwrap(),
            ])
            .args(["--refuse", &self.refuse.join(",")])
            .args(if self.smtputf8 {
                &[][..]
            } else {
                &["--no-smtputf8"][..]
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd) runs the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "the SMTP sink did not start");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        let mut paths: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let (first, rest) = text.split_once("\r\n").unwrap();
                let (second, raw) = rest.split_once("\r\n").unwrap();
                Received {
                    rcpt: first.trim_start_matches("X-Sink-Rcpt: ").to_string(),
                    helo: second.trim_start_matches("X-Sink-Helo: ").to_string(),
                    raw: raw.to_string(),
                }
            })
            .collect()
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
                })
                .count()
            })
            .unwrap_or(0)
    }

    /// Waits until at least `n` messages arrived, or panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            if self.count() >= n {
                return self.messages();
            }
            assert!(
                start.elapsed() < timeout,
                "only {} of {n} messages arrived in {timeout:?}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
