//! wisp-client: a blocking `std::net` WebSocket client around `wisp-codec`.
