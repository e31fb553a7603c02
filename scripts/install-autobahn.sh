#!/usr/bin/env bash
# Installs Autobahn|Testsuite's `wstest` (for tests/tests/autobahn.rs) into a Python 2.7
# virtualenv, by default .autobahn-venv at the repository root (git-ignored).
#
#   usage: bash scripts/install-autobahn.sh [--check] [VENV]
#          --check: change nothing; exit 0 if VENV is complete, 1 if not
#
# Why Python 2.7: every autobahntestsuite release on PyPI, up to 25.10.1, is Python 2
# code pinned to autobahn 0.10.9 and Twisted 19.10. It installs into a Python 3 venv,
# but cannot run there.
#
# Steps, each checked first (a second run changes nothing and takes about a second):
#   1. python 2.7   a CPython 2.7 with ssl, zlib, ctypes and its C headers, the first of:
#                   $AUTOBAHN_PYTHON27, pyenv's versions/2.7*, /usr/bin/python2.7. If
#                   none, Debian 11 (bullseye)'s python2.7 packages, since bookworm has
#                   none: apt downloads them through a private, temporary apt state (the
#                   system's apt sources are not changed) and apt-get installs them.
#   2. gcc          wsaccel is a C extension
#   3. virtualenv   made by virtualenv 20.21.1 (the last release that makes 2.7
#                   environments), run from a throw-away Python 3 venv
#   4. pins         tests/autobahn/requirements-py27.txt: the whole dependency tree, pinned
#   5. suite        autobahntestsuite 25.10.1, without dependencies
#   6. bind patch   the fuzzingserver listens on the host of its spec's url instead of
#                   on all interfaces, so "ws://127.0.0.1:PORT" stays on loopback
# Prints one line per step; stops at the first step that fails, with the reason.
#
# Needs python3, PyPI, and for Debian packages root or sudo. Environment:
#   AUTOBAHN_PYTHON27      the interpreter to use (/usr/bin/python2.7 is installed if absent)
#   AUTOBAHN_BULLSEYE_URI  the Debian mirror for bullseye (default: the first Debian
#                          mirror in this machine's apt sources)
#   WISP_APT_UPDATED=1     `apt-get update` already ran in this setup (scripts/setup.sh)
set -euo pipefail

SUITE_VERSION=25.10.1
VIRTUALENV_VERSION=20.21.1
# bullseye packages that bookworm lacks; their other dependencies are bookworm's own
BULLSEYE_DEBS=(python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib
  libpython2.7 libpython2.7-dev python2.7-dev libssl1.1 libffi7)
# the bind patch adds this to each of the three listen calls of fuzzing.py
PATCH_MARK="interface=factory.host"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/tests/autobahn/requirements-py27.txt"

CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then CHECK_ONLY=1; shift; fi
VENV="${1:-$ROOT/.autobahn-venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
SITE="$VENV/lib/python2.7/site-packages"
FUZZING="$SITE/autobahntestsuite/fuzzing.py"

say() { echo "install-autobahn: $*"; }
die() { echo "install-autobahn: FAILED: $*" >&2; exit 1; }
since() { echo "$((SECONDS - $1)) s"; }

# --- checks, one per step -----------------------------------------------------------
# CPython 2.7 with the modules the suite imports and Python.h (to build wsaccel)
is_py27() {
  [ -x "$1" ] && "$1" - >/dev/null 2>&1 <<'EOF'
import os, platform, ssl, sys, sysconfig, zlib, ctypes
ok = sys.version_info[:2] == (2, 7) and platform.python_implementation() == "CPython"
sys.exit(0 if ok and os.path.isfile(os.path.join(sysconfig.get_config_var("INCLUDEPY"), "Python.h")) else 1)
EOF
}
venv_ok() {
  [ -x "$VENV/bin/pip" ] && "$VENV/bin/python" -c \
    'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1
}
# every requirement, at its pinned version, extras included
requires_ok() {
  "$VENV/bin/python" - "$@" >/dev/null 2>&1 <<'EOF'
import sys, warnings
warnings.simplefilter("ignore")
import pkg_resources
reqs = []
for arg in sys.argv[1:]:
    reqs += open(arg[1:]).read().splitlines() if arg.startswith("@") else [arg]
pkg_resources.require(reqs)
EOF
}
pins_ok() { venv_ok && requires_ok "@$REQUIREMENTS"; }
suite_ok() { pins_ok && requires_ok "autobahntestsuite==$SUITE_VERSION" && [ -f "$FUZZING" ]; }
patch_count() { grep -c "$PATCH_MARK" "$FUZZING" 2>/dev/null || true; }
all_ok() {
  suite_ok && [ "$(patch_count)" = 3 ] &&
    "$VENV/bin/wstest" --autobahnversion 2>&1 | grep -q "AutobahnTestSuite $SUITE_VERSION"
}

