//! Email over SMTP with lettre, on TCP connections Herald opens itself with `TCP_NODELAY`:
//! lettre 0.11 never sets it, and Nagle's algorithm against delayed ACKs then stalls every
//! message about 40 ms. Connections are reused; a semaphore caps how many send at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::{ClientId, Extension};
use lettre::Address;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

use super::{Channel, Contact, Message, Outgoing, Policy, Receipt, SendError};
use crate::notify::compose::{Composed, Composer, UpdateMail};

/// The email channel: update notifications to subscribers, and the confirmation mails, admin
/// alerts and subscription notices that share its transport.
pub struct Email<T: MailTransport> {
    transport: Arc<T>,
    composer: Arc<Composer>,
    concurrency: usize,
    /// The shared part of each update's mail, built once per update (most recent few).
    mails: std::sync::Mutex<std::collections::HashMap<i64, Arc<UpdateMail>>>,
}

impl<T: MailTransport> Email<T> {
    /// `concurrency`: SMTP connections at once (`HERALD_SMTP_CONCURRENCY`).
    pub fn new(transport: Arc<T>, composer: Arc<Composer>, concurrency: usize) -> Self {
        Email {
            transport,
            composer,
            concurrency,
            mails: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn update_mail(&self, notice: &super::Notice) -> Arc<UpdateMail> {
        let make = || {
            Arc::new(UpdateMail::new(
                &notice.page.url,
                &notice.incident,
                &notice.update,
            ))
        };
        let Ok(mut mails) = self.mails.lock() else {
            return make();
        };
        if mails.len() > 64 {
            mails.clear();
        }
        mails.entry(notice.update.id).or_insert_with(make).clone()
    }
}

impl<T: MailTransport> Channel for Email<T> {
    type Rendered = Composed;

    fn names(&self) -> &'static [&'static str] {
        use super::names::{ALERT, CONFIRM, EMAIL, NOTICE, REMINDER};
        &[EMAIL, CONFIRM, ALERT, NOTICE, REMINDER]
    }

    fn policy(&self) -> Policy {
        Policy {
            batch: 256,
            concurrency: self.concurrency.max(1),
            max_attempts: 8,
            ordered: false,
            lease: chrono::Duration::minutes(5),
        }
    }

    async fn render(&self, out: &Outgoing) -> Result<Composed, SendError> {
        let Contact::Email(address) = &out.contact else {
            return Err(SendError::Permanent("not an email address".into()));
        };
        let composer = self.composer.clone();
        let (recipient, address) = (out.recipient_id, address.clone());
        let now = crate::domain::now();
        let compose: Box<dyn FnOnce() -> anyhow::Result<Composed> + Send> = match &out.message {
            Message::Update(notice) if out.channel == super::names::REMINDER => {
                let mail = crate::notify::compose::ReminderMail::new(
                    &notice.page.url,
                    &notice.incident,
                    &notice.update,
                );
                Box::new(move || composer.reminder(&mail, recipient, &address))
            }
            Message::Update(notice) => {
                let mail = self.update_mail(notice);
                Box::new(move || composer.notification(&mail, recipient, &address))
            }
            Message::Confirmation => {
                Box::new(move || composer.confirmation(recipient, &address, now))
            }
            Message::Alert { subject, body } if out.channel == super::names::NOTICE => {
                let (subject, body) = (subject.clone(), body.clone());
                Box::new(move || composer.notice(&subject, &body, &address))
            }
            Message::Alert { subject, body } => {
                let (subject, body) = (subject.clone(), body.clone());
                Box::new(move || composer.alert(&subject, &body, &address))
            }
            Message::Test(_) => {
                return Err(SendError::Permanent("email has no test delivery".into()))
            }
        };
        // DKIM signing costs about a millisecond of CPU: keep it off the async threads.
        // Without it, composing is cheap enough to do in place.
        let composed = if self.composer.signs() {
            match tokio::task::spawn_blocking(compose).await {
                Ok(result) => result,
                Err(e) => Err(anyhow::anyhow!("the composing task failed: {e}")),
            }
        } else {
            compose()
        };
        composed.map_err(|e| SendError::Permanent(e.to_string()))
    }

    async fn send(&self, out: &Outgoing, composed: Composed) -> Result<Receipt, SendError> {
        let Contact::Email(address) = &out.contact else {
            return Err(SendError::Permanent("not an email address".into()));
        };
        MailTransport::send(
            &*self.transport,
            &self.composer.from_address(),
            address,
            composed.bytes,
        )
        .await?;
        Ok(composed.message_id)
    }
}

/// Sends one message; the channel is written against this so tests can swap in a double.
pub trait MailTransport: Send + Sync + 'static {
    /// Sends `message` (complete RFC 5322 bytes) from `from` to `to`; returns the server's reply.
    fn send(
        &self,
        from: &str,
        to: &str,
        message: Arc<Vec<u8>>,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain SMTP (a local relay).
    None,
    /// Plain, then STARTTLS (required: a server that does not offer it is an error).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

/// Where and how to reach the SMTP server, parsed from `HERALD_SMTP_URL`.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<(String, String)>,
    /// The name Herald gives in EHLO.
    pub hello: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl SmtpSettings {
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=starttls`, `smtps://user:pass@host:465`.
    pub fn parse(raw: &str, hello: &str) -> anyhow::Result<SmtpSettings> {
        let url = url::Url::parse(raw)
            .map_err(|e| anyhow::anyhow!("HERALD_SMTP_URL is not a URL: {e}"))?;
        let (security, default_port) = match url.scheme() {
            "smtp" => {
                let tls = url
                    .query_pairs()
                    .find(|(k, _)| k == "tls")
                    .map(|(_, v)| v.to_string());
                match tls.as_deref() {
                    None | Some("none") => (Security::None, 25),
                    Some("starttls") => (Security::StartTls, 587),
                    Some(other) => anyhow::bail!(
                        "HERALD_SMTP_URL: tls={other} is unknown; use tls=starttls, or smtps://"
                    ),
                }
            }
            "smtps" => (Security::Implicit, 465),
            other => {
                anyhow::bail!("HERALD_SMTP_URL must start with smtp:// or smtps://, not {other}://")
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("HERALD_SMTP_URL needs a host"))?
            .to_string();
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| percent_decode(s);
            (decode(url.username()), decode(url.password().unwrap_or("")))
        });
        Ok(SmtpSettings {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
            hello: hello.to_string(),
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// What the mail relay announced in its EHLO reply that decides which addresses Herald takes:
/// SMTPUTF8 (RFC 6531), without which a local part beyond ASCII cannot be delivered. Learnt at
/// start (a connection made and closed) and again on every connection after.
#[derive(Debug, Default)]
pub struct Relay {
    /// 0 not yet known, 1 not announced, 2 announced.
    smtputf8: std::sync::atomic::AtomicU8,
}

impl Relay {
    /// Whether the relay announced SMTPUTF8 when last asked; false until it has been.
    pub fn takes_international(&self) -> bool {
        self.smtputf8.load(std::sync::atomic::Ordering::Relaxed) == 2
    }

    /// Whether the relay has been asked yet.
    pub fn known(&self) -> bool {
        self.smtputf8.load(std::sync::atomic::Ordering::Relaxed) != 0
    }

    fn record(&self, smtputf8: bool) {
        let value = if smtputf8 { 2 } else { 1 };
        let before = self
            .smtputf8
            .swap(value, std::sync::atomic::Ordering::Relaxed);
        if before != value {
            tracing::info!(
                smtputf8,
                "the mail relay {} internationalised addresses (SMTPUTF8)",
                if smtputf8 {
                    "accepts"
                } else {
                    "does not accept"
                }
            );
        }
    }
}

/// Asks the configured relay what it accepts, for a command that runs without the server
/// (the CLI's import): false when no relay is configured or it cannot be reached.
pub async fn relay_takes_international(config: &crate::config::Config) -> bool {
    if config.smtp_url.is_empty() {
        return false;
    }
    let Ok(settings) = SmtpSettings::parse(&config.smtp_url, &config.smtp_helo()) else {
        return false;
    };
    let relay = Arc::new(Relay::default());
    SmtpTransport::new(settings, 1, relay.clone()).probe().await;
    relay.takes_international()
}

/// Timeout for connecting and for each SMTP exchange.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The real transport: a capped pool of reused SMTP connections.
pub struct SmtpTransport {
    settings: SmtpSettings,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
    relay: Arc<Relay>,
}

impl SmtpTransport {
    pub fn new(settings: SmtpSettings, concurrency: usize, relay: Arc<Relay>) -> SmtpTransport {
        SmtpTransport {
            settings,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(concurrency),
            relay,
        }
    }

    /// Connects once to learn what the relay announces, then says goodbye.
    pub async fn probe(&self) {
        match self.connect().await {
            Ok(mut conn) => {
                let _ = conn.quit().await;
            }
            Err(e) => tracing::warn!(
                error = %e,
                "could not ask the mail relay what it accepts; internationalised addresses \
                 are refused until it answers"
            ),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.settings;
        let unreachable = |e: &dyn std::fmt::Display| {
            SendError::Unreachable(format!("cannot reach {}:{}: {e}", s.host, s.port))
        };
        let tcp = tokio::time::timeout(SMTP_TIMEOUT, TcpStream::connect((s.host.as_str(), s.port)))
            .await
            .map_err(|e| unreachable(&e))?
            .map_err(|e| unreachable(&e))?;
        tcp.set_nodelay(true).map_err(|e| unreachable(&e))?;
        let hello = ClientId::Domain(s.hello.clone());
        let tls = || TlsParameters::new(s.host.clone()).map_err(|e| unreachable(&e));
        let mut conn = match s.security {
            Security::Implicit => {
                let stream = tls_stream(tcp, &s.host)
                    .await
                    .map_err(|e| unreachable(&e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await,
        }
        .map_err(|e| unreachable(&e))?;
        if s.security == Security::StartTls {
            if !conn.can_starttls() {
                return Err(SendError::Unreachable(format!(
                    "{} does not offer STARTTLS",
                    s.host
                )));
            }
            conn.starttls(tls()?, &hello)
                .await
                .map_err(|e| unreachable(&e))?;
        }
        if let Some((user, password)) = &s.credentials {
            let credentials = Credentials::new(user.clone(), password.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| SendError::Unreachable(format!("SMTP authentication failed: {e}")))?;
        }
        self.relay
            .record(conn.server_info().supports_feature(Extension::SmtpUtfEight));
        Ok(conn)
    }
}

/// SMTPS: TLS from the first byte, over Herald's own no-delay socket.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

async fn tls_stream(tcp: TcpStream, host: &str) -> anyhow::Result<ImplicitTls> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
    Ok(ImplicitTls(connector.connect(name, tcp).await?))
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(e.to_string())
    } else if e.is_transient() || e.is_timeout() {
        SendError::Transient(e.to_string())
    } else if e.is_response() || e.is_client() {
        // A reply Herald could not use, or a message lettre refused to send.
        SendError::Permanent(e.to_string())
    } else {
        SendError::Unreachable(e.to_string())
    }
}

impl MailTransport for SmtpTransport {
    async fn send(&self, from: &str, to: &str, message: Arc<Vec<u8>>) -> Result<String, SendError> {
        let envelope = envelope(from, to)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Unreachable("shutting down".into()))?;
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let result = tokio::time::timeout(SMTP_TIMEOUT, conn.send(&envelope, &message)).await;
        match result {
            Ok(Ok(response)) => {
                if !conn.has_broken() {
                    self.idle.lock().await.push(conn);
                }
                Ok(response.message().collect::<Vec<_>>().join(" "))
            }
            Ok(Err(e)) => {
                // After a refusal the session may be mid-transaction; start afresh next time.
                conn.abort().await;
                Err(classify(e))
            }
            Err(_) => {
                conn.abort().await;
                Err(SendError::Transient(
                    "the SMTP server did not answer in time".into(),
                ))
            }
        }
    }
}

fn envelope(from: &str, to: &str) -> Result<Envelope, SendError> {
    let from: Address = from
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad sender address: {e}")))?;
    let to: Address = to
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
    Envelope::new(Some(from), vec![to]).map_err(|e| SendError::Permanent(e.to_string()))
}

/// A transport that keeps messages in memory, for unit tests of the worker.
#[derive(Default)]
pub struct MemoryTransport {
    pub sent: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
    /// Recipients refused permanently.
    pub refuse: std::sync::Mutex<Vec<String>>,
    /// While true, every send fails as unreachable.
    pub down: std::sync::atomic::AtomicBool,
}

impl MailTransport for MemoryTransport {
    async fn send(
        &self,
        _from: &str,
        to: &str,
        message: Arc<Vec<u8>>,
    ) -> Result<String, SendError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SendError::Unreachable("connection refused".into()));
        }
        if self
            .refuse
            .lock()
            .map(|r| r.iter().any(|x| x == to))
            .unwrap_or(false)
        {
            return Err(SendError::Permanent("550 5.1.1 mailbox unavailable".into()));
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((to.to_string(), message.to_vec()));
        }
        Ok("250 OK".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_name_host_port_security_and_credentials() {
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525", "h").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("127.0.0.1", 2525, Security::None)
        );
        let s = SmtpSettings::parse(
            "smtp://me%40x.com:p%3Ass@mail.example.com?tls=starttls",
            "h",
        )
        .unwrap();
        assert_eq!((s.port, s.security), (587, Security::StartTls));
        assert_eq!(
            s.credentials,
            Some(("me@x.com".to_string(), "p:ss".to_string()))
        );
        assert!(
            !format!("{s:?}").contains("p:ss"),
            "the password is never printed"
        );
        let s = SmtpSettings::parse("smtps://mail.example.com", "h").unwrap();
        assert_eq!((s.port, s.security), (465, Security::Implicit));
        assert!(SmtpSettings::parse("http://x", "h").is_err());
        assert!(SmtpSettings::parse("smtp://x?tls=maybe", "h").is_err());
    }
}
