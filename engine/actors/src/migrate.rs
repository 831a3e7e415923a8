//! Migrations of stored configuration documents, run once at start before
//! the configuration is loaded ([`Engine::start`](crate::Engine::start)).
//!
//! Each rewrites the documents still in an old shape, over the version it
//! read (the store's compare-and-set), so a second run (or a second node
//! running it at once) finds nothing left to do, and a document changed
//! meanwhile is left to whoever changed it. The model still reads the old
//! shapes, so a document this misses keeps loading.

use chrono::{DateTime, Utc};
use switchboard_model::event::EventKind;
use switchboard_model::{Id, Pixel, PixelStatus};
use switchboard_store::{Doc, DocKind, DocPages, Store, StoreError};

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

/// Takes a campaign's old `pixelUrl` ("fired on conversion") and
/// `webhookUrl` ("notified of call events") out of its body, as the pixels
/// that now do what they promised: a `converted` GET, and a POST of the
/// call's JSON on every event. Their ids follow from the campaign's, so a
/// second run makes the same ones. `None` when the body has neither
/// field (an empty one is taken out, and makes no pixel).
fn campaign_pixels(doc: &mut Doc, now: DateTime<Utc>) -> Option<Vec<Pixel>> {
    let m = doc.body.as_object_mut()?;
    if !m.contains_key("pixelUrl") && !m.contains_key("webhookUrl") {
        return None;
    }
    let name = m
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("campaign")
        .to_owned();
    let mut pixels = Vec::new();
    for field in ["pixelUrl", "webhookUrl"] {
        let Some(url) = m.remove(field) else { continue };
        let Some(url) = url.as_str().map(str::trim).filter(|u| !u.is_empty()) else {
            continue;
        };
        let webhook = field == "webhookUrl";
        let mut p: Pixel = match serde_json::from_value(serde_json::json!({
            "name": if webhook { format!("{name}: webhook") } else { format!("{name}: conversion pixel") },
            "events": if webhook { EventKind::ALL.to_vec() } else { vec![EventKind::Converted] },
            "url": url,
            "method": if webhook { "POST" } else { "GET" },
            // Every event of a call, not just its first.
            "maxFires": if webhook { 100 } else { 1 },
        })) {
            Ok(p) => p,
            Err(_) => continue,
        };
        p.id = Id::new_v5(&doc.id, field.as_bytes());
        (p.tenant_id, p.created_at, p.campaign_ids) = (doc.tenant, now, vec![doc.id]);
        // A URL that was never a template (braces that name no token) is
        // kept, paused, for its owner to mend, rather than dropped.
        if p.validate().is_err() || !switchboard_pixels::check(&p, true).is_empty() {
            p.status = PixelStatus::Paused;
        }
        pixels.push(p);
    }
    Some(pixels)
}

/// Runs every migration; returns how many documents it rewrote.
pub(crate) async fn run(store: &dyn Store) -> Result<usize> {
    let mut rewritten = buyers(store).await?;
    rewritten += campaigns(store).await?;
    Ok(rewritten)
}

/// Writes `doc` over version `expected` (`None`: it must not exist);
/// `false` when the store holds another version: changed since it was
/// read, by a writer that wrote the new shape.
async fn put_unless_changed(store: &dyn Store, doc: Doc, expected: Option<u64>) -> Result<bool> {
    match store.put_doc(doc, expected).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn campaigns(store: &dyn Store) -> Result<usize> {
    let mut rewritten = 0;
    let now = Utc::now();
    let mut pages = DocPages::new(store, DocKind::Campaign, None, PAGE);
    while let Some(docs) = pages.next_page().await? {
        for mut doc in docs {
            let Some(pixels) = campaign_pixels(&mut doc, now) else {
                continue;
            };
            for p in &pixels {
                // Refused if made by an earlier run that stopped before the campaign.
                put_unless_changed(store, crate::config::doc_of(p)?, None).await?;
            }
            let expected = doc.version;
            if put_unless_changed(store, doc, Some(expected)).await? {
                rewritten += 1;
            }
        }
    }
    if rewritten > 0 {
        tracing::info!(
            rewritten,
            "migrated stored campaigns: pixelUrl and webhookUrl are now pixels (/api/pixels)"
        );
    }
    Ok(rewritten)
}

async fn buyers(store: &dyn Store) -> Result<usize> {
    let mut rewritten = 0;
    let mut pages = DocPages::new(store, DocKind::Buyer, None, PAGE);
    while let Some(docs) = pages.next_page().await? {
        for mut doc in docs {
            if !buyer_revenue(&mut doc.body) {
                continue;
            }
            let expected = doc.version;
            if put_unless_changed(store, doc, Some(expected)).await? {
                rewritten += 1;
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
    #[tokio::test]
    async fn a_campaigns_pixel_and_webhook_urls_become_pixels_once() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let (tenant, id) = (new_id(), new_id());
        let body = json!({"id": id, "tenantId": tenant, "name": "Solar", "status": "active",
            "pixelUrl": "https://track.example/pb?click={tag:clickId}&amount={revenue}",
            "webhookUrl": "https://crm.example/hook"});
        let doc = Doc {
            kind: DocKind::Campaign,
            tenant,
            id,
            version: 0,
            body,
        };
        store.put_doc(doc, None).await.unwrap();

        assert_eq!(run(store.as_ref()).await.unwrap(), 1);
        let campaign = store
            .get_doc(DocKind::Campaign, tenant, id)
            .await
            .unwrap()
            .unwrap();
        let c = switchboard_model::Campaign::decode(&campaign)
            .expect("the campaign loads without the old fields");
        assert_eq!(c.name, "Solar");
        let mut pixels: Vec<Pixel> = store
            .list_docs(DocKind::Pixel, Some(tenant))
            .await
            .unwrap()
            .iter()
            .map(|d| Pixel::decode(d).unwrap())
            .collect();
        pixels.sort_by(|a, b| a.name.cmp(&b.name));
        let [pixel, webhook] = &pixels[..] else {
            panic!("two pixels: {pixels:?}")
        };
        assert_eq!(
            (
                pixel.events.as_slice(),
                pixel.method,
                pixel.status,
                pixel.max_fires
            ),
            (
                &[EventKind::Converted][..],
                switchboard_model::pixel::PixelMethod::Get,
                PixelStatus::Active,
                1
            )
        );
        assert_eq!(
            pixel.url,
            "https://track.example/pb?click={tag:clickId}&amount={revenue}"
        );
        assert_eq!(pixel.campaign_ids, [id]);
        assert_eq!(webhook.events, EventKind::ALL);
        assert_eq!(
            (webhook.method, webhook.body.as_deref()),
            (switchboard_model::pixel::PixelMethod::Post, None)
        );
        assert_eq!(webhook.url, "https://crm.example/hook");

        assert_eq!(run(store.as_ref()).await.unwrap(), 0, "once");
        assert_eq!(
            store
                .list_docs(DocKind::Pixel, Some(tenant))
                .await
                .unwrap()
                .len(),
            2
        );
    }

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