if [ "$CHECK_ONLY" = 1 ]; then all_ok; exit; fi
if all_ok; then
  say "present: $("$VENV/bin/wstest" --autobahnversion 2>&1 | paste -sd' ') in $VENV"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
as_root() {
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    die "needs root or sudo for: $*"
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive "$@"
}
# Debian's package lists must be read once before the first apt-get install.
apt_update_once() {
  [ "${WISP_APT_UPDATED:-}" = 1 ] && return
  as_root apt-get update -qq >"$TMP/apt.log" 2>&1 || { tail -n 20 "$TMP/apt.log" >&2; die "apt-get update"; }
  export WISP_APT_UPDATED=1
}
apt_install() {
  apt_update_once
  as_root apt-get install -y -qq --no-install-recommends "$@" >"$TMP/apt.log" 2>&1 ||
    { tail -n 20 "$TMP/apt.log" >&2; die "apt-get install $*"; }
}
# The first Debian mirror (not the security one) of the system's apt sources.
debian_mirror() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | awk '/^URIs:/ {print $2} /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}' |
    grep -iv security | grep -i debian | head -n 1 || true
}
install_bullseye_py27() {
  command -v apt-get >/dev/null 2>&1 || die "no CPython 2.7 found, and no apt-get to install Debian's"
  local mirror="${AUTOBAHN_BULLSEYE_URI:-$(debian_mirror)}"
  [ -n "$mirror" ] || die "no Debian mirror in the apt sources: set AUTOBAHN_BULLSEYE_URI"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || apt_install debian-archive-keyring
  local state="$TMP/bullseye"
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/parts" "$state/debs"
  echo "deb [signed-by=$keyring] $mirror bullseye main" >"$state/sources.list"
  # A private apt state: its own sources, lists and cache, so the system's stay as they are.
  local private=(-o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::Etc::SourceParts=$state/parts"
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o "APT::Sandbox::User=root")
  as_root apt-get "${private[@]}" update -qq >"$TMP/apt.log" 2>&1 ||
    { tail -n 20 "$TMP/apt.log" >&2; die "cannot read bullseye at $mirror (set AUTOBAHN_BULLSEYE_URI)"; }
  (cd "$state/debs" && as_root apt-get "${private[@]}" download -qq "${BULLSEYE_DEBS[@]}") \
    >"$TMP/apt.log" 2>&1 || { tail -n 20 "$TMP/apt.log" >&2; die "apt-get download from bullseye"; }
  apt_install "$state"/debs/*.deb
}

# --- 1. python 2.7 ----------------------------------------------------------------
start=$SECONDS
PY27=""
if [ -n "${AUTOBAHN_PYTHON27:-}" ]; then
  if ! is_py27 "$AUTOBAHN_PYTHON27"; then
    [ "$AUTOBAHN_PYTHON27" = /usr/bin/python2.7 ] ||
      die "AUTOBAHN_PYTHON27=$AUTOBAHN_PYTHON27 is not a CPython 2.7 with ssl, zlib and Python.h"
    install_bullseye_py27
  fi
  PY27="$AUTOBAHN_PYTHON27"
else
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7 /usr/bin/python2.7; do
    if is_py27 "$candidate"; then PY27="$candidate"; break; fi
  done
  if [ -z "$PY27" ]; then install_bullseye_py27; PY27=/usr/bin/python2.7; fi
fi
is_py27 "$PY27" || die "$PY27 lacks ssl, zlib, ctypes or Python.h after the install"
if [ $((SECONDS - start)) -gt 0 ]; then how="installed in $(since $start)"; else how="present"; fi
say "python 2.7: $PY27 ($how)"

# --- 2. gcc -------------------------------------------------------------------------
if command -v gcc >/dev/null 2>&1; then
  say "gcc: present"
else
  start=$SECONDS
  apt_install gcc libc6-dev
  say "gcc: installed in $(since $start)"
fi

# --- 3. virtualenv ------------------------------------------------------------------
if venv_ok; then
  say "virtualenv $VENV: present"
else
  start=$SECONDS
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV")" ]; then
    die "$VENV exists and is not a virtualenv: not overwriting it"
  fi
  PY3="$(command -v python3 || true)"
  [ -n "$PY3" ] || die "python3 is needed to run virtualenv"
  "$PY3" -m venv "$TMP/py3" >"$TMP/venv.log" 2>&1 ||
    { cat "$TMP/venv.log" >&2; die "$PY3 -m venv (is python3-venv installed?)"; }
  "$TMP/py3/bin/python" -m pip install -q --disable-pip-version-check \
    "virtualenv==$VIRTUALENV_VERSION" >"$TMP/venv.log" 2>&1 ||
    { cat "$TMP/venv.log" >&2; die "pip install virtualenv==$VIRTUALENV_VERSION"; }
  VIRTUALENV_OVERRIDE_APP_DATA="$TMP/appdata" "$TMP/py3/bin/python" -m virtualenv -q --clear \
    --no-periodic-update -p "$PY27" "$VENV" >"$TMP/venv.log" 2>&1 ||
    { cat "$TMP/venv.log" >&2; die "virtualenv -p $PY27 $VENV"; }
  venv_ok || die "$VENV has no working Python 2.7 pip after virtualenv"
  say "virtualenv $VENV: created in $(since $start)"
fi

PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir)
# --- 4. pins ------------------------------------------------------------------------
if pins_ok; then
  say "pinned dependencies: present"
else
  start=$SECONDS
  "${PIP[@]}" -r "$REQUIREMENTS" >"$TMP/pip.log" 2>&1 ||
    { grep -v DEPRECATION "$TMP/pip.log" | tail -n 30 >&2; die "pip install -r $REQUIREMENTS"; }
  pins_ok || die "the pins of $REQUIREMENTS are not all satisfied after pip install"
  say "pinned dependencies: installed in $(since $start)"
fi

# --- 5. suite -----------------------------------------------------------------------
# A fuzzing.py that is neither pristine nor fully patched is reinstalled too.
if suite_ok && [[ "$(patch_count)" =~ ^[03]$ ]]; then
  say "autobahntestsuite $SUITE_VERSION: present"
else
  start=$SECONDS
  "${PIP[@]}" --no-deps --force-reinstall "autobahntestsuite==$SUITE_VERSION" >"$TMP/pip.log" 2>&1 ||
    { grep -v DEPRECATION "$TMP/pip.log" | tail -n 30 >&2; die "pip install autobahntestsuite==$SUITE_VERSION"; }
  suite_ok || die "autobahntestsuite $SUITE_VERSION is not importable after pip install"
  say "autobahntestsuite $SUITE_VERSION: installed in $(since $start)"
fi

# --- 6. bind patch ------------------------------------------------------------------
if [ "$(patch_count)" = 3 ]; then
  say "bind patch: present"
else
  # fuzzing.py has CRLF line endings: each expression keeps the \r it finds.
  sed -i \
    -e 's/^\(   listenWS(factory, sslContext\))\(\r\?\)$/\1, interface=factory.host)\2/' \
    -e 's/\(reactor\.listenSSL(webport, web, sslContext\))\(\r\?\)$/\1, interface=factory.host)\2/' \
    -e 's/\(reactor\.listenTCP(webport, web\))\(\r\?\)$/\1, interface=factory.host)\2/' \
    "$FUZZING"
  rm -f "${FUZZING}c"
  [ "$(patch_count)" = 3 ] ||
    die "$FUZZING: the three listen calls were not found (rerun to reinstall the suite)"
  say "bind patch: applied"
fi

all_ok || die "$VENV/bin/wstest --autobahnversion does not report AutobahnTestSuite $SUITE_VERSION"
say "ok: $("$VENV/bin/wstest" --autobahnversion 2>&1 | paste -sd' ') in $VENV"
