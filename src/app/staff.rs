//! Staff and API token changes. Each is a privileged act: screened by the tripwire's
//! new-source rule, then stored and audited. Who may ask (the admin role, a fresh code on the
//! pages) is checked by the surface before it calls.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::{Choice, Role, StaffEmail};
use crate::store::{ApiTokenInfo, NewStaff, Staff};

impl App {
    /// Adds a member, who sets a password through the one-time enrolment link returned.
    pub async fn add_staff(
        &self,
        actor: &Actor,
        email: &StaffEmail,
        role: Role,
    ) -> AppResult<NewStaff> {
        self.screen_privileged(actor, "adding staff").await?;
        let added = self.store.add_staff(email, role).await?;
        self.audit(
            actor,
            "staff.add",
            &format!("staff:{}", added.staff.email),
            json!({ "role": role.as_str() }),
        )
        .await;
        Ok(added)
    }

    /// Changes a member's role; their tokens are narrowed with it.
    pub async fn change_role(&self, actor: &Actor, id: i64, role: Role) -> AppResult<Staff> {
        self.screen_privileged(actor, "changing a role").await?;
        let before = self.store.staff_member(id).await?;
        let (after, tokens) = self.store.set_staff_role(id, role).await?;
        self.audit(
            actor,
            "staff.role",
            &format!("staff:{}", after.email),
            json!({ "from": before.role.as_str(), "to": after.role.as_str(), "tokens": tokens }),
        )
        .await;
        Ok(after)
    }

    /// Disables a member; their tokens stop with them.
    pub async fn disable_staff(&self, actor: &Actor, id: i64) -> AppResult<Staff> {
        self.screen_privileged(actor, "disabling staff").await?;
        let (staff, tokens) = self.store.disable_staff(id).await?;
        self.audit(
            actor,
            "staff.disable",
            &format!("staff:{}", staff.email),
            json!({ "tokens": tokens }),
        )
        .await;
        Ok(staff)
    }

    /// For a lost phone: the member sets up a new authenticator at their next sign-in.
    pub async fn reset_two_factor(&self, actor: &Actor, id: i64) -> AppResult<Staff> {
        self.screen_privileged(actor, "resetting two-factor")
            .await?;
        let staff = self.store.staff_member(id).await?;
        self.store.reset_totp(id).await?;
        self.audit(
            actor,
            "2fa.reset",
            &format!("staff:{}", staff.email),
            json!({}),
        )
        .await;
        Ok(staff)
    }

    /// Signs a member out of every session; returns how many ended.
    pub async fn end_sessions(&self, actor: &Actor, id: i64) -> AppResult<u64> {
        self.screen_privileged(actor, "ending sessions").await?;
        let staff = self.store.staff_member(id).await?;
        let ended = self.store.end_all_sessions(id).await?;
        self.audit(
            actor,
            "session.sign_out_everywhere",
            &format!("staff:{}", staff.email),
            json!({ "sessions": ended }),
        )
        .await;
        Ok(ended)
    }

    /// Creates an API token and returns its secret, shown once. `maker` is the staff member
    /// who made it (the token never outranks them and stops with them); `None` for the CLI.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        role: Role,
        maker: Option<i64>,
    ) -> AppResult<(ApiTokenInfo, String)> {
        self.screen_privileged(actor, "creating an API token")
            .await?;
        let (info, secret) = match maker {
            Some(staff_id) => {
                self.store
                    .create_staff_api_token(name, role, staff_id, &actor.name)
                    .await?
            }
            None => self.store.create_api_token(name, role, &actor.name).await?,
        };
        self.audit(
            actor,
            "token.create",
            &format!("token:{}", info.name),
            json!({ "role": role.as_str(), "id": info.id }),
        )
        .await;
        Ok((info, secret))
    }

    /// Revokes a token. Taking access away is always safe, so it is not screened.
    pub async fn revoke_token(&self, actor: &Actor, id: i64) -> AppResult<ApiTokenInfo> {
        let info = self.store.revoke_api_token(id).await?;
        self.audit(
            actor,
            "token.revoke",
            &format!("token:{}", info.name),
            json!({ "id": id }),
        )
        .await;
        Ok(info)
    }
}
