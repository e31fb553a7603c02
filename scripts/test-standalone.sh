#!/usr/bin/env bash
# Proves that the committed tree stands on its own: copied alone into a fresh temporary
# directory (nothing beside it, so a path that climbs out of the repository finds
# nothing), it installs what the demo needs, builds the demo and serves it.
#
#   bash scripts/test-standalone.sh      (scripts/test.sh runs it, so CI does)
#
# Steps, each one line, the first failure stops the run:
#   1. copy     `git archive HEAD` into $TMP/wisp; $TMP holds nothing else. This is the
#               committed tree: uncommitted changes are not in it (a note says so).
#   2. refs     no file of the copy refers to a directory named `shared` beside or
#               inside the repository (the notes that the project once read from)
#   3. demo     `bash scripts/demo.sh` in the copy, on 127.0.0.1 port 0: its setup must
#               install only the demo's tools (no .venv, node_modules or .autobahn-venv
#               appear), and it must build the wasm codec and the release server from the
#               copy's sources, then print the address it listens on
#   4. serve    `/` is the copy's web/index.html, `/pkg/wisp_codec_bg.wasm` is the freshly
#               built wasm as application/wasm
#   5. stop     the server stops on SIGTERM, by its PID
# On exit, however it ends, the server (and a build still running) is stopped and the
# temporary directory removed.
#
# Build cache: CARGO_TARGET_DIR is target/standalone of this checkout, so that each run
# does not rebuild every crates.io dependency from cold. That does not let anything of
# this checkout into the proof: the cache holds build outputs only, crates.io crates are
# fixed by Cargo.lock's versions and checksums, and the copy's files are extracted with a
# fresh modification time (tar -m), so cargo recompiles every workspace crate from the
# copy. Step 3 checks that: cargo's `Compiling wisp-server` line must name the copy's
# path, and the wasm and the server binary must be newer than the run's start.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

READY_TIMEOUT=1500   # s: setup and a cold build of the demo, on a fresh machine

say() { echo "test-standalone: $*"; }
die() { echo "test-standalone: FAILED: $*" >&2; exit 1; }
command -v git >/dev/null 2>&1 || die "git is needed (the copy is the committed tree)"
command -v curl >/dev/null 2>&1 || die "curl is needed: run scripts/setup.sh"
git rev-parse --verify -q HEAD >/dev/null || die "$ROOT is not a git checkout with a commit"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/wisp-standalone.XXXXXX")"
COPY="$WORK/wisp"
DEMO_PID=""
cleanup() {
  if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
    # demo.sh runs in its own process group (setsid): this also ends a cargo it started.
    kill -TERM -- "-$DEMO_PID" 2>/dev/null || kill -TERM "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# show_log FILE: the end of a log, for a failure
show_log() { echo "--- last lines of $1:" >&2; tail -n 40 "$1" >&2; }

# --- 1. copy ------------------------------------------------------------------------
mkdir "$COPY"
git archive --format=tar HEAD | tar -x -m -C "$COPY"
[ "$(ls -A "$WORK")" = wisp ] || die "$WORK holds more than the copy: $(ls -A "$WORK" | paste -sd' ')"
dirty="$(git status --porcelain --untracked-files=no | wc -l)"
note=""
if [ "$dirty" -gt 0 ]; then note=" (note: $dirty uncommitted changes are not in it)"; fi
say "copy: $(git rev-parse --short HEAD), $(git ls-files | wc -l) files, in $COPY$note"

# --- 2. refs ------------------------------------------------------------------------
# (the patterns are written so that this file does not match them itself)
if refs="$(grep -rnI -e '\.\./shared' -e 'shared[/]' "$COPY")"; then
  echo "$refs" | sed "s|^$COPY/|  |" >&2
  die "files of the repository refer to something outside it (above)"
fi
say "refs: no file refers to a \`shared\` directory"

# --- 3. demo ------------------------------------------------------------------------
export CARGO_TARGET_DIR="$ROOT/target/standalone"
touch "$WORK/start"
sleep 1   # mtimes have a resolution of 1 s on some filesystems: "newer" must mean "rebuilt"
LOG="$WORK/demo.log"
start=$SECONDS
: >"$LOG"
(cd "$COPY" && DEMO_LISTEN=127.0.0.1:0 exec setsid bash scripts/demo.sh) >>"$LOG" 2>&1 </dev/null &
DEMO_PID=$!
PORT=""
while [ -z "$PORT" ]; do
  PORT="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$LOG")"
  [ -n "$PORT" ] && break
  kill -0 "$DEMO_PID" 2>/dev/null || { show_log "$LOG"; die "demo.sh stopped before it listened"; }
  [ $((SECONDS - start)) -lt "$READY_TIMEOUT" ] ||
    { show_log "$LOG"; die "demo.sh did not listen within $READY_TIMEOUT s"; }
  sleep 1
