//! The demo page's static files (`Demo::web`): `GET` and `HEAD` under one directory,
//! served through the server's public HTTP API ([`Server::serve_http`]).
//!
//! [`Server::serve_http`]: crate::Server::serve_http

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use wisp_codec::handshake::http_response;

use crate::http::{HttpRequest, HttpResponse};

/// The Content-Type for a file name.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Maps a request target to a file under `root`: `None` for anything that could leave
/// it (any `..`, encoded or not, a backslash, a NUL) or is not a plain relative path.
/// `/` and directories map to their `index.html`.
pub(crate) fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') || path.contains("..") {
        return None;
    }
    let decoded = String::from_utf8(percent_decode(path)?).ok()?;
    if decoded.contains("..") || decoded.contains(['\\', '\0']) {
        return None;
    }
    let rel = decoded.trim_start_matches('/');
    let mut out = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if rel.is_empty() || decoded.ends_with('/') {
        out.push("index.html");
    }
    Some(out)
}

/// Answers a plain HTTP request for a file under `root` (`GET` or `HEAD`).
pub(crate) fn file_response(root: &Path, req: &HttpRequest<'_>) -> HttpResponse {
    let head_only = req.method() == "HEAD";
    if req.method() != "GET" && !head_only {
        let head = http_response(
            405,
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD are served here\n",
        );
        return HttpResponse::new(405, head, None);
    }
    let not_found = || {
        let mut r = http_response(404, "", "not found\n");
        if head_only {
            let end = r
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(r.len(), |p| p + 4);
            r.truncate(end);
        }
        HttpResponse::new(404, r, None)
    };
    let Some(mut path) = resolve(root, req.target()) else {
        return not_found();
    };
    // Symbolic links may not lead out of the web directory either.
    let (Ok(real_root), Ok(real)) = (root.canonicalize(), path.canonicalize()) else {
        return not_found();
    };
    if !real.starts_with(&real_root) {
        return not_found();
    }
    if real.is_dir() {
        path.push("index.html");
    }
    let Ok(file) = File::open(&path) else {
        return not_found();
    };
    let Ok(meta) = file.metadata() else {
        return not_found();
    };
    if !meta.is_file() {
        return not_found();
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        content_type(&path),
        meta.len()
    );
    let len = meta.len();
    HttpResponse::new(200, head.into_bytes(), (!head_only).then_some((file, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            content_type("pkg/wisp_bg.wasm".as_ref()),
            "application/wasm"
        );
        assert_eq!(
            content_type("index.html".as_ref()),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type("app.js".as_ref()), "text/javascript");
    }

    #[test]
    fn resolve_stays_inside_root() {
        use std::path::Path;
        assert_eq!(
            resolve(Path::new("web"), "/"),
            Some("web/index.html".into())
        );
        assert_eq!(
            resolve(Path::new("web"), "/app.js?v=2"),
            Some("web/app.js".into())
        );
        assert_eq!(resolve(Path::new("web"), "/../secret"), None);
        assert_eq!(resolve(Path::new("web"), "/%2e%2e/secret"), None);
    }
}
