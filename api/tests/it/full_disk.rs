//! A disk that fills up (or an fsync that fails): the webhook gets 503,
//! nothing of its change is kept or acted on, and once the disk has room
//! again Twilio's retry is handled as if the failure never happened.

use crate::common;

use common::failing_disk::FailingDisk;
use common::*;
use switchboard_store::EmbeddedStore;

#[tokio::test]
async fn a_full_disk_gets_503_and_keeps_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FailingDisk::new(EmbeddedStore::open(dir.path()).unwrap());
    let s = TestServer::start_on(dir, disk.clone()).await;
    let p = priority(&s.engine).await;
    let first = s.call("CAdisk1", PRIORITY_NUMBER).await;
    assert!(first.is_dial(), "{first:?}");
    let first_id = first.call_id().unwrap();

    disk.fail(true);
    // A new call: 503, not recorded, and the buyer's slot it took is given back.
    let r = s.call("CAdisk2", PRIORITY_NUMBER).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("\"overloaded\""), "{}", r.body);
    assert!(s.store.get_call_by_sid("CAdisk2").await.unwrap().is_none());
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 1);
    // A final status callback: 503, and the call stays as it was stored.
    let done = ("completed", 3, Some(42));
    let r = s.status(first_id, 0, "CAleg1", "CAdisk1", done).await;
    assert_eq!(r.status, 503, "{r:?}");
    let stored = s.store.get_call(first_id).await.unwrap().unwrap();
    assert_eq!(stored.duration_seconds, 0, "{stored:?}");

    disk.fail(false);
    // Twilio's retries: the call is routed as a new one, the callback booked.
    let r = s.call("CAdisk2", PRIORITY_NUMBER).await;
    assert!(r.is_dial(), "{r:?}");
    assert!(s.store.get_call_by_sid("CAdisk2").await.unwrap().is_some());
    let r = s.status(first_id, 0, "CAleg1", "CAdisk1", done).await;
    assert_eq!(r.status, 204, "{r:?}");
    let stored = s.store.get_call(first_id).await.unwrap().unwrap();
    assert_eq!(stored.duration_seconds, 42, "{stored:?}");
    assert_eq!(s.engine.buyer_stats(p.acme.id).await.unwrap().active, 1);
    let check = s.store.check_projections(false).await.unwrap();
    assert_eq!((check.calls, check.differences.len()), (2, 0));
    s.stop().await;
}
