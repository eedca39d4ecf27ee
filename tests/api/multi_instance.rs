//! Two `herald serve` processes on one PostgreSQL database and one mail server: an update
//! posted on one shows on the other's status page within a second, both share its fan-out, and
//! killing one with SIGKILL halfway through loses nobody's message.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::herald_with;
use crate::helpers::test_postgres_database;
use crate::smtp::SmtpSink;

const SUBSCRIBERS: usize = 10_000;

/// One `herald serve` process.
struct Instance {
    child: Child,
    address: String,
}

impl Instance {
    async fn start(name: &str, env: &[(&str, String)], data: &std::path::Path) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("http://127.0.0.1:{port}");
        let stderr = if std::env::var("TEST_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HERALD_DATA_DIR", data)
            .env("HERALD_BIND", format!("127.0.0.1:{port}"))
            // Each instance greets the mail server with its own name: the sink records it.
            .env("HERALD_SMTP_HELO", name)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start herald");
        let started = Instant::now();
        while reqwest::get(format!("{address}/healthz"))
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{name} did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Instance { child, address }
    }

    fn kill(mut self) {
        // Child::kill sends SIGKILL: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HERALD_TEST_DATABASE=postgres) and aiosmtpd; .ci/run runs it"]
async fn two_instances_share_a_fan_out_and_one_killed_midway_loses_no_message() {
    let database_url = test_postgres_database()
        .await
        .expect("this test needs HERALD_TEST_DATABASE=postgres");
    let sink = SmtpSink::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (data_a, data_b, cli) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("cli"),
    );
    let env: Vec<(&str, String)> = vec![
        ("HERALD_DATABASE_URL", database_url),
        // Every instance needs the same master key: links signed by one open on the other.
        (
            "HERALD_SECRET_KEY_FILE",
            dir.path().join("secret.key").display().to_string(),
        ),
        (
            "HERALD_PUBLIC_URL",
            "https://status.example.com".to_string(),
        ),
        ("HERALD_SMTP_URL", sink.url()),
        (
            "HERALD_MAIL_FROM",
            "Acme Status <status@acme.test>".to_string(),
        ),
        ("HERALD_DATABASE_MAX_CONNECTIONS", "4".to_string()),
        ("HERALD_LOG", "warn".to_string()),
    ];
    let cli_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // The database, the audience and the token come from the command line, as an operator
    // would do it.
    let (ok, out, err) = herald_with(&cli, &["migrate"], "", &cli_env);
    assert!(ok, "migrate: {out}{err}");
    let list = dir.path().join("subscribers.txt");
    let addresses: String = (0..SUBSCRIBERS)
        .map(|n| format!("user{n:05}@example.com\n"))
        .collect();
    std::fs::write(&list, addresses).unwrap();
    let (ok, out, err) = herald_with(
        &cli,
        &[
            "subscribers",
            "import",
            list.to_str().unwrap(),
            "--confirmed",
        ],
        "",
        &cli_env,
    );
    assert!(ok, "import: {out}{err}");
    let (ok, out, err) = herald_with(
        &cli,
        &["token", "create", "--name", "multi", "--role", "admin"],
        "",
        &cli_env,
    );
    assert!(ok, "token: {err}");
    let token = out.trim_end().lines().last().unwrap().to_string();

    let a = Instance::start("instance-a", &env, &data_a).await;
    let b = Instance::start("instance-b", &env, &data_b).await;
    let http = reqwest::Client::new();

    // Posted through A...
    let posted = Instant::now();
    let r = http
        .post(format!("{}/api/admin/v1/incidents", a.address))
        .bearer_auth(&token)
        .json(
            &json!({"name": "Two instances", "status": "investigating", "impact": "major",
            "body": "Checking that every instance hears this.", "notify": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let answered = posted.elapsed();
    let incident: Value = r.json().await.unwrap();
    // ... and on B's status page within a second.
    loop {
        let summary: Value = http
            .get(format!("{}/api/v2/summary.json", b.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let shown = summary["incidents"]
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["name"] == "Two instances"));
        if shown {
            break;
        }
        assert!(
            posted.elapsed() < Duration::from_secs(1),
            "B does not show the update 1 s after it was posted to A: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shown_after = posted.elapsed();
    let page = http
        .get(format!("{}/", b.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Two instances"), "B's status page shows it");

    // Halfway through the fan-out, A dies without a chance to say so.
    sink.wait_for(SUBSCRIBERS * 2 / 5, Duration::from_secs(120))
        .await;
    a.kill();
    let at_kill = sink.count();
    assert!(
        at_kill < SUBSCRIBERS,
        "the kill came before the end of the fan-out"
    );

    // B finishes, taking A's unfinished batches once A's heartbeat stops: within 30 s of the
    // kill with the default settings, though A's claims would hold for their 5-minute lease.
    let started = Instant::now();
    let (messages, completed_after_kill) = loop {
        if sink.count() >= SUBSCRIBERS {
            let messages = sink.messages();
            let recipients: std::collections::HashSet<&str> =
                messages.iter().map(|m| m.rcpt.as_str()).collect();
            if recipients.len() == SUBSCRIBERS {
                break (messages, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} messages 30 s after the kill",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Let B record its last outcomes (and send anything it still would).
    let update_id = incident["update_id"].as_str().unwrap();
    let started = Instant::now();
    let counts = loop {
        let counts: Value = http
            .get(format!(
                "{}/api/admin/v1/updates/{update_id}/deliveries",
                b.address
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if counts["channels"]["email"]["sent"] == SUBSCRIBERS as i64 {
            break counts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "deliveries not all recorded as sent: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let messages = if sink.count() > messages.len() {
        sink.messages()
    } else {
        messages
    };

    let mut by_instance: HashMap<&str, usize> = HashMap::new();
    let mut copies: HashMap<&str, Vec<&str>> = HashMap::new();
    for m in &messages {
        *by_instance.entry(m.helo.as_str()).or_default() += 1;
        copies
            .entry(m.rcpt.as_str())
            .or_default()
            .push(m.helo.as_str());
    }
    let missing = SUBSCRIBERS - copies.len();
    let repeated: Vec<&Vec<&str>> = copies.values().filter(|c| c.len() > 1).collect();
    let in_flight: usize = repeated.iter().map(|c| c.len() - 1).sum();
    let (sent_a, sent_b) = (
        by_instance.get("instance-a").copied().unwrap_or(0),
        by_instance.get("instance-b").copied().unwrap_or(0),
    );
    eprintln!(
        "multi-instance: B showed the update {} ms after it was posted to A (A answered in {} ms); \
         {SUBSCRIBERS} subscribers; A sent {sent_a} and B {sent_b} messages; A killed after \
         {at_kill} in all; missing {missing}; all arrived {} ms after the kill; sent twice because in flight at the \
         kill: {in_flight}",
        shown_after.as_millis(),
        answered.as_millis(),
        completed_after_kill.as_millis()
    );
    assert_eq!(missing, 0, "every subscriber has the message");
    assert!(
        sent_a > 0 && sent_b > 0,
        "both instances sent part of the fan-out: {by_instance:?}"
    );
    assert_eq!(
        sent_a + sent_b,
        messages.len(),
        "every message came from A or B"
    );
    // A message goes out twice only when A sent it and died before recording it; B then sent
    // it again once A's heartbeat stopped. Each of A's two workers records every 64 outcomes,
    // with at most 8 more (the SMTP concurrency) in flight.
    for c in &repeated {
        assert_eq!(
            c.as_slice(),
            ["instance-a", "instance-b"],
            "a repeat is A's unrecorded send, then B's"
        );
    }
    assert!(in_flight <= 2 * 64 + 8, "{in_flight} messages sent twice");
    assert_eq!(counts["channels"]["email"]["total"], SUBSCRIBERS as i64);
    drop(b);
}
