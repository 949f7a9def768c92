#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 1,000 idle TCP sockets, slowloris and silent TLS connections on stolen certificates, reopened
# as fast as the hub drops them, while a real kiosk keeps enrolling. Control: the gate (T4b).
# PASO_FLOOD=100,256 for the full flood (slowloris,silent); the default is 12,24.
. "$(dirname "$0")/lib.sh"
[ -x "$B/test_flood" ] || { echo "scenario: $B/test_flood missing: build the tests" >&2; exit 2; }
"$B/test_flood" 2>&1 | grep -E "round|before|worst|rounds|OK|FAIL|timed out|refused" |
  grep -vE "handshake: no detail" | tail -40
