//! wisp-server: a threaded `std::net` WebSocket server around `wisp-codec`.
