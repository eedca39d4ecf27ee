//! Connection limits: idle, slow-header and slow-body connections are closed in time, a full
//! table makes room by closing idle connections, and a lowered open-file limit does not take
//! the page down, all while `/` and `/healthz` keep answering.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, TestApp};

/// What one test client does with its connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request head a byte at a time, never finishing it.
    SlowHead,
    /// Sends a whole head, then its body a byte at a time, never finishing it.
    SlowBody,
    /// Makes one request, reads the answer, then sits idle on the kept-alive connection.
    KeptAlive,
}

/// How a client's connection ended: when the server closed it, and what it had answered.
struct Closed {
    after: Duration,
    answer: String,
}

/// Connects to `address` and behaves so until the server closes the connection, giving up
/// after `limit`.
async fn client(
    address: String,
    behaviour: Behaviour,
    token: String,
    limit: Duration,
) -> Option<Closed> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let mut to_drip: Vec<u8> = match behaviour {
        Behaviour::Silent => Vec::new(),
        Behaviour::SlowHead => b"GET / HTTP/1.1\r\nHost: status.test\r\nX-Padding: ".to_vec(),
        Behaviour::SlowBody => {
            let head = format!(
                "POST /api/admin/v1/components HTTP/1.1\r\nHost: status.test\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: 1000\r\n\r\n{{\"name\":\""
            );
            stream.write_all(head.as_bytes()).await.expect("head");
            Vec::new()
        }
        Behaviour::KeptAlive => {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: status.test\r\n\r\n")
                .await
                .expect("request");
            Vec::new()
        }
    };
    let drips = matches!(behaviour, Behaviour::SlowHead | Behaviour::SlowBody);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut drip = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            _ = drip.tick(), if drips => {
                let byte = if to_drip.is_empty() { b'a' } else { to_drip.remove(0) };
                if stream.write_all(&[byte]).await.is_err() {
                    break;
                }
            },
            () = &mut deadline => return None,
        }
    }
    Some(Closed {
        after: started.elapsed(),
        answer: String::from_utf8_lossy(&answer).into_owned(),
    })
}

/// `GET path` on a fresh connection answers 200 within `within`.
async fn answers(address: &str, path: &str, within: Duration) {
    let client = reqwest::Client::builder()
        .timeout(within)
        .build()
        .expect("client");
    let started = Instant::now();
    let response = client
        .get(format!("{address}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path} while connections are held open: {e}"));
    assert_eq!(response.status(), 200, "GET {path}");
    response.bytes().await.expect("body");
    assert!(
        started.elapsed() < within,
        "GET {path} took {:?}",
        started.elapsed()
    );
}

async fn app_with_short_timeouts() -> TestApp {
    spawn_app_with(|c| {
        c.header_read_timeout = 1;
        c.keep_alive_timeout = 1;
        c.body_read_timeout = 1;
    })
    .await
}

