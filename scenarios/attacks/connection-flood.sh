#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 1,000 idle TCP sockets, 100 slowloris connections and 256 silent TLS connections on one stolen
# certificate, reopened as fast as the hub drops them, while a real kiosk keeps enrolling and is
# answered in under 1 s every round. Control: the gates (T4b). PASO_FLOOD=S,N for a smaller one.
. "$(dirname "$0")/lib.sh"
[ -x "$B/test_flood" ] || { echo "scenario: $B/test_flood missing: build the tests" >&2; exit 2; }
"$B/test_flood" 2>&1 | grep -E "round|before|worst|rounds|OK|FAIL|timed out|refused" |
  grep -vE "handshake: no detail" | tail -40
