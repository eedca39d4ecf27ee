//! The admin's branding overrides: one stamped row (`branding`), absent until an admin saves.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreResult};
use crate::domain::branding::BrandingColumns;
use crate::security::stamp::{BrandingText, Stamper};

/// The branding row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct BrandingRow {
    page_name: Option<String>,
    accent_color: Option<String>,
    header_links: Option<String>,
    footer_text: Option<String>,
    logo: Option<Vec<u8>>,
    logo_dark: Option<Vec<u8>>,
    favicon: Option<Vec<u8>>,
    updated_at: DateTime<Utc>,
    updated_by: String,
    pub(crate) stamp: Option<String>,
}

impl BrandingRow {
    pub(crate) fn text(&self) -> BrandingText<'_> {
        BrandingText {
            page_name: self.page_name.as_deref(),
            accent_color: self.accent_color.as_deref(),
            header_links: self.header_links.as_deref(),
            footer_text: self.footer_text.as_deref(),
            logo: self.logo.as_deref(),
            logo_dark: self.logo_dark.as_deref(),
            favicon: self.favicon.as_deref(),
            updated_at_micros: self.updated_at.timestamp_micros(),
        }
    }
}

pub(crate) const BRANDING_COLUMNS: &str =
    "SELECT page_name, accent_color, header_links, footer_text, logo, logo_dark, favicon, \
     updated_at, updated_by, stamp FROM branding WHERE id = 1";

/// The stored overrides and whether Herald wrote them.
#[derive(Debug, Clone)]
pub struct StoredBranding {
    pub columns: BrandingColumns,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// The stamp verifies (always true without a stamper). A row that fails it was written or
    /// edited outside Herald and must not be shown.
    pub genuine: bool,
}

impl Store {
    /// The admin's branding overrides, if any were saved.
    pub async fn branding(&self) -> StoreResult<Option<StoredBranding>> {
        let row: Option<BrandingRow> = on_pool!(self, read pool => sqlx::query_as(BRANDING_COLUMNS)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|row| {
            let genuine = self
                .stamper()
                .is_none_or(|s| Stamper::verify(&s.branding(&row.text()), row.stamp.as_deref()));
            StoredBranding {
                columns: BrandingColumns {
                    page_name: row.page_name,
                    accent_color: row.accent_color,
                    header_links: row.header_links,
                    footer_text: row.footer_text,
                    logo: row.logo,
                    logo_dark: row.logo_dark,
                    favicon: row.favicon,
                },
                updated_at: row.updated_at,
                updated_by: row.updated_by,
                genuine,
            }
        }))
    }

    /// Replaces the overrides with `columns`, stamped; all empty removes the row (the
    /// configuration applies again). One transaction.
    pub async fn save_branding(&self, columns: &BrandingColumns, by: &str) -> StoreResult<()> {
        let now = crate::domain::now();
        on_pool!(self, write pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM branding").execute(&mut *tx).await?;
            if !columns.is_empty() {
                let row = BrandingRow {
                    page_name: columns.page_name.clone(),
                    accent_color: columns.accent_color.clone(),
                    header_links: columns.header_links.clone(),
                    footer_text: columns.footer_text.clone(),
                    logo: columns.logo.clone(),
                    logo_dark: columns.logo_dark.clone(),
                    favicon: columns.favicon.clone(),
                    updated_at: now,
                    updated_by: by.to_string(),
                    stamp: None,
                };
                sqlx::query(
                    "INSERT INTO branding (id, page_name, accent_color, header_links, footer_text, \
                     logo, logo_dark, favicon, updated_at, updated_by, stamp) \
                     VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&row.page_name)
                .bind(&row.accent_color)
                .bind(&row.header_links)
                .bind(&row.footer_text)
                .bind(&row.logo)
                .bind(&row.logo_dark)
                .bind(&row.favicon)
                .bind(row.updated_at)
                .bind(&row.updated_by)
                .bind(self.stamper().map(|s| s.branding(&row.text())))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<(), super::StoreError>(())
        })
    }
}
