//! Fan-out: the kill switch, the composer of messages, and the worker that drains the outbox.

pub mod compose;
pub mod fanout;
pub mod outbox;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::security::tripwire::{Rule, Trip, TripLine};
use crate::store::{OutboundState, Store, StoreError, StoreResult};

pub use crate::security::tripwire::TripWire;

/// How often an instance re-reads the kill switch to wake its idle workers after a resume made
/// elsewhere. Nothing depends on it for safety: every claim reads the stored switch in the same
/// statement, and every send reads it again just before (`Notifier::may_send`). On PostgreSQL
/// every instance also hears each flip at once (`cluster`).
const SWITCH_POLL: Duration = Duration::from_millis(250);

/// How old a reading of the stored switch may be and still answer a send (see `may_send`).
const SWITCH_FRESH: Duration = Duration::from_millis(20);

/// The kill switch as this instance last read it, and the worker's doorbell, shared by the web
/// handlers and the workers. The stored row is the switch; this is a cache that wakes workers.
pub struct Notifier {
    paused: watch::Sender<bool>,
    /// Rung on every new delivery or fan-out; every loop holds its own receiver, so no ring is
    /// lost while a loop is busy and every loop hears each one.
    bell: watch::Sender<u64>,
    /// The last reading of the stored switch, shared by concurrent sends (see `may_send`).
    reading: tokio::sync::Mutex<Option<Reading>>,
    /// The highest serial of a genuine state seen: an older one written back is a replay.
    highest_serial: AtomicI64,
    /// How a forged switch trips the wire (set once at start; tests may leave it unset).
    wire: OnceLock<TripLine>,
    /// This process's name in the `instances` table and on the claims it holds.
    instance: String,
    /// Set when this process's key is no longer the cluster's: it sends nothing more.
    fenced: std::sync::atomic::AtomicBool,
}

/// One read of the stored switch.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// When the read began: it answers the sends that ask up to `SWITCH_FRESH` after.
    began: Instant,
    verdict: Verdict,
}

/// What the stored switch says about sending right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Paused by hand: nothing goes out but an open breach's statement.
    Paused,
    /// Paused by the tripwire, or this process is fenced: nothing goes out at all.
    Held,
    /// The stored state is not one Herald wrote (no valid stamp, or an older serial than one
    /// already seen): nothing goes out, and the caller trips the wire.
    Forged,
}

impl Notifier {
    pub fn new(paused: bool) -> Arc<Notifier> {
        Arc::new(Notifier {
            paused: watch::channel(paused).0,
            bell: watch::channel(0).0,
            reading: tokio::sync::Mutex::new(None),
            highest_serial: AtomicI64::new(0),
            wire: OnceLock::new(),
            fenced: std::sync::atomic::AtomicBool::new(false),
            instance: format!(
                "{}-{}",
                std::process::id(),
                crate::security::secret::generate("")
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(10)
                    .collect::<String>()
            ),
        })
    }

    /// Reads the stored switch; call once at start.
    pub async fn load(store: &Store) -> StoreResult<Arc<Notifier>> {
        let notifier = Notifier::new(true);
        notifier.judge(&store.outbound_state().await?);
        Ok(notifier)
    }

