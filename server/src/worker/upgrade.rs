//! A complete request head: a plain HTTP request for the application's HTTP handlers,
//! or an upgrade that passes the RFC 6455 checks (§4.2.1), the origin policy and the
//! route's factory, which becomes a WebSocket session behind its 101.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use log::{error, info};
use wisp_codec::handshake::{self, Request, RequestError};

use super::respond::Respond;
use super::session::Session;
use super::state::{Cx, Io, Phase};
use crate::handler::Upgrade;
use crate::http::{self, HttpRequest, HttpResponse};
use crate::metrics::Refusal;
use crate::wake::Wake;

/// What a complete head (`buf[..n]`, more bytes after it) turns into; `opened`: when the
/// worker took the socket.
pub(super) fn start(
    req: Request,
    buf: Vec<u8>,
    n: usize,
    opened: Instant,
    io: &mut Io,
    cx: &mut Cx<'_>,
) -> Option<Box<dyn Phase>> {
    let path = req.target.split('?').next().unwrap_or("");
    let Some((route_path, route)) = cx.shared.route(path) else {
        if req.has_token("upgrade", "websocket") {
            info!(
                "{} {} {} -> 404 (no WebSocket route)",
                io.peer(),
                req.method,
                req.target
            );
            cx.shared.metrics.refused(Refusal::BadRequest);
            let paths = cx.shared.route_paths();
            let hint = if paths.is_empty() {
                "this server has no WebSocket routes".to_string()
            } else {
                format!("try {}", paths.join(", "))
            };
            let body = format!("no WebSocket endpoint here ({hint})\n");
            return Respond::start(HttpResponse::text(404, &body), io, cx);
        }
        let response = plain(&req, io, cx);
        info!(
            "{} {} {} -> {}",
            io.peer(),
            req.method,
            req.target,
            response.status
        );
        return Respond::start(response, io, cx);
    };
    let refuse = |io: &mut Io, cx: &mut Cx<'_>, e: RequestError| {
        info!(
            "{} {} {} -> {} ({e})",
            io.peer(),
            req.method,
            req.target,
            e.status()
        );
        cx.shared.metrics.refused(Refusal::BadRequest);
        Respond::bytes(e.status(), e.response(), io, cx)
    };
    let offer = match req.validate() {
        Ok(o) => o,
        Err(e) => return refuse(io, cx, e),
    };
    let config = &cx.shared.config;
    if !config.origins.is_empty() {
        let allowed = offer
            .origin
            .as_deref()
            .is_none_or(|o| config.origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
        if !allowed {
            return refuse(io, cx, RequestError::OriginRefused);
        }
    }
    let protocol = offer
        .protocols
        .iter()
        .find(|p| config.subprotocols.iter().any(|s| s == *p))
        .cloned();
    let id = cx.shared.next_id.fetch_add(1, Ordering::Relaxed);
    let upgrade = Upgrade {
        request: &req,
        path,
        protocol: protocol.as_deref(),
        peer: io.addr,
        proxy_peer: io.proxy,
        id,
        wake: Wake {
            inbox: Arc::clone(cx.inbox),
            slot: cx.slot,
        },
        queue: config.send_queue,
        outbox: OnceLock::new(),
    };
    // The route decides: a handler (and headers for the 101), or a refusal.
    let accept = match catch_unwind(AssertUnwindSafe(|| route(&upgrade))) {
        Ok(Ok(a)) => a,
        Ok(Err(refusal)) => {
            info!(
                "{} {} {} -> {} (refused by the route: {})",
                io.peer(),
                req.method,
                req.target,
                refusal.sent_status(),
                refusal.reason
            );
            if let Some(o) = upgrade.outbox.get() {
                o.end();
            }
            return Respond::bytes(refusal.sent_status(), refusal.to_bytes(), io, cx);
        }
        Err(_) => {
            error!("{} {path}: the route's handler factory panicked", io.peer());
            if let Some(o) = upgrade.outbox.get() {
                o.end();
            }
            return Respond::start(HttpResponse::text(500, "internal error\n"), io, cx);
        }
    };
    // `--no-deflate` declines every offer; a route may answer with its own policy.
    let policy = cx
        .shared
        .config
        .deflate
        .map(|d| accept.deflate_policy.unwrap_or(d));
    let deflate = match (accept.deflate, policy) {
        (true, Some(d)) => d.negotiate(&offer.extensions),
        _ => None,
    };
    let mut response = handshake::Response::new(&offer.key);
    if let Some(p) = &protocol {
        response = response.protocol(p);
    }
    if let Some((_, header)) = &deflate {
        response = response.extensions(header);
    }
    for (name, value) in &accept.headers {
        // Checked when the route added them: this cannot fail.
        if let Ok(r) = response.clone().header(name, value) {
            response = r;
        }
    }
    let response = response.to_bytes();
    info!(
        "#{id} {} open {path}{}",
        io.peer(),
        protocol
            .as_deref()
            .map(|p| format!(" (subprotocol {p})"))
            .unwrap_or_default()
    );
    if cx.counts.is_some() {
        let took = cx.now.saturating_duration_since(opened);
        cx.shared.metrics.handshake(took);
    }
    let outbox = upgrade.outbox.into_inner();
    let session = Session::open(
        id,
        route_path,
        accept,
        deflate.map(|(params, _)| params),
        (&buf[..n], &response),
        &buf[n..],
        outbox,
        cx,
    );
    session.run(io, cx)
}

/// The answer to a plain HTTP request: the first of the application's HTTP handlers
/// that answers, else 404. A handler that panics costs the request a 500.
fn plain(req: &Request, io: &Io, cx: &Cx<'_>) -> HttpResponse {
    let request = HttpRequest {
        request: req,
        peer: io.addr,
        proxy_peer: io.proxy,
    };
    for handler in cx.shared.http_handlers() {
        match catch_unwind(AssertUnwindSafe(|| handler(&request))) {
            Ok(Some(r)) => return r,
            Ok(None) => {}
            Err(_) => {
                error!("{} {}: an HTTP handler panicked", io.peer(), req.target);
                return HttpResponse::text(500, "internal error\n");
            }
        }
    }
    HttpResponse::new(404, http::simple_response(404, "not found\n", ""), None)
}
