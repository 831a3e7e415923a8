//! `GET /dni.js` as a site's `<script src>` fetches it from the real server.
//! (What the script does in a browser is tests/browser/dni.test.mjs.)

use crate::common;

use common::TestServer;

#[tokio::test]
async fn the_script_is_served_as_cacheable_javascript() {
    let server = TestServer::start().await;
    let resp = server
        .client
        .get(format!("{}/dni.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("content-type"),
        "application/javascript; charset=utf-8"
    );
    assert_eq!(header("cache-control"), "public, max-age=300");
    let body = resp.text().await.unwrap();
    assert!(body.contains("/api/dni/track"), "calls the track endpoint");
    assert!(body.contains("data-tag"), "reads its tag code");
    assert!(body.len() < 4096, "dni.js is {} bytes", body.len());
}
