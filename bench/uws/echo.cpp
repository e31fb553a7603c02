// A uWebSockets echo for the Wisp benchmarks (bench/uws/build.sh builds it): every message
// echoed as it came, on every path. usage: uws_echo PORT [off|shared|dedicated]
#include "App.h"
#include <cstdlib>
#include <cstring>
struct PerSocketData {};
int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 9001;
    uWS::CompressOptions compression = uWS::DISABLED;
#ifndef UWS_NO_ZLIB
    if (argc > 2 && !strcmp(argv[2], "shared")) compression = uWS::SHARED_COMPRESSOR;
    if (argc > 2 && !strcmp(argv[2], "dedicated")) compression = uWS::CompressOptions(uWS::DEDICATED_COMPRESSOR | uWS::DEDICATED_DECOMPRESSOR);
#endif
    uWS::App().ws<PerSocketData>("/*", {
        .compression = compression,
        .maxPayloadLength = 64 * 1024 * 1024,
        .idleTimeout = 0,
        .message = [](auto *ws, std::string_view message, uWS::OpCode opCode) {
            ws->send(message, opCode, true);
        }
    }).listen("127.0.0.1", port, [port](auto *listen_socket) {
        if (listen_socket) printf("LISTENING %d\n", port), fflush(stdout);
        else exit(1);
    }).run();
}