done
took=$((SECONDS - start))

extra="$(grep '^setup: ' "$LOG" | grep -v -e '^setup: rust targets: ' \
  -e '^setup: wasm-bindgen-cli ' -e '^setup: versions: ' || true)"
[ -z "$extra" ] || { show_log "$LOG"; die "the demo's setup did more than the demo needs: $extra"; }
for d in .venv node_modules .autobahn-venv; do
  [ ! -e "$COPY/$d" ] || die "the demo's setup created $d"
done
grep -q "Compiling wisp-server v[^ ]* ($COPY/server)" "$LOG" ||
  { show_log "$LOG"; die "cargo did not compile wisp-server from $COPY/server"; }
for f in "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/wisp_wasm.wasm" \
  "$CARGO_TARGET_DIR/release/wisp-server" "$COPY/web/pkg/wisp_codec_bg.wasm"; do
  [ "$f" -nt "$WORK/start" ] || die "$f was not built by this run"
done
say "demo: setup (wasm32 target, wasm-bindgen-cli only) and build in $took s, listening on port $PORT"

# --- 4. serve -----------------------------------------------------------------------
# get PATH WANT_TYPE FILE: the response must be 200, of type WANT_TYPE, with FILE's bytes.
get() {
  local body="$WORK/body" headers="$WORK/headers"
  curl -sS --max-time 10 -o "$body" -D "$headers" "http://127.0.0.1:$PORT$1" ||
    die "GET $1: curl failed"
  local status type
  status="$(head -n 1 "$headers" | tr -d '\r')"
  type="$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^\r]*\)\r\?$/\1/p' "$headers")"
  [[ "$status" =~ ^HTTP/1\.[01]\ 200 ]] || die "GET $1: $status"
  [ "$type" = "$2" ] || die "GET $1: Content-Type '$type', expected '$2'"
  cmp -s "$body" "$3" || die "GET $1: the body differs from ${3#"$COPY"/}"
  echo "$1 $type $(stat -c %s "$body") bytes"
}
served="$(get / "text/html; charset=utf-8" "$COPY/web/index.html")"
served="$served; $(get /pkg/wisp_codec_bg.wasm application/wasm "$COPY/web/pkg/wisp_codec_bg.wasm")"
[ "$(head -c 4 "$COPY/web/pkg/wisp_codec_bg.wasm" | od -An -tx1 | tr -d ' ')" = 0061736d ] ||
  die "web/pkg/wisp_codec_bg.wasm does not start with the wasm magic number"
say "serve: $served"

# --- 5. stop ------------------------------------------------------------------------
kill -TERM "$DEMO_PID"
for _ in $(seq 100); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DEMO_PID" 2>/dev/null; then die "wisp-server (PID $DEMO_PID) still runs 10 s after SIGTERM"; fi
status=0
wait "$DEMO_PID" || status=$?
DEMO_PID=""
[ "$status" = 0 ] || { show_log "$LOG"; die "wisp-server exited with status $status after SIGTERM"; }
say "stop: wisp-server stopped on SIGTERM; ok"