    /// Stops this process sending anything, for good (see `cluster::KeyWatch`).
    pub fn fence(&self) {
        self.fenced.store(true, Ordering::SeqCst);
        self.set_paused(true);
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::SeqCst)
    }

    /// This process's instance id: its heartbeat row and the name on its claims.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Lets a forged switch trip the wire (`AppState::trip`).
    pub fn arm(&self, wire: TripLine) {
        let _ = self.wire.set(wire);
    }

    /// The serial the next genuine state must carry at least, so it outranks any replay.
    fn next_serial(&self) -> i64 {
        self.highest_serial.load(Ordering::SeqCst) + 1
    }

    /// Reads the stored switch, and trips the wire if Herald did not write it.
    async fn read(&self, store: &Store) -> StoreResult<Verdict> {
        let state = store.outbound_state().await?;
        let verdict = self.judge(&state);
        if verdict == Verdict::Forged {
            let detail =
                format!(
                "the kill switch's stored state (serial {}, paused {}) was not written by Herald{}",
                state.serial,
                state.paused,
                if state.genuine { ": an older state was written back" } else { "" }
            );
            tracing::error!(%detail, "outbound held: the kill switch was changed outside Herald");
            if let Some(wire) = self.wire.get() {
                wire.trip(Trip {
                    rule: Rule::Forged,
                    detail,
                })
                .await;
            }
        }
        Ok(verdict)
    }

    /// Something Herald did not write was about to make it speak: trip the wire.
    pub async fn report_forged(&self, detail: String) {
        tracing::error!(%detail, "refusing outbound work Herald did not write");
        if let Some(wire) = self.wire.get() {
            wire.trip(Trip {
                rule: Rule::Forged,
                detail,
            })
            .await;
        }
    }

    /// This instance's last reading; for display and waking only, never for a decision to send.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    pub fn watch_paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    fn set_paused(&self, paused: bool) {
        self.paused
            .send_if_modified(|p| std::mem::replace(p, paused) != paused);
        if !paused {
            self.wake();
        }
    }

    /// What a stored state means for sending, remembering its serial and updating the cache.
    fn judge(&self, state: &OutboundState) -> Verdict {
        if self.is_fenced() {
            return Verdict::Held;
        }
        let replayed = state.serial < self.highest_serial.load(Ordering::SeqCst);
        let verdict = if !state.genuine || replayed {
            Verdict::Forged
        } else if state.paused && !state.tripped_rule.is_empty() {
            Verdict::Held
        } else if state.paused {
            Verdict::Paused
        } else {
            Verdict::Send
        };
        if verdict != Verdict::Forged {
            self.highest_serial
                .fetch_max(state.serial, Ordering::SeqCst);
        }
        self.set_paused(verdict != Verdict::Send);
        verdict
    }

    /// Reads the stored switch right before a send. Sends share a read that began at most
    /// `SWITCH_FRESH` before they asked, so a pause committed that long before a send asks
    /// always stops it, and the database sees at most one read per `SWITCH_FRESH` however fast
    /// mail goes out.
    pub async fn may_send(&self, store: &Store) -> StoreResult<Verdict> {
        if self.is_fenced() {
            return Ok(Verdict::Held);
        }
        let asked = Instant::now();
        let mut last = self.reading.lock().await;
        if let Some(reading) = *last {
            if reading.began + SWITCH_FRESH >= asked {
                return Ok(reading.verdict);
            }
        }
        let began = Instant::now();
        let verdict = self.read(store).await?;
        *last = Some(Reading { began, verdict });
        Ok(verdict)
    }

    /// Stops every outbound channel before its next send; queued deliveries stay queued.
    pub async fn pause(&self, store: &Store, reason: &str, by: &str) -> StoreResult<OutboundState> {
        let state = store
            .write_outbound(true, reason, by, None, self.next_serial())
            .await?;
        self.judge(&state);
        tracing::warn!(reason, by, "outbound sending paused");
        Ok(state)
    }

    /// Pauses by hand for breach mode: like `pause`, but it also replaces a tripwire's pause
    /// (writing `tripped_rule = ''`), because only a pause made by hand lets the breach
    /// statement through, and the admin starting breach mode has just given a fresh code.
    pub async fn pause_for_breach(
        &self,
        store: &Store,
        reason: &str,
        by: &str,
    ) -> StoreResult<OutboundState> {
        let state = store
            .write_outbound(true, reason, by, Some(""), self.next_serial())
            .await?;
        self.judge(&state);
        tracing::warn!(reason, by, "outbound sending paused for breach mode");
        Ok(state)
    }

    /// Pauses because a tripwire rule tripped.
    pub async fn trip(
        &self,
        store: &Store,
        rule: &str,
        reason: &str,
    ) -> StoreResult<OutboundState> {
        let state = store
            .write_outbound(true, reason, "tripwire", Some(rule), self.next_serial())
            .await?;
        self.judge(&state);
        tracing::warn!(rule, reason, "outbound sending paused by the tripwire");
        Ok(state)
    }

    /// Lets the queue drain again from where it stopped.
    pub async fn resume(&self, store: &Store, by: &str) -> StoreResult<OutboundState> {
        let state = store
            .write_outbound(false, "", by, None, self.next_serial())
            .await?;
        self.judge(&state);
        tracing::warn!(by, "outbound sending resumed");
        Ok(state)
    }

    /// Tells the workers new deliveries are waiting.
    pub fn wake(&self) {
        self.bell.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver whose `changed()` completes at the next `wake` after the last one it saw.
    pub fn doorbell(&self) -> watch::Receiver<u64> {
        self.bell.subscribe()
    }

    /// Re-reads the stored switch (a pause or resume made elsewhere).
    pub async fn reload(&self, store: &Store) {
        match self.read(store).await {
            Ok(_) => {}
            // Shutting down: the store closed before this task ended.
            Err(StoreError::Database(sqlx::Error::PoolClosed)) => {
                tracing::debug!("the store is closed; the kill switch is no longer re-read")
            }
            Err(e) => tracing::warn!(error = %e, "reading the kill switch failed"),
        }
    }

    /// Keeps this instance's copy of the switch in step with the database.
    pub fn spawn_sync(self: &Arc<Self>, store: Store) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWITCH_POLL).await;
                this.reload(&store).await;
            }
        })
    }
}
