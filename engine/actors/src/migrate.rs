//! Migrations of stored configuration documents, run once at start before
//! the configuration is loaded ([`Engine::start`](crate::Engine::start)).
//!
//! Each rewrites the documents still in an old shape, over the version it
//! read (the store's compare-and-set), so a second run (or a second node
//! running it at once) finds nothing left to do, and a document changed
//! meanwhile is left to whoever changed it. The model still reads the old
//! shapes, so a document this misses keeps loading.

use switchboard_store::{DocKind, DocPages, Store, StoreError};

use crate::Result;

/// Documents read per page.
const PAGE: usize = 500;

/// Renames a buyer's `payout` (what it pays per converted call) to
/// `revenue`. `false` when the body has no `payout` to rename.
fn buyer_revenue(body: &mut serde_json::Value) -> bool {
    let Some(m) = body.as_object_mut() else {
        return false;
    };
    match m.remove("payout") {
        Some(v) => {
            m.entry("revenue").or_insert(v);
            true
        }
        None => false,
    }
}

/// Runs every migration; returns how many documents it rewrote.
pub(crate) async fn run(store: &dyn Store) -> Result<usize> {
    let mut rewritten = 0;
    let mut pages = DocPages::new(store, DocKind::Buyer, None, PAGE);
    while let Some(docs) = pages.next_page().await? {
        for mut doc in docs {
            if !buyer_revenue(&mut doc.body) {
                continue;
            }
            let expected = doc.version;
            match store.put_doc(doc, Some(expected)).await {
                Ok(_) => rewritten += 1,
                // Changed since it was read: its writer wrote the new shape.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if rewritten > 0 {
        tracing::info!(rewritten, "migrated stored buyers: payout is now revenue");
    }
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use switchboard_model::{Buyer, new_id};
    use switchboard_store::{ConfigKind, Doc, EmbeddedStore};

    use super::*;

    #[test]
    fn payout_becomes_revenue_and_a_new_body_is_left_alone() {
        let mut old = json!({"name": "Acme", "payout": 25.5});
        assert!(buyer_revenue(&mut old));
        assert_eq!(old, json!({"name": "Acme", "revenue": 25.5}));
        assert!(!buyer_revenue(&mut old), "once");
    }

    #[tokio::test]
    async fn stored_buyers_are_rewritten_once_and_read_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let (tenant, id) = (new_id(), new_id());
        let body = json!({"id": id, "tenantId": tenant, "name": "Acme", "phoneNumber": "+15550002001",
            "timezone": "America/New_York", "conversionSeconds": 60, "payout": 25.5, "currency": "USD"});
        // Stored before the rename, it still reads.
        let read = Buyer::decode(&Doc {
            kind: DocKind::Buyer,
            tenant,
            id,
            version: 1,
            body: body.clone(),
        })
        .unwrap();
        assert_eq!(read.revenue, 2550);
        store
            .put_doc(
                Doc {
                    kind: DocKind::Buyer,
                    tenant,
                    id,
                    version: 0,
                    body,
                },
                None,
            )
            .await
            .unwrap();

        assert_eq!(run(store.as_ref()).await.unwrap(), 1);
        let doc = store
            .get_doc(DocKind::Buyer, tenant, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (doc.body.get("payout"), &doc.body["revenue"], doc.version),
            (None, &json!(25.5), 2)
        );
        assert_eq!(Buyer::decode(&doc).unwrap().revenue, 2550);
        assert_eq!(run(store.as_ref()).await.unwrap(), 0, "nothing left to do");
    }
}
