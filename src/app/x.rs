//! The connected X account: connecting (the token kept sealed) and disconnecting.

use serde_json::json;

use super::{Actor, App, AppError, AppResult};
use crate::channels::x::Connected;
use crate::security::seal::purpose::{X_SECRET as SECRET_PURPOSE, X_TOKEN as TOKEN_PURPOSE};
use crate::store::XAccount;

impl App {
    /// Stores the account X confirmed, its token sealed; posts queued for X go out.
    pub async fn connect_x(&self, actor: &Actor, connected: Connected) -> AppResult<XAccount> {
        let seal = |purpose, value: &str| {
            self.sealer
                .seal(purpose, value)
                .map_err(|e| AppError::Internal(e.into()))
        };
        let account = self
            .store
            .connect_x(
                &connected.user_id,
                &connected.username,
                &seal(TOKEN_PURPOSE, &connected.access.token)?,
                &seal(SECRET_PURPOSE, &connected.access.secret)?,
                &actor.name,
            )
            .await?;
        tracing::warn!(username = %account.username, by = %actor.name, "X account connected");
        self.notifier.wake();
        self.audit(
            actor,
            "x.connect",
            &format!("x:@{}", account.username),
            json!({ "user_id": account.user_id }),
        )
        .await;
        Ok(account)
    }

    /// Forgets the account; returns how many posts queued for it were cancelled.
    pub async fn disconnect_x(&self, actor: &Actor) -> AppResult<u64> {
        let cancelled = self.store.disconnect_x().await?;
        tracing::warn!(by = %actor.name, cancelled, "X account disconnected");
        self.audit(
            actor,
            "x.disconnect",
            "x",
            json!({ "cancelled_posts": cancelled }),
        )
        .await;
        Ok(cancelled)
    }
}
