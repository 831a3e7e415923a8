//! The admin console: the React app in `admin-ui/`, built by `npm run build`
//! into `admin-ui/dist`. Its files are read once at start and served from
//! memory: `index.html` at `/`, the rest under their own paths (Vite puts
//! the hashed bundles in `/assets/`). Only names read at start exist, so no
//! request path ever reaches the disk. The app routes with `#/…`, so the
//! server needs no fallback to `index.html`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Files larger than this are not part of a console build; refusing them
/// keeps a wrong `--console-dir` from filling memory.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Where `serve` looks when `--console-dir` is not given.
pub const DEFAULT_DIR: &str = "admin-ui/dist";

/// What the app may load: its own scripts and styles, and its own API.
/// The Vite build has no inline script or style (React sets `style` through
/// the DOM, which CSP allows), so nothing inline is let in; `data:` images
/// are for the empty favicon in `index.html`.
const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The built console, in memory.
#[derive(Debug, Default)]
pub struct Console {
    files: HashMap<String, (Bytes, &'static str)>,
}

/// Why a console directory cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No `index.html`: not a console build.
    #[error("{0} has no index.html: build the console with `npm ci && npm run build` in admin-ui/")]
    NotBuilt(PathBuf),
    /// A file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// A file too large to be part of the console.
    #[error("{0} is larger than 16 MiB: is this the console's dist directory?")]
    TooLarge(PathBuf),
}

impl Console {
    /// Reads the build in `dir` (everything under it, by relative path).
    pub fn load(dir: &Path) -> Result<Console, ConsoleError> {
        if !dir.join("index.html").is_file() {
            return Err(ConsoleError::NotBuilt(dir.to_owned()));
        }
        let mut console = Console::default();
        let mut pending = vec![dir.to_owned()];
        while let Some(at) = pending.pop() {
            for entry in std::fs::read_dir(&at).map_err(|e| ConsoleError::Read(at.clone(), e))? {
                let entry = entry.map_err(|e| ConsoleError::Read(at.clone(), e))?;
                let path = entry.path();
                let meta = entry
                    .metadata()
                    .map_err(|e| ConsoleError::Read(path.clone(), e))?;
                if meta.is_dir() {
                    pending.push(path);
                    continue;
                }
                if meta.len() > MAX_FILE {
                    return Err(ConsoleError::TooLarge(path));
                }
                let bytes =
                    std::fs::read(&path).map_err(|e| ConsoleError::Read(path.clone(), e))?;
                let Ok(rel) = path.strip_prefix(dir) else {
                    continue;
                };
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                console
                    .files
                    .insert(name, (Bytes::from(bytes), content_type(&path)));
            }
        }
        Ok(console)
    }

    /// The answer for `GET path`, if it is a console file (`/` is `index.html`).
    pub(crate) fn get(&self, path: &str) -> Option<Response> {
        let name = match path.trim_start_matches('/') {
            "" => "index.html",
            name => name,
        };
        let (body, content_type) = self.files.get(name)?;
        // Hashed bundles never change under their name; the page must be
        // re-read so a new build is picked up.
        let cache = if name.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        Some(console_response(
            StatusCode::OK,
            body.clone(),
            content_type,
            cache,
        ))
    }
}

/// `/` when no console was built: says how to get one.
pub(crate) fn not_built() -> Response {
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>Switchboard</title>\
         <h1>Switchboard is running</h1>\
         <p>The admin console is not built. Build it with \
         <code>cd admin-ui &amp;&amp; npm ci &amp;&amp; npm run build</code> and restart \
         (it is read from <code>{DEFAULT_DIR}</code>, or <code>--console-dir</code>).</p>\
         <p>The JSON admin API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>"
    );
    let mut resp = Html(page).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

fn console_response(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_the_files_of_the_build() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("index.html"), "<div id=root></div>").unwrap();
        std::fs::write(dir.path().join("assets/app-1a2b.js"), "console.log(1)").unwrap();
        let console = Console::load(dir.path()).unwrap();

        let page = console.get("/").unwrap();
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        let script = console.get("/assets/app-1a2b.js").unwrap();
        assert_eq!(
            script.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(
            script.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        for resp in [&page, &script] {
            let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(
                csp.starts_with("default-src 'self';") && !csp.contains("unsafe-"),
                "{csp}"
            );
        }
        for missing in [
            "/assets/other.js",
            "/../Cargo.toml",
            "/assets/../index.html",
            "/api/campaigns",
        ] {
            assert!(console.get(missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn a_directory_without_index_html_is_refused_with_how_to_build() {
        let dir = tempfile::tempdir().unwrap();
        let err = Console::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("npm run build"), "{err}");
    }
}
