//! Component groups: rows of their own (stable ids across renames) over the name each member
//! carries in `components.group_name`. Every change moves the members' names in the same
//! transaction and re-stamps them, since a member's stamp covers its group's name.

use chrono::{DateTime, Utc};

use super::stamps::stamp_component;
use super::{on_pool, Store, StoreError, StoreResult};
use crate::domain::{self, FieldError, Invalid};

/// A group of components as the management API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Members, in display order.
    pub component_ids: Vec<i64>,
}

/// What to change in a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The complete new member list.
    pub component_ids: Option<Vec<i64>>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    name: String,
    description: String,
    position: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const GROUP_COLUMNS: &str =
    "SELECT id, name, description, position, created_at, updated_at FROM component_groups";

/// The id a group gets: `g` and 11 hex digits of the SHA-256 of the name it was created with,
/// the id `/api/v2` has always given a group of that name.
pub fn group_id_for(name: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("g{}", &hex::encode(Sha256::digest(name.as_bytes()))[..11])
}

impl Store {
    /// Every group, oldest first, with its members. Groups named by components but without a
    /// row yet (made before groups had rows, or by the component forms) get one here.
    pub async fn component_groups(&self) -> StoreResult<Vec<ComponentGroup>> {
        let now = domain::now();
        let (rows, members): (Vec<GroupRow>, Vec<(i64, String)>) = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT group_name FROM components WHERE group_name IS NOT NULL \
                 AND group_name NOT IN (SELECT name FROM component_groups) ORDER BY group_name",
            )
            .fetch_all(&mut *tx)
            .await?;
            for name in names {
                sqlx::query(
                    "INSERT INTO component_groups (id, name, description, position, created_at, updated_at) \
                     VALUES ($1, $2, '', 0, $3, $3) ON CONFLICT DO NOTHING",
                )
                .bind(group_id_for(&name))
                .bind(&name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let rows: Vec<GroupRow> = sqlx::query_as(&format!("{GROUP_COLUMNS} ORDER BY position, created_at, id"))
                .fetch_all(&mut *tx)
                .await?;
            let members: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, group_name FROM components WHERE group_name IS NOT NULL ORDER BY position, name, id",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (rows, members)
        });
        Ok(rows
            .into_iter()
            .map(|r| {
                let component_ids = members
                    .iter()
                    .filter(|(_, g)| *g == r.name)
                    .map(|(id, _)| *id)
                    .collect();
                group_from(r, component_ids)
            })
            .collect())
    }

    /// One group by id.
    pub async fn component_group(&self, id: &str) -> StoreResult<ComponentGroup> {
        self.component_groups()
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(StoreError::NotFound("component group"))
    }

    /// Creates a group and moves `component_ids` into it.
    pub async fn create_component_group(
        &self,
        name: &str,
        description: &str,
        component_ids: &[i64],
    ) -> StoreResult<ComponentGroup> {
        let now = domain::now();
        let id: String = on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            let taken: Option<String> = sqlx::query_scalar(
                "SELECT name FROM component_groups WHERE name = $1 \
                 UNION SELECT group_name FROM components WHERE group_name = $1",
            )
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                tx.rollback().await?;
                return Err(Invalid(vec![FieldError::new("name", "a group of this name already exists")]).into());
            }
            // A group renamed away from this name keeps the id it was created with; a new one
            // of that name takes the next free variant.
            let mut id = group_id_for(name);
            let mut n = 1;
            loop {
                let exists: Option<String> = sqlx::query_scalar("SELECT id FROM component_groups WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    break;
                }
                n += 1;
                id = group_id_for(&format!("{name}#{n}"));
            }
            let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) + 1 FROM component_groups")
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO component_groups (id, name, description, position, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&id)
            .bind(name)
            .bind(description)
            .bind(position)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for component in component_ids {
                let moved = sqlx::query("UPDATE components SET group_name = $1, updated_at = $2 WHERE id = $3")
                    .bind(name)
                    .bind(now)
                    .bind(component)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if moved == 0 {
                    tx.rollback().await?;
                    return Err(Invalid(vec![FieldError::new("components", format!("no component has id {component}"))]).into());
                }
                stamp_component!(self, tx, component);
            }
            tx.commit().await?;
            id
        });
        self.component_group(&id).await
    }

    /// Renames, re-describes or re-populates a group; members follow a rename.
    pub async fn update_component_group(
        &self,
        id: &str,
        change: &GroupChange,
    ) -> StoreResult<ComponentGroup> {
        // Make sure a group known only by its members' names has its row.
        let old = self.component_group(id).await?;
        let now = domain::now();
        let name = change.name.clone().unwrap_or_else(|| old.name.clone());
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            if name != old.name {
                let taken: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM component_groups WHERE name = $1 \
                     UNION SELECT group_name FROM components WHERE group_name = $1",
                )
                .bind(&name)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    return Err(Invalid(vec![FieldError::new("name", "a group of this name already exists")]).into());
                }
            }
            sqlx::query("UPDATE component_groups SET name = $1, description = $2, updated_at = $3 WHERE id = $4")
                .bind(&name)
                .bind(change.description.as_deref().unwrap_or(&old.description))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let members = change.component_ids.clone().unwrap_or_else(|| old.component_ids.clone());
            let mut touched: Vec<i64> = old.component_ids.clone();
            touched.extend(members.iter().copied());
            touched.sort_unstable();
            touched.dedup();
            for component in touched {
                let member = members.contains(&component);
                if !member {
                    sqlx::query("UPDATE components SET group_name = NULL, updated_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(component)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    let moved = sqlx::query("UPDATE components SET group_name = $1, updated_at = $2 WHERE id = $3")
                        .bind(&name)
                        .bind(now)
                        .bind(component)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if moved == 0 {
                        tx.rollback().await?;
                        return Err(Invalid(vec![FieldError::new("components", format!("no component has id {component}"))]).into());
                    }
                }
                stamp_component!(self, tx, component);
            }
            tx.commit().await?;
        });
        self.component_group(id).await
    }

    /// Deletes a group; its members stay, ungrouped. Returns the group as it was.
    pub async fn delete_component_group(&self, id: &str) -> StoreResult<ComponentGroup> {
        let old = self.component_group(id).await?;
        let now = domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            for component in &old.component_ids {
                sqlx::query("UPDATE components SET group_name = NULL, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(component)
                    .execute(&mut *tx)
                    .await?;
                stamp_component!(self, tx, component);
            }
            sqlx::query("DELETE FROM component_groups WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(old)
    }

    /// Group name → id for every group that has a row, for `/api/v2` to show the same ids.
    pub async fn component_group_ids(&self) -> StoreResult<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = on_pool!(self, read pool => sqlx::query_as(
            "SELECT name, id FROM component_groups",
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }
}

fn group_from(r: GroupRow, component_ids: Vec<i64>) -> ComponentGroup {
    ComponentGroup {
        id: r.id,
        name: r.name,
        description: r.description,
        position: r.position,
        created_at: r.created_at,
        updated_at: r.updated_at,
        component_ids,
    }
}