#[tokio::test]
async fn idle_slow_head_and_slow_body_connections_are_closed_in_time_while_the_page_answers() {
    let app = app_with_short_timeouts().await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut clients = Vec::new();
    for (behaviour, count) in [
        (Behaviour::Silent, 60),
        (Behaviour::SlowHead, 30),
        (Behaviour::SlowBody, 30),
        (Behaviour::KeptAlive, 20),
    ] {
        for _ in 0..count {
            clients.push((
                behaviour,
                tokio::spawn(client(
                    address.clone(),
                    behaviour,
                    app.token.clone(),
                    Duration::from_secs(8),
                )),
            ));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        answers(&app.address, "/", Duration::from_secs(5)).await;
        answers(&app.address, "/healthz", Duration::from_secs(5)).await;
    }
    for (behaviour, handle) in clients {
        let closed = handle
            .await
            .expect("client")
            .unwrap_or_else(|| panic!("a {behaviour:?} connection was still open after 8 s"));
        // Each timeout is 1 s; the server's clock is coarse, the client drips every 200 ms, and
        // other tests may be loading the machine.
        assert!(
            closed.after < Duration::from_millis(4000),
            "a {behaviour:?} connection was closed only after {:?}",
            closed.after
        );
        match behaviour {
            Behaviour::Silent | Behaviour::SlowHead => {
                assert!(
                    closed.after > Duration::from_millis(700),
                    "a {behaviour:?} connection closed before its timeout: {:?}",
                    closed.after
                );
                assert_eq!(closed.answer, "", "{behaviour:?} got an answer");
            }
            Behaviour::SlowBody => assert!(
                closed.answer.starts_with("HTTP/1.1 408 ")
                    && closed.answer.contains("connection: close"),
                "slow body answered: {}",
                closed.answer
            ),
            Behaviour::KeptAlive => assert!(
                closed.answer.starts_with("HTTP/1.1 200 "),
                "kept-alive request answered: {}",
                closed.answer
            ),
        }
    }
    let components = app.api_get("/api/admin/v1/components").await;
    assert_eq!(
        components["components"].as_array().map(Vec::len),
        Some(0),
        "a cut-off body stored nothing"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_in_use_stays_open_past_the_keep_alive_timeout() {
    let app = app_with_short_timeouts().await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let mut buffer = [0u8; 16384];
    // Four requests 600 ms apart: 2.4 s on one connection whose idle limit is 1 s.
    for _ in 0..4 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: status.test\r\n\r\n")
            .await
            .expect("request");
        let n = stream.read(&mut buffer).await.expect("answer");
        assert!(
            String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200 "),
            "the connection was closed while in use"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

#[tokio::test]
async fn at_the_cap_the_longest_idle_connections_make_room_and_busy_ones_are_kept() {
    let app = spawn_app_with(|c| {
        c.max_connections = 16;
        c.body_read_timeout = 30;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    // Sixteen idle connections fill the table, the oldest first.
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    answers(&app.address, "/", Duration::from_secs(5)).await;
    answers(&app.address, "/healthz", Duration::from_secs(5)).await;
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(2), idle[0].read(&mut buffer))
        .await
        .expect("the longest-idle connection was not closed");
    assert!(matches!(closed, Ok(0) | Err(_)));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), idle[15].read(&mut buffer))
            .await
            .is_err(),
        "the newest idle connection was closed"
    );
    drop(idle);
    // Let the server see them go before filling the table again.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Sixteen requests whose bodies are still arriving: nothing is idle, so a newcomer is refused.
    let mut slow = Vec::new();
    for _ in 0..16 {
        slow.push(tokio::spawn(client(
            address.clone(),
            Behaviour::SlowBody,
            app.token.clone(),
            Duration::from_secs(4),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut newcomer = TcpStream::connect(&address).await.expect("connect");
    let _ = newcomer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: status.test\r\n\r\n")
        .await;
    let refused = tokio::time::timeout(Duration::from_secs(2), newcomer.read(&mut buffer))
        .await
        .expect("a newcomer to a table of busy connections was left hanging");
    assert!(
        matches!(refused, Ok(0) | Err(_)),
        "a newcomer was served past the cap: {}",
        String::from_utf8_lossy(&buffer)
    );
    for handle in slow {
        assert!(
            handle.await.expect("client").is_none(),
            "a busy connection was closed to make room"
        );
    }
    // Their clients gave up and closed: there is room again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    answers(&app.address, "/healthz", Duration::from_secs(5)).await;
}

/// `herald serve` started under `ulimit -n 256`, its log in a file.
struct LimitedHerald {
    child: Child,
    address: String,
    log: std::path::PathBuf,
    _data: tempfile::TempDir,
}

impl LimitedHerald {
    async fn start(open_files: u32, env: &[(&str, &str)]) -> LimitedHerald {
        let data = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let address = format!("http://127.0.0.1:{port}");
        let log = data.path().join("herald.log");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {open_files} && exec \"$0\" serve"))
            .arg(env!("CARGO_BIN_EXE_herald"))
            .env("HERALD_DATA_DIR", data.path())
            .env("HERALD_BIND", format!("127.0.0.1:{port}"))
            .env("HERALD_PUBLIC_URL", &address)
            .env("HERALD_LOG", "herald=info,warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
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
                "herald did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        LimitedHerald {
            child,
            address,
            log,
            _data: data,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LimitedHerald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Holds 300 idle sockets open to a Herald limited to 256 open files, checks the page answers
/// meanwhile, and returns the log.
async fn three_hundred_idle_sockets(herald: &LimitedHerald) -> String {
    let address = herald.address.trim_start_matches("http://");
    let mut sockets = Vec::new();
    for _ in 0..300 {
        sockets.push(TcpStream::connect(address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        answers(&herald.address, "/", Duration::from_secs(5)).await;
        answers(&herald.address, "/healthz", Duration::from_secs(5)).await;
    }
    // The flood goes on a moment longer: the log must not fill with the same error.
    tokio::time::sleep(Duration::from_secs(5)).await;
    answers(&herald.address, "/", Duration::from_secs(5)).await;
    drop(sockets);
    herald.log()
}

#[tokio::test]
async fn with_256_open_files_300_idle_sockets_leave_the_page_answering() {
    let herald = LimitedHerald::start(256, &[]).await;
    let log = three_hundred_idle_sockets(&herald).await;
    assert!(
        !log.contains("Too many open files"),
        "the derived cap should keep Herald within its files: {log}"
    );
}

#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_backs_off_and_logs_once_per_burst() {
    // A cap the file limit cannot carry: accept runs into EMFILE.
    let herald = LimitedHerald::start(256, &[("HERALD_MAX_CONNECTIONS", "1000")]).await;
    let log = three_hundred_idle_sockets(&herald).await;
    assert!(
        log.contains("the open-file limit is lower than 1000 connections need"),
        "no warning at start: {log}"
    );
    let storms = log.matches("Too many open files").count();
    assert!(
        (1..=2).contains(&storms),
        "expected the file-descriptor error once per burst, logged {storms} times: {log}"
    );
}
