//! The admin's branding over the configuration: the page name, accent colour, header links,
//! footer text, logos and favicon. The page cache reads it (and its stamp) on every rebuild;
//! the emails take it from there.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::branding::BrandingColumns;
use crate::store::StoreError;

/// What one save changes. `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct BrandingChange {
    /// Text values: `Some("")` returns the value to the configuration's.
    pub page_name: Option<String>,
    pub accent_color: Option<String>,
    pub header_links: Option<String>,
    pub footer_text: Option<String>,
    pub logo: Option<FileChange>,
    pub logo_dark: Option<FileChange>,
    pub favicon: Option<FileChange>,
}

/// A new image, or back to the configuration's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Replace(Vec<u8>),
    Remove,
}

impl BrandingChange {
    /// Everything back to the configuration.
    pub fn reset() -> BrandingChange {
        BrandingChange {
            page_name: Some(String::new()),
            accent_color: Some(String::new()),
            header_links: Some(String::new()),
            footer_text: Some(String::new()),
            logo: Some(FileChange::Remove),
            logo_dark: Some(FileChange::Remove),
            favicon: Some(FileChange::Remove),
        }
    }

    /// `columns` with this change applied.
    fn apply(&self, mut columns: BrandingColumns) -> BrandingColumns {
        for (change, slot) in [
            (&self.page_name, &mut columns.page_name),
            (&self.accent_color, &mut columns.accent_color),
            (&self.header_links, &mut columns.header_links),
            (&self.footer_text, &mut columns.footer_text),
        ] {
            if let Some(value) = change {
                let value = value.trim();
                *slot = (!value.is_empty()).then(|| value.to_string());
            }
        }
        for (change, slot) in [
            (&self.logo, &mut columns.logo),
            (&self.logo_dark, &mut columns.logo_dark),
            (&self.favicon, &mut columns.favicon),
        ] {
            match change {
                Some(FileChange::Replace(bytes)) => *slot = Some(bytes.clone()),
                Some(FileChange::Remove) => *slot = None,
                None => {}
            }
        }
        columns
    }
}

/// The overrides as the audit log records them: text as set, images by size and hash.
fn audited(c: &BrandingColumns) -> serde_json::Value {
    let image = |b: &Option<Vec<u8>>| {
        b.as_ref().map(|b| {
            use sha2::Digest;
            json!({
                "bytes": b.len(),
                "sha256": hex::encode(sha2::Sha256::digest(b)),
            })
        })
    };
    json!({
        "page_name": c.page_name,
        "accent_color": c.accent_color,
        "header_links": c.header_links,
        "footer_text": c.footer_text,
        "logo": image(&c.logo),
        "logo_dark": image(&c.logo_dark),
        "favicon": image(&c.favicon),
    })
}

impl App {
    /// The admin's overrides now in force: a row Herald did not write counts as none.
    pub async fn branding_overrides(&self) -> AppResult<BrandingColumns> {
        Ok(self
            .store
            .branding()
            .await?
            .filter(|b| b.genuine)
            .map(|b| b.columns)
            .unwrap_or_default())
    }

    /// Saves a change to the branding: every value checked first (a bad one changes nothing),
    /// then stored stamped, audited as `branding.update`, and live on the public pages before
    /// this returns.
    pub async fn update_branding(
        &self,
        actor: &Actor,
        change: &BrandingChange,
    ) -> AppResult<BrandingColumns> {
        let before = self.branding_overrides().await?;
        let after = change.apply(before.clone());
        after.overrides().map_err(StoreError::Invalid)?;
        if after != before {
            self.store.save_branding(&after, &actor.name).await?;
            self.audit(
                actor,
                "branding.update",
                "branding",
                json!({ "old": audited(&before), "new": audited(&after) }),
            )
            .await;
            self.cache.refresh().await;
        }
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_clears_and_keeps_values() {
        let before = BrandingColumns {
            page_name: Some("Old".into()),
            footer_text: Some("kept".into()),
            logo: Some(vec![1]),
            ..Default::default()
        };
        let change = BrandingChange {
            page_name: Some(" New ".into()),
            accent_color: Some("#123456".into()),
            logo: Some(FileChange::Remove),
            ..Default::default()
        };
        let after = change.apply(before);
        assert_eq!(after.page_name.as_deref(), Some("New"));
        assert_eq!(after.accent_color.as_deref(), Some("#123456"));
        assert_eq!(after.footer_text.as_deref(), Some("kept"));
        assert_eq!(after.logo, None);
        assert!(BrandingChange::reset().apply(after).is_empty());
    }
}
