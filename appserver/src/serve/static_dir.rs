//! Static files under a URL prefix ([`Server::serve_dir`](crate::Server::serve_dir)), on
//! tower-http's `ServeDir`: content types, `Last-Modified` with 304, `Range` with 206, HEAD,
//! and `.gz`/`.br` siblings for clients that accept them; a weak `ETag` (size and
//! modification time) with `If-None-Match`, which `ServeDir` lacks, is added here. Nothing outside the
//! folder is served: a path with `..`, an encoded `/` or `\`, or one whose file (through
//! symlinks) lies outside the folder is a 404, the JSON one.

use crate::handler::{Body, Error, IntoResponse as _, Response};
use http::header::{ETAG, IF_NONE_MATCH};
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyDataStream;
use std::path::{Component, Path, PathBuf};
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// One folder served under a URL prefix.
pub(crate) struct StaticDir {
    /// `/static`, without a trailing `/`.
    pub(crate) prefix: String,
    /// The folder as given, for the route table.
    pub(crate) folder: PathBuf,
    /// The folder, its symlinks resolved.
    root: PathBuf,
    files: ServeDir,
}

impl StaticDir {
    /// The folder `folder` under `prefix`; the folder must exist.
    pub(crate) fn new(prefix: &str, folder: &Path) -> std::io::Result<Self> {
        let root = std::fs::canonicalize(folder)?;
        if !root.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"));
        }
        let files = ServeDir::new(&root).precompressed_gzip().precompressed_br().append_index_html_on_directories(true);
        Ok(StaticDir { prefix: prefix.trim_end_matches('/').to_owned(), folder: folder.to_owned(), root, files })
    }

    /// The part of `path` below the prefix, if the path is under it.
    pub(crate) fn below<'p>(&self, path: &'p str) -> Option<&'p str> {
        path.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }

    /// Answers `request`, whose path is below the prefix.
    pub(crate) async fn serve(&self, request: &http::Request<()>) -> Response {
        let rest = self.below(request.uri().path()).unwrap_or_default();
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Error::method_not_allowed(request.method(), request.uri().path(), "GET, HEAD").into_response();
        }
        let not_found = || Error::not_found(format!("no file at {}", request.uri().path())).into_response();
        let Some(relative) = safe_relative(rest) else { return not_found() };
        // A file reached through a symlink must lie in the folder too.
        let real = match tokio::fs::canonicalize(self.root.join(&relative)).await {
            Ok(real) if real.starts_with(&self.root) => real,
            _ => return not_found(),
        };
        let etag = tokio::fs::metadata(&real).await.ok().filter(|m| m.is_file()).and_then(|meta| {
            let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            HeaderValue::from_str(&format!("W/\"{:x}-{:x}\"", meta.len(), modified.as_nanos())).ok()
        });
        if let Some(etag) = &etag {
            let matches = request.headers().get_all(IF_NONE_MATCH).iter().any(|value| {
                value.to_str().is_ok_and(|v| v.split(',').any(|tag| tag.trim() == "*" || tag.trim() == etag))
            });
            if matches {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                response.headers_mut().insert(ETAG, etag.clone());
                return response;
            }
        }
        let mut inner = http::Request::new(());
        *inner.method_mut() = request.method().clone();
        *inner.headers_mut() = request.headers().clone();
        let uri = format!("/{rest}{}", request.uri().query().map(|q| format!("?{q}")).unwrap_or_default());
        let Ok(uri) = uri.parse() else { return not_found() };
        *inner.uri_mut() = uri;
        let response = match self.files.clone().oneshot(inner).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let mut response = match response.status() {
            StatusCode::NOT_FOUND => return not_found(),
            _ => response.map(|body| Body::from_stream(BodyDataStream::new(body))),
        };
        if let Some(etag) = etag.filter(|_| response.status().is_success()) {
            response.headers_mut().insert(ETAG, etag);
        }
        response
    }
}

/// `rest` (percent-encoded) as a path inside the folder, if it is one: decoded, its parts
/// plain names (no `..`, `.`, root or drive), with no encoded `/` or `\` and no NUL.
fn safe_relative(rest: &str) -> Option<PathBuf> {
    let lower = rest.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") || rest.contains('\\') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8().ok()?;
    let path = Path::new(decoded.as_ref());
    path.components().all(|part| matches!(part, Component::Normal(_))).then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn only_plain_names_inside_the_folder_pass() {
        assert!(safe_relative("css/site.css").is_some());
        assert!(safe_relative("a%20b.txt").is_some());
        for bad in ["../secret", "a/../../b", "%2e%2e/secret", "a%2fb", "a%5Cb", "/etc/passwd", "%2Fetc", "./a", "a\\b"]
        {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
