//! Plain HTTP: the demo page's static files and the error responses.
//!
//! One request per TCP connection (`Connection: close`); only `GET` and `HEAD`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use wisp_codec::handshake::{http_response, Request};

/// A complete response with a plain-text body and `Connection: close`.
pub(crate) fn simple_response(status: u16, body: &str, extra_headers: &str) -> Vec<u8> {
    http_response(status, extra_headers, body)
}

/// The 503 sent when the server is at `--max-connections`.
pub(crate) fn service_unavailable() -> Vec<u8> {
    simple_response(
        503,
        "too many connections, try again later\n",
        "Retry-After: 1\r\n",
    )
}

/// A `200` with a JSON body (only the head for `HEAD`), never cached.
pub(crate) fn json_response(body: &str, head_only: bool) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

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

/// A response to a plain HTTP request: the bytes to write first, then, for a `GET`
/// of a file, the file's `len` bytes, read a chunk at a time as the socket drains so
/// that no worker waits on a large file.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) head: Vec<u8>,
    pub(crate) body: Option<(File, u64)>,
}

/// Answers a plain HTTP request for a file under `root` (`GET` or `HEAD`).
pub(crate) fn file_response(root: &Path, req: &Request) -> Response {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return Response {
            status: 405,
            head: simple_response(
                405,
                "only GET and HEAD are served here\n",
                "Allow: GET, HEAD\r\n",
            ),
            body: None,
        };
    }
    let not_found = || {
        let mut r = simple_response(404, "not found\n", "");
        if head_only {
            let end = r
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(r.len(), |p| p + 4);
            r.truncate(end);
        }
        Response {
            status: 404,
            head: r,
            body: None,
        }
    };
    let Some(mut path) = resolve(root, &req.target) else {
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
    Response {
        status: 200,
        head: head.into_bytes(),
        body: (!head_only).then_some((file, meta.len())),
    }
}

/// Appends up to `max` more bytes of `file` (of which `left` remain) to `out`.
/// A file that ends early (truncated while served) ends the body there.
pub(crate) fn read_chunk(
    file: &mut File,
    left: &mut u64,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<()> {
    let want = (*left).min(max as u64) as usize;
    let start = out.len();
    out.resize(start + want, 0);
    let mut got = 0;
    while got < want {
        match file.read(&mut out[start + got..])? {
            0 => {
                *left = 0;
                break;
            }
            n => got += n,
        }
    }
    out.truncate(start + got);
    *left = left.saturating_sub(got as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_response_is_complete() {
        let r = simple_response(404, "not found\n", "");
        assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(r.ends_with(b"\r\n\r\nnot found\n"));
    }

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
