//! Herald killed with SIGKILL in the middle of a fan-out loses nothing once restarted.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald::domain::SubscriberEmail;
use herald::store::Store;
use serde_json::{json, Value};

use crate::smtp::SmtpSink;

struct Herald {
    child: Child,
}

impl Herald {
    async fn start(env: &[(String, String)], address: &str) -> Herald {
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
                "herald did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Herald { child }
    }

    fn kill(mut self) {
        // Child::kill sends SIGKILL: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_fan_out_killed_halfway_completes_after_restart_with_nobody_missing() {
    const SUBSCRIBERS: usize = 10_000;
    let sink = SmtpSink::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let env: Vec<(String, String)> = [
        ("HERALD_DATA_DIR", data.path().to_str().unwrap().to_string()),
        ("HERALD_BIND", format!("127.0.0.1:{port}")),
        ("HERALD_PUBLIC_URL", address.clone()),
        ("HERALD_SMTP_URL", sink.url()),
        (
            "HERALD_MAIL_FROM",
            "Acme Status <status@acme.test>".to_string(),
        ),
        ("HERALD_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    // Set up as an operator would: the database, then a token from the command line.
    let (ok, out, err) = crate::cli::herald_with(data.path(), &["migrate"], "", &[]);
    assert!(ok, "migrate: {out}{err}");
    let store = Store::connect(&format!("sqlite://{}/herald.db", data.path().display()))
        .await
        .unwrap();
    let emails: Vec<SubscriberEmail> = (0..SUBSCRIBERS)
        .map(|n| SubscriberEmail::parse(&format!("user{n:05}@example.com")).unwrap())
        .collect();
    store.import_subscribers(&emails, true).await.unwrap();
    store.close().await;
    let (ok, out, err) = crate::cli::herald_with(
        data.path(),
        &["token", "create", "--name", "crash-test", "--role", "admin"],
        "",
        &[],
    );
    assert!(ok, "token: {err}");
    let token = out.trim_end().lines().last().unwrap().to_string();

    let herald = Herald::start(&env, &address).await;
    let r = reqwest::Client::new()
        .post(format!("{address}/api/admin/v1/incidents"))
        .bearer_auth(&token)
        .json(&json!({"name": "Crash test", "status": "investigating", "impact": "major", "body": "x", "notify": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let incident: Value = r.json().await.unwrap();
    sink.wait_for(SUBSCRIBERS / 2, Duration::from_secs(120))
        .await;
    herald.kill();
    let at_kill = sink.count();
    assert!(
        at_kill < SUBSCRIBERS,
        "the kill came before the end of the fan-out"
    );

    let herald = Herald::start(&env, &address).await;
    let started = Instant::now();
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    loop {
        per_recipient.clear();
        for m in sink.messages() {
            *per_recipient.entry(m.rcpt).or_default() += 1;
        }
        if per_recipient.len() == SUBSCRIBERS || started.elapsed() > Duration::from_secs(180) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let missing = SUBSCRIBERS - per_recipient.len();
    let duplicates: usize = per_recipient.values().map(|n| n - 1).sum();
    eprintln!("crash test: {SUBSCRIBERS} subscribers, killed after {at_kill} messages; missing {missing}, duplicates {duplicates}");
    assert_eq!(missing, 0, "every subscriber has the message");
    // Only messages sent but not yet recorded at the kill can repeat: each of the two workers
    // records outcomes every 64, with at most 8 (the SMTP concurrency) in flight besides.
    assert!(duplicates <= 2 * 64 + 8, "{duplicates} duplicates");

    let update_id = incident["update_id"].as_str().unwrap();
    let counts: Value = reqwest::Client::new()
        .get(format!(
            "{address}/api/admin/v1/updates/{update_id}/deliveries"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts["channels"]["email"]["sent"], SUBSCRIBERS as i64,
        "{counts}"
    );
    drop(herald);
}
