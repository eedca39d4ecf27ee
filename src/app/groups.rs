//! Component groups: create, change and delete, each moving its members in one transaction.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::store::{ComponentGroup, GroupChange};

impl App {
    pub async fn create_component_group(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
        component_ids: &[i64],
    ) -> AppResult<ComponentGroup> {
        let group = self
            .store
            .create_component_group(name, description, component_ids)
            .await?;
        self.changed().await;
        self.audit(
            actor,
            "component_group.create",
            &format!("component_group:{}", group.id),
            json!({ "name": group.name, "components": group.component_ids }),
        )
        .await;
        Ok(group)
    }

    pub async fn update_component_group(
        &self,
        actor: &Actor,
        id: &str,
        change: &GroupChange,
    ) -> AppResult<ComponentGroup> {
        let old = self.store.component_group(id).await?;
        let group = self.store.update_component_group(id, change).await?;
        self.changed().await;
        self.audit(
            actor,
            "component_group.update",
            &format!("component_group:{id}"),
            json!({
                "old": { "name": old.name, "description": old.description, "components": old.component_ids },
                "new": { "name": group.name, "description": group.description, "components": group.component_ids },
            }),
        )
        .await;
        Ok(group)
    }

    pub async fn delete_component_group(
        &self,
        actor: &Actor,
        id: &str,
    ) -> AppResult<ComponentGroup> {
        let group = self.store.delete_component_group(id).await?;
        self.changed().await;
        self.audit(
            actor,
            "component_group.delete",
            &format!("component_group:{id}"),
            json!({ "name": group.name, "components": group.component_ids }),
        )
        .await;
        Ok(group)
    }
}
