//! RFC 8441 (WebSockets over HTTP/2), the handshake's part that the codec owns:
//! §5's example request checked as the server checks it, every way an extended
//! CONNECT is refused with its status, and the client's request headers round-tripped
//! through the server's check and its permessage-deflate answer back into the client's
//! check, as over HTTP/1.1.

use wisp_codec::extension::ServerDeflate;
use wisp_codec::handshake::{ClientRequest, Request, RequestError, ResponseError};

fn request(method: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: method.into(),
        target: "/chat".into(),
        version: "HTTP/2".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

/// RFC 8441 §5.1, the client's HEADERS (the pseudo-headers apart, as HTTP/2 gives them).
const EXAMPLE: [(&str, &str); 5] = [
    ("host", "server.example.com"), // :authority
    ("sec-websocket-protocol", "chat, superchat"),
    ("sec-websocket-extensions", "permessage-deflate"),
    ("sec-websocket-version", "13"),
    ("origin", "http://www.example.com"),
];

#[test]
fn section_5_1_example_is_accepted() {
    let offer = request("CONNECT", &EXAMPLE)
        .validate_extended_connect(Some("websocket"))
        .unwrap();
    assert_eq!(offer.target, "/chat");
    assert_eq!(offer.host, "server.example.com");
    assert_eq!(offer.protocols, ["chat", "superchat"]);
    assert_eq!(offer.extensions, "permessage-deflate");
    assert_eq!(offer.origin.as_deref(), Some("http://www.example.com"));
    // §5: no Sec-WebSocket-Key over HTTP/2.
    assert_eq!(offer.key, "");
}

#[test]
fn refused_extended_connects_and_their_statuses() {
    let no_version: Vec<_> = EXAMPLE
        .iter()
        .copied()
        .filter(|(n, _)| *n != "sec-websocket-version")
        .collect();
    let mut old_version = no_version.clone();
    old_version.push(("sec-websocket-version", "8"));
    let no_host: Vec<_> = EXAMPLE
        .iter()
        .copied()
        .filter(|(n, _)| *n != "host")
        .collect();
    let rows: [(&str, Request, Option<&str>, RequestError, u16); 7] = [
        (
            "GET over HTTP/2",
            request("GET", &EXAMPLE),
            Some("websocket"),
            RequestError::NotExtendedConnect,
            400,
        ),
        (
            "CONNECT without :protocol",
            request("CONNECT", &EXAMPLE),
            None,
            RequestError::NotExtendedConnect,
            400,
        ),
        (
            "another :protocol",
            request("CONNECT", &EXAMPLE),
            Some("connect-udp"),
            RequestError::UnknownProtocol,
            501,
        ),
        (
            "no version",
            request("CONNECT", &no_version),
            Some("websocket"),
            RequestError::MissingVersion,
            400,
        ),
        (
            "version 8",
            request("CONNECT", &old_version),
            Some("websocket"),
            RequestError::UnsupportedVersion,
            426,
        ),
        (
            "no :authority",
            request("CONNECT", &no_host),
            Some("websocket"),
            RequestError::MissingHost,
            400,
        ),
        (
            "POST with :protocol",
            request("POST", &EXAMPLE),
            Some("websocket"),
            RequestError::NotExtendedConnect,
            400,
        ),
    ];
    for (name, req, protocol, error, status) in rows {
        let got = req.validate_extended_connect(protocol).unwrap_err();
        assert_eq!(got, error, "{name}");
        assert_eq!(got.status(), status, "{name}");
        let response = String::from_utf8(got.response()).unwrap();
        assert!(
            response.contains(&got.to_string()),
            "{name}: the reason is the body"
        );
    }
    // :protocol is an upgrade token: compared without regard to case.
    assert!(request("CONNECT", &EXAMPLE)
        .validate_extended_connect(Some("WebSocket"))
        .is_ok());
}

#[test]
fn client_headers_through_the_server_check_and_back() {
    let client = wisp_codec::handshake::ClientRequest::new("h:8443", "/feed", [3; 16])
        .protocol("v2.feed")
        .origin("https://h:8443")
        .deflate(wisp_codec::extension::DeflateOffer {
            client_max_window_bits: Some(None),
            ..Default::default()
        })
        .header("Authorization", "Bearer t")
        .unwrap();
    let headers = client.h2_headers();
    // No HTTP/1.1 handshake fields: HTTP/2 forbids the connection-specific ones, and
    // §5 drops the key.
    for (name, _) in &headers {
        assert_eq!(
            name,
            &name.to_ascii_lowercase(),
            "HTTP/2 field names are lower case"
        );
        for gone in ["host", "upgrade", "connection", "sec-websocket-key"] {
            assert_ne!(name, gone);
        }
    }
    let mut server_side: Vec<(&str, &str)> = vec![("host", "h:8443")];
    server_side.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let offer = request("CONNECT", &server_side)
        .validate_extended_connect(Some("websocket"))
        .unwrap();
    assert_eq!(offer.protocols, ["v2.feed"]);
    let (server_params, answer) = ServerDeflate::default()
        .negotiate(&offer.extensions)
        .unwrap();
    let accepted = client
        .check_h2_response(
            200,
            vec![
                ("sec-websocket-protocol".into(), "v2.feed".into()),
                ("sec-websocket-extensions".into(), answer),
            ],
        )
        .unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("v2.feed"));
    let client_params = accepted.deflate.unwrap();
    assert_eq!(
        client_params.server_no_context_takeover,
        server_params.server_no_context_takeover
    );
    assert_eq!(
        client_params.client_no_context_takeover,
        server_params.client_no_context_takeover
    );
}

#[test]
fn the_client_refuses_what_it_did_not_offer() {
    let client = ClientRequest::new("h", "/", [0; 16]).protocol("chat");
    let answer = |h: &[(&str, &str)]| {
        client.check_h2_response(
            200,
            h.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert_eq!(
        answer(&[("sec-websocket-protocol", "superchat")]),
        Err(ResponseError::UnexpectedSubprotocol)
    );
    assert_eq!(
        answer(&[("sec-websocket-extensions", "permessage-deflate")]),
        Err(ResponseError::UnexpectedExtension)
    );
    assert_eq!(
        client.check_h2_response(403, vec![]),
        Err(ResponseError::NotOk(403))
    );
    // Any 2xx is success, as for every CONNECT (RFC 9113 §8.5); no accept value to check.
    assert!(answer(&[]).is_ok());
    assert!(client.check_h2_response(204, vec![]).is_ok());
}
