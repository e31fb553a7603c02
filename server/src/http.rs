//! Plain HTTP: the demo page's static files and the error responses.
//!
//! One request per TCP connection (`Connection: close`); only `GET` and `HEAD`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use wisp_codec::handshake::{http_response, Request};

/// A complete response with a plain-text body and `Connection: close`.
///
/// ```
/// let r = wisp_server::http::simple_response(404, "not found\n", "");
/// assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
/// assert!(r.ends_with(b"\r\n\r\nnot found\n"));
/// ```
pub fn simple_response(status: u16, body: &str, extra_headers: &str) -> Vec<u8> {
    http_response(status, extra_headers, body)
}

/// The 503 sent when the server is at `--max-connections`.
pub fn service_unavailable() -> Vec<u8> {
    simple_response(
        503,
        "too many connections, try again later\n",
        "Retry-After: 1\r\n",
    )
}

/// The Content-Type for a file name.
///
/// ```
/// use wisp_server::http::content_type;
/// assert_eq!(content_type("pkg/wisp_bg.wasm".as_ref()), "application/wasm");
/// assert_eq!(content_type("index.html".as_ref()), "text/html; charset=utf-8");
/// assert_eq!(content_type("app.js".as_ref()), "text/javascript");
/// ```
pub fn content_type(path: &Path) -> &'static str {
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
///
/// ```
/// use std::path::Path;
/// use wisp_server::http::resolve;
/// assert_eq!(resolve(Path::new("web"), "/"), Some("web/index.html".into()));
/// assert_eq!(resolve(Path::new("web"), "/app.js?v=2"), Some("web/app.js".into()));
/// assert_eq!(resolve(Path::new("web"), "/../secret"), None);
/// assert_eq!(resolve(Path::new("web"), "/%2e%2e/secret"), None);
/// ```
pub fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
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

/// Answers a plain HTTP request for a file under `root` (`GET` or `HEAD`), writing the
/// whole response. Returns the status sent.
pub fn serve_file<W: Write>(out: &mut W, root: &Path, req: &Request) -> io::Result<u16> {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        out.write_all(&simple_response(
            405,
            "only GET and HEAD are served here\n",
            "Allow: GET, HEAD\r\n",
        ))?;
        return Ok(405);
    }
    let not_found = |out: &mut W| -> io::Result<u16> {
        let r = simple_response(404, "not found\n", "");
        if head_only {
            let end = r
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(r.len(), |p| p + 4);
            out.write_all(&r[..end])?;
        } else {
            out.write_all(&r)?;
        }
        Ok(404)
    };
    let Some(mut path) = resolve(root, &req.target) else {
        return not_found(out);
    };
    // Symbolic links may not lead out of the web directory either.
    let (Ok(real_root), Ok(real)) = (root.canonicalize(), path.canonicalize()) else {
        return not_found(out);
    };
    if !real.starts_with(&real_root) {
        return not_found(out);
    }
    if real.is_dir() {
        path.push("index.html");
    }
    let Ok(mut file) = File::open(&path) else {
        return not_found(out);
    };
    let Ok(meta) = file.metadata() else {
        return not_found(out);
    };
    if !meta.is_file() {
        return not_found(out);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        content_type(&path),
        meta.len()
    );
    out.write_all(head.as_bytes())?;
    if !head_only {
        let mut buf = [0u8; 8192];
        let mut left = meta.len();
        while left > 0 {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let n = n.min(left as usize);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
    }
    Ok(200)
}
