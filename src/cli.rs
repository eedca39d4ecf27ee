//! The `herald` command line. Each subcommand loads the configuration, opens the store and does
//! one thing; `serve` runs the web server and background jobs.

use clap::{Parser, Subcommand};

use crate::app::{Actor, App};
use crate::config::Config;
use crate::domain::{Choice, Role, StaffEmail};
use crate::security::audit::Chain;
use crate::security::keys::MasterKey;
use crate::security::seal::Sealer;
use crate::startup::{cluster_key, Application, KeyUse};
use crate::store::{DatabaseLocation, Schema, Store};

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Incident status page and customer notifier"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the web server (status page, admin, API) and the background jobs.
    Serve,
    /// Run the background jobs only (deliveries, maintenance schedule), for a separate process.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Manage admin API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage email subscribers.
    Subscribers {
        #[command(subcommand)]
        command: SubscriberCommand,
    },
    /// Tools for posts to X.
    Tweet {
        #[command(subcommand)]
        command: TweetCommand,
    },
    /// The connected X (Twitter) account.
    X {
        #[command(subcommand)]
        command: XCommand,
    },
    /// Stop every outbound channel on every instance before its next send (the kill switch).
    Pause {
        /// Why, shown to every admin.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Let outbound sending continue where it stopped.
    Resume,
    /// Show whether outbound is paused, breach mode, and the delivery queue.
    Status,
    /// Breach mode: pause everything, pin one statement and send it on every channel.
    Breach {
        #[command(subcommand)]
        command: BreachCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Secrets sealed at rest under the master key.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exits 0 when intact, 1 naming the first bad entry. Prints the head
    /// (entry count and last hash); keep it elsewhere and pass it back with --expect-head to
    /// catch entries cut off the end.
    Verify {
        /// `COUNT:HASH` from an earlier run, which must still be part of the chain.
        #[arg(long)]
        expect_head: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Make a new master key and re-seal every secret under it (the X token, staff two-factor
    /// seeds) and re-key the audit chain, in one transaction. Stop every Herald instance first
    /// and give them the new key file before starting them again.
    Rotate,
}

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; prints a one-time link where they set their password.
    Add {
        email: String,
        #[arg(long, value_parser = parse_role, default_value = "responder")]
        role: Role,
    },
    /// Remove a member's second factor (a lost phone): they set it up again at next sign-in.
    Reset2fa { email: String },
}

#[derive(Subcommand)]
pub enum SubscriberCommand {
    /// Import addresses from a CSV or text file (the first column of each line; a header line
    /// naming "email" is skipped). Addresses already subscribed are left alone.
    Import {
        file: std::path::PathBuf,
        /// Treat them as confirmed (they opted in elsewhere); otherwise each gets a
        /// confirmation mail.
        #[arg(long)]
        confirmed: bool,
    },
}

#[derive(Subcommand)]
pub enum TweetCommand {
    /// Reads text on stdin; prints {"weighted_length":N,"valid":bool,"permillage":N} by
    /// twitter-text v3's rules (URLs count 23, emoji 2, CJK 2).
    Check,
}

#[derive(Subcommand)]
pub enum BreachCommand {
    /// Pause every channel, pin the statement on the status page and every customer banner,
    /// and send it once to every subscriber and to X despite the pause.
    Start {
        /// The statement's title (the incident's name).
        #[arg(long)]
        title: String,
        /// The statement (Markdown); read from stdin when not given.
        #[arg(long)]
        message: Option<String>,
        /// Show what would be sent, to whom, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Unpin the statement. Outbound stays paused until `herald resume`.
    End,
}

#[derive(Subcommand)]
pub enum XCommand {
    /// Connect the account of an access token made elsewhere (headless set-ups): reads the
    /// access token and its secret on stdin, one per line; checks them with X; stores them sealed.
    Connect,
    /// Forget the connected account; posts still queued for it are cancelled.
    Disconnect,
    /// Show the connected account and the X queue.
    Status,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints it once, as the last line.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse("role", raw).map_err(|e| e.message)
}

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Tweet {
            command: TweetCommand::Check,
        } => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            // A trailing newline from `echo` or a file is not part of the post.
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            println!(
                "{}",
                serde_json::to_string(&crate::domain::tweet::parse_tweet(text))?
            );
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::Worker => worker(config).await,
        Command::Migrate => {
            let store = crate::startup::open_database(&config).await?;
            println!(
                "database: {}",
                DatabaseLocation::of(&config.database_url())?
            );
            let key = cluster_key(&config, &store, KeyUse::Start).await?;
            println!("Database is up to date (master key {}).", key.id());
            Ok(())
        }
        Command::Staff {
            command: StaffCommand::Add { email, role },
        } => {
            let email = StaffEmail::parse(&email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let app = open_app(config).await?;
            let added = app.add_staff(&Actor::cli(), &email, role).await?;
            println!("Added {} as {}.", added.staff.email, role.as_str());
            println!("Send them this one-time link to set their password (valid 72 hours):");
            println!(
                "{}/admin/enrol/{}",
                app.config.public_url(),
                added.enrolment_secret
            );
            Ok(())
        }
        Command::Subscribers {
            command: SubscriberCommand::Import { file, confirmed },
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let international = crate::channels::email::relay_takes_international(&config).await;
            let (emails, problems) =
                crate::domain::subscriber::parse_list_with(&text, international);
            for (line, problem) in problems.iter().take(20) {
                eprintln!("line {line}: {problem}");
            }
            if problems.len() > 20 {
                eprintln!("... and {} more lines with problems", problems.len() - 20);
            }
            let added = open_app(config)
                .await?
                .import_subscribers(&Actor::cli(), &emails, confirmed)
                .await?;
            println!(
                "Imported {added} new subscribers{} ({} lines skipped).",
                if confirmed {
                    ""
                } else {
                    ", each sent a confirmation mail"
                },
                problems.len()
            );
            Ok(())
        }
        Command::Pause { reason } => {
            let app = open_app(config).await?;
            let state = app.pause(&Actor::cli(), &reason).await?;
            println!(
                "Outbound sending is PAUSED{}.",
                reason_suffix(&state.reason)
            );
            println!("Queued deliveries wait; `herald resume` continues where it stopped.");
            Ok(())
        }
        Command::X { command } => x_command(command, config).await,
        Command::Breach { command } => breach_command(command, config).await,
        Command::Resume => {
            // Whoever runs the command holds the host and its key file: that is the fresh
            // proof a resume after a tripwire asks for.
            open_app(config).await?.resume(&Actor::cli(), true).await?;
            println!("Outbound sending resumed.");
            Ok(())
        }
        Command::Status => {
            let store = open_existing(&config).await?;
            // With the cluster's key at hand, status also tells whether Herald wrote the state.
            let store = match cluster_key(&config, &store, KeyUse::Existing).await {
                Ok(key) => store.with_stamper(crate::security::stamp::Stamper::new(&key)),
                Err(_) => store,
            };
            let state = store.outbound_state().await?;
            let (pending, sending) = store.queue_depth().await?;
            let (confirmed, unconfirmed) = store.subscriber_counts().await?;
            if !state.genuine {
                println!(
                    "outbound: HELD: the stored switch was not written by Herald (changed in the \
                     database directly); every instance holds all sending and trips the wire"
                );
            } else if state.paused {
                println!(
                    "outbound: PAUSED{} (by {})",
                    reason_suffix(&state.reason),
                    state.changed_by
                );
            } else {
                println!("outbound: sending");
            }
            match store.open_breach().await? {
                Some(b) if b.genuine => println!(
                    "breach mode: ON since {} (by {}): \"{}\", incident {}",
                    crate::domain::rfc3339(&b.started_at),
                    b.started_by,
                    b.title,
                    b.incident_id
                ),
                Some(b) => println!(
                    "breach mode: a breach row ({}) was not written by Herald: it is neither \
                     pinned nor sent",
                    b.id
                ),
                None => {}
            }
            println!("queue: {pending} pending, {sending} in flight");
            println!("subscribers: {confirmed} confirmed, {unconfirmed} awaiting confirmation");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { expect_head },
        } => audit_verify(&config, expect_head).await,
        Command::Secrets {
            command: SecretsCommand::Rotate,
        } => secrets_rotate(&config).await,
        Command::Staff {
            command: StaffCommand::Reset2fa { email },
        } => {
            let app = open_app(config).await?;
            let (staff, _) = app
                .store
                .staff_for_login(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no staff member {email}"))?;
            let staff = app.reset_two_factor(&Actor::cli(), staff.id).await?;
            println!(
                "Two-factor removed for {}; they set it up again at their next sign-in.",
                staff.email
            );
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, role },
        } => {
            let name =
                crate::domain::parse_token_name(&name).map_err(|e| anyhow::anyhow!("{e}"))?;
            let app = open_app(config).await?;
            let (info, token) = app.create_token(&Actor::cli(), &name, role, None).await?;
            println!(
                "Created API token \"{}\" with the {} role. It is shown only once:",
                info.name,
                role.as_str()
            );
            println!("{token}");
            Ok(())
        }
    }
}

async fn audit_verify(config: &Config, expect_head: Option<String>) -> anyhow::Result<()> {
    let (store, master) = open_with_key(config).await?;
    let chain = Chain::new(&master);
    match store.verify_audit(&chain).await? {
        Err(broken) => {
            eprintln!("audit log: BROKEN: {broken}");
            std::process::exit(1);
        }
        Ok(head) => {
            if let Some(expected) = expect_head {
                let (count, hash) = expected
                    .split_once(':')
                    .and_then(|(c, h)| Some((c.parse::<i64>().ok()?, h.to_string())))
                    .ok_or_else(|| anyhow::anyhow!("--expect-head takes COUNT:HASH"))?;
                let filter = crate::store::AuditFilter {
                    before_id: Some(count + 1),
                    ..Default::default()
                };
                let at = store.audit_entries(&filter, 1).await?;
                if at.first().is_none_or(|e| e.id != count || e.hash != hash) {
                    eprintln!(
                        "audit log: BROKEN: entry {count} no longer has the hash recorded earlier \
                         (entries were removed or rewritten)"
                    );
                    std::process::exit(1);
                }
            }
            println!(
                "audit log: intact, {} entries; head {}:{}",
                head.entries, head.entries, head.last_hash
            );
            Ok(())
        }
    }
}

async fn secrets_rotate(config: &Config) -> anyhow::Result<()> {
    let path = config.secret_key_path();
    let (store, old) = open_with_key(config).await?;
    let store = store.with_stamper(crate::security::stamp::Stamper::new(&old));
    if let Err(broken) = store.verify_audit(&Chain::new(&old)).await? {
        anyhow::bail!(
            "the audit log does not verify under the current key ({broken}); \
             investigate before rotating, since rotation re-keys the chain"
        );
    }
    let new = MasterKey::generate();
    let (old_sealer, new_sealer) = (Sealer::new(&old), Sealer::new(&new));
    let mut values = store.sealed_values().await?;
    for v in &mut values {
        let plain = old_sealer.open(&v.purpose, &v.sealed).map_err(|_| {
            anyhow::anyhow!(
                "{} ({}) does not open with the current key; nothing was changed",
                v.column,
                v.key
            )
        })?;
        v.sealed = new_sealer.seal(&v.purpose, &plain)?;
    }
    // The new key reaches the disk before the database depends on it.
    let staged = MasterKey::previous_path(&path).with_extension("new");
    let _ = std::fs::remove_file(&staged);
    new.write_new(&staged)?;
    let rechained = store
        .reseal(
            &values,
            &Chain::new(&new),
            &crate::security::stamp::Stamper::new(&new),
            &crate::security::keys::KeyCheck::of(&new),
        )
        .await?;
    let previous = MasterKey::previous_path(&path);
    std::fs::rename(&path, &previous).map_err(|e| {
        anyhow::anyhow!(
            "the database now uses the key in {}, but moving the old key aside failed: {e}",
            staged.display()
        )
    })?;
    std::fs::rename(&staged, &path)?;
    let master_path = path.display();
    crate::app::guard::append_audit(
        &store,
        &Chain::new(&new),
        &Actor::cli(),
        "secrets.rotate",
        "secret-key",
        serde_json::json!({ "resealed": values.len(), "audit_entries_rekeyed": rechained }),
    )
    .await?;
    println!(
        "Re-sealed {} secrets and re-keyed {rechained} audit entries under a new key in {master_path} (id {}, was {}).",
        values.len(),
        new.id(),
        old.id()
    );
    println!(
        "The old key is in {} so links in emails already sent keep working; \
         delete it once those no longer matter.",
        previous.display()
    );
    println!(
        "Restart every Herald instance now, with the new key file: one still on the old key \
         refuses to start."
    );
    Ok(())
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// How to point a command at the right database, for messages.
const POINT_ELSEWHERE: &str =
    "Run it where Herald runs (its working directory and environment), or \
point it at Herald's database: HERALD_DATA_DIR=/path/to/herald-data, or \
HERALD_DATABASE_URL=sqlite:///path/to/herald.db or postgres://user@host:5432/herald, in the \
environment or in herald.toml. To set up a new database, run `herald migrate` or `herald serve`";

/// Opens the database of an existing Herald, for every command but `serve`, `worker` and
/// `migrate`: a SQLite file that is not there, a database without Herald's tables or one whose
/// migrations are behind stops the command with where it looked and which setting chose it.
/// It creates nothing: no directory, no file, no table, no key. Prints the database it opened.
pub async fn open_existing(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let location = DatabaseLocation::of(&url)?;
    let origin = config.database_origin();
    if let DatabaseLocation::Sqlite(path) = &location {
        if !path.is_file() {
            anyhow::bail!(
                "no Herald database at {} (chosen by {origin}); nothing was created. \
                 {POINT_ELSEWHERE}.",
                path.display()
            );
        }
    }
    let store = Store::connect_existing(&url, &config.pool_settings())
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot open the database {location} (chosen by {origin}): {e:#}")
        })?;
    match store.schema().await? {
        Schema::Current => {}
        Schema::Empty => anyhow::bail!(
            "the database {location} (chosen by {origin}) has no Herald tables; nothing was \
             changed. {POINT_ELSEWHERE}."
        ),
        Schema::Behind { applied, known } => anyhow::bail!(
            "the database {location} (chosen by {origin}) has {applied} of this version's \
             {known} migrations; nothing was changed. Run `herald migrate` (or start this \
             version's `herald serve`) first."
        ),
    }
    println!("database: {location}");
    Ok(store)
}

/// `open_existing`, and the master key, which must be the one the database records.
/// Whatever the CLI writes that can reach customers (the kill switch, confirmation mails)
/// carries Herald's stamp like everything an instance writes.
async fn open_with_key(config: &Config) -> anyhow::Result<(Store, MasterKey)> {
    let store = open_existing(config).await?;
    let key = cluster_key(config, &store, KeyUse::Existing).await?;
    let store = store.with_stamper(crate::security::stamp::Stamper::new(&key));
    Ok((store, key))
}

async fn breach_command(command: BreachCommand, config: Config) -> anyhow::Result<()> {
    match command {
        BreachCommand::Start {
            title,
            message,
            dry_run,
        } => {
            let statement = match message {
                Some(m) => m,
                None => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                    text
                }
            };
            let app = open_app(config).await?;
            let preview = app.preview_breach(&title, &statement).await?;
            if dry_run {
                println!("Dry run: nothing was changed. Breach mode would:");
                println!("  pause every outbound channel;");
                println!(
                    "  pin \"{}\" on the status page and in banner.js;",
                    preview.title
                );
                println!("  send this statement despite the pause on:");
                for c in &preview.channels {
                    println!("    {}: {} recipients", c.channel, c.recipients);
                }
                println!("--- HTML ---\n{}", preview.html);
                println!("--- post on X ---\n{}", preview.x_text);
                return Ok(());
            }
            let breach = app.start_breach(&Actor::cli(), &title, &statement).await?;
            println!(
                "Breach mode is ON: outbound is paused, \"{}\" is pinned ({}/incidents/{}).",
                breach.title,
                app.config.public_url(),
                breach.incident_id
            );
            for c in &preview.channels {
                println!(
                    "  sending the statement on {}: {} recipients",
                    c.channel, c.recipients
                );
            }
            println!("`herald breach end` unpins it; outbound stays paused until `herald resume`.");
            Ok(())
        }
        BreachCommand::End => {
            let app = open_app(config).await?;
            match app.end_breach(&Actor::cli()).await? {
                Some(b) => {
                    println!("Breach mode ended: \"{}\" is no longer pinned.", b.title);
                    println!("Outbound stays PAUSED until `herald resume`.");
                }
                None => println!("Breach mode was not on; nothing changed."),
            }
            Ok(())
        }
    }
}

/// The application an instance runs, on the existing database and the key it records, so
/// a command acts through the same functions (screening, audit) as the pages and the API.
async fn open_app(config: Config) -> anyhow::Result<App> {
    let store = open_existing(&config).await?;
    cluster_key(&config, &store, KeyUse::Existing).await?;
    crate::startup::assemble(config, store).await
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let location = DatabaseLocation::of(&config.database_url())?;
    let app = Application::build(config).await?;
    let public_url = app.public_url();
    let staff = app.state().store.staff_count().await?;
    println!("Herald is running.");
    println!("  Database:     {location}");
    println!("  Status page:  {public_url}/");
    println!("  Admin:        {public_url}/admin");
    println!("  JSON API:     {public_url}/api/v2/summary.json");
    println!("  Banner:       <script src=\"{public_url}/banner.js\" async></script>");
    if staff == 0 {
        println!();
        println!("No staff yet. Create the first admin in another terminal:");
        println!("  cargo run --release -- staff add you@example.com --role admin");
        println!(
            "(or `herald staff add you@example.com --role admin`) and open the link it prints."
        );
        println!(
            "Have an authenticator app ready: your first sign-in sets up two-factor authentication."
        );
    }
    tracing::info!(url = %public_url, "listening");
    app.run_until_stopped().await
}

async fn x_command(command: XCommand, config: Config) -> anyhow::Result<()> {
    match command {
        XCommand::Connect => {
            // The key is checked first, so a wrong one stops the command before X is asked.
            let state = open_app(config).await?;
            let Some(x) = state.x.clone() else {
                anyhow::bail!(
                    "X is not configured: set HERALD_X_CONSUMER_KEY and HERALD_X_CONSUMER_SECRET"
                );
            };
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
            let mut lines = input.lines().map(str::trim).filter(|l| !l.is_empty());
            let (Some(token), Some(secret), None) = (lines.next(), lines.next(), lines.next())
            else {
                anyhow::bail!("expected two lines on stdin: the access token, then its secret");
            };
            let access = crate::channels::x::AccessToken {
                token: token.to_string(),
                secret: secret.to_string(),
            };
            let (user_id, username) = x
                .me(&access)
                .await
                .map_err(|e| anyhow::anyhow!("X did not accept the token: {e}"))?;
            let connected = crate::channels::x::Connected {
                access,
                user_id,
                username,
            };
            let account = state.connect_x(&Actor::cli(), connected).await?;
            println!("Connected @{} (token stored sealed).", account.username);
        }
        XCommand::Disconnect => {
            let cancelled = open_app(config).await?.disconnect_x(&Actor::cli()).await?;
            println!("X account disconnected; {cancelled} queued posts cancelled.");
        }
        XCommand::Status => {
            let store = open_existing(&config).await?;
            match store.x_account().await? {
                None => println!("X: not connected"),
                Some(a) => {
                    println!("X: @{} (connected by {})", a.username, a.connected_by);
                    if let Some(error) = a.refused_error {
                        println!("REFUSED by X, reconnect: {error}");
                    }
                    if let Some(until) = a.hold_until.filter(|u| *u > crate::domain::now()) {
                        println!("rate limited until {}", crate::domain::rfc3339(&until));
                    }
                    println!("queue: {} posts", store.x_queue_length().await?);
                }
            }
        }
    }
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    let location = DatabaseLocation::of(&config.database_url())?;
    let store = crate::startup::open_database(&config).await?;
    let state = crate::startup::assemble(config, store).await?;
    state.cache.spawn_rebuilder();
    crate::startup::spawn_delivery_worker(&state).await?;
    println!("Herald worker is running (deliveries and the maintenance schedule).");
    println!("database: {location}");
    crate::scheduler::spawn(state).await?;
    Ok(())
}
