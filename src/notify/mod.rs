//! Fan-out: the kill switch, the composer of messages, and the worker that drains the outbox.

pub mod compose;
pub mod fanout;
pub mod worker;
pub mod x;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::security::tripwire::Trip;
use crate::store::{OutboundState, Store, StoreResult};

/// How a worker trips the wire by itself (the web layer's `AppState::trip`, which pauses
/// outbound, alerts the admins and writes the audit entry): used when a message about to go
/// out turns out not to be one Herald wrote.
pub type TripWire = Arc<
    dyn Fn(Trip) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync,
>;

/// How often an instance re-reads the kill switch, to hear a pause made elsewhere (the CLI,
/// another instance) before its next send. On PostgreSQL every instance also hears each flip at
/// once (`cluster`); the poll stays as the safety net for a listener that is reconnecting.
const SWITCH_POLL: Duration = Duration::from_millis(250);

/// The kill switch and the worker's doorbell, shared by the web handlers and the worker.
pub struct Notifier {
    paused: watch::Sender<bool>,
    /// Rung on every new delivery or fan-out; every loop holds its own receiver, so no ring is
    /// lost while a loop is busy and every loop hears each one.
    bell: watch::Sender<u64>,
}

impl Notifier {
    pub fn new(paused: bool) -> Arc<Notifier> {
        Arc::new(Notifier {
            paused: watch::channel(paused).0,
            bell: watch::channel(0).0,
        })
    }

    /// Reads the stored switch; call once at start.
    pub async fn load(store: &Store) -> StoreResult<Arc<Notifier>> {
        Ok(Notifier::new(store.outbound_state().await?.paused))
    }

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

    /// Stops every outbound channel before its next send; queued deliveries stay queued.
    pub async fn pause(&self, store: &Store, reason: &str, by: &str) -> StoreResult<OutboundState> {
        // The database first: the sync loop then never reads a stale "not paused" back.
        let state = store.set_outbound_paused(true, reason, by).await?;
        self.set_paused(true);
        tracing::warn!(reason, by, "outbound sending paused");
        Ok(state)
    }

    /// Lets the queue drain again from where it stopped.
    pub async fn resume(&self, store: &Store, by: &str) -> StoreResult<OutboundState> {
        let state = store.set_outbound_paused(false, "", by).await?;
        self.set_paused(false);
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
        match store.outbound_state().await {
            Ok(state) => self.set_paused(state.paused),
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
