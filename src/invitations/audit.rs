//! Reading the audit trail the store keeps: one filtered page at a time, or every row about some
//! people. Written by send and cancel (see `mutation`); read here for holders of `audit.read`.

use super::Invitations;
use super::batch::EmailBatch;
use super::durable::StoreUnavailable;
pub use crate::store::{
    AuditCursor, AuditEvent, AuditFilter, AuditListing, AuditSearch, SEARCH_LIMIT,
};

/// Most rows one page of the audit listing may hold.
pub const MAX_AUDIT_PAGE_SIZE: u32 = 500;

/// Rows per page when the caller does not say.
pub const DEFAULT_AUDIT_PAGE_SIZE: u32 = 100;

impl Invitations {
    /// One page of the audit trail matching `filter`, newest first, at most `page_size` rows
    /// (1 to [`MAX_AUDIT_PAGE_SIZE`]), resuming after `cursor`.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        page_size: u32,
        cursor: Option<AuditCursor>,
    ) -> Result<AuditListing, StoreUnavailable> {
        let page_size = page_size.clamp(1, MAX_AUDIT_PAGE_SIZE);
        self.durable
            .call(|s| s.list_audit(filter, page_size, cursor))
            .await
    }

    /// Every audit row about the valid addresses of `batch` (compared as stored: normalised),
    /// newest first, at most [`SEARCH_LIMIT`]. Invalid addresses can have no row and are skipped.
    pub async fn search_audit(&self, batch: &EmailBatch) -> Result<AuditSearch, StoreUnavailable> {
        let emails: Vec<String> = batch
            .entries()
            .iter()
            .filter_map(|entry| entry.parsed().as_ref().ok().map(ToString::to_string))
            .collect();
        self.durable.call(|s| s.search_audit(&emails)).await
    }
}
