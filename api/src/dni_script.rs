//! `GET /dni.js`: the Dynamic Number Insertion script a site embeds with
//! `<script src="https://HOST/dni.js" data-tag="TAGCODE" async></script>`.
//!
//! The script is `api/assets/dni.js`, hand-written and compiled into the
//! binary as it is (no build step). It finds its own origin from its `src`,
//! so the same file works behind any host name. Browsers may cache it for
//! five minutes: a fix reaches every site within that.

use axum::http::header;
use axum::response::IntoResponse;

/// The script, byte for byte.
const SCRIPT: &str = include_str!("../assets/dni.js");

/// Serves the script as JavaScript, cacheable by anyone for 300 s.
pub(crate) async fn serve() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
}

#[cfg(test)]
mod tests {
    use super::SCRIPT;

    #[test]
    fn the_script_stays_small() {
        // Every visitor of every customer site downloads it: keep it under 4 KiB.
        assert!(SCRIPT.len() < 4096, "dni.js is {} bytes", SCRIPT.len());
    }
}
