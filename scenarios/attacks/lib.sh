# SPDX-License-Identifier: Apache-2.0
# Shared by the attack scenarios: a fresh deployment in a temporary directory, a hub on an
# ephemeral loopback port, and a way to show the audit entries that record what happened.
set -euo pipefail
B=${PASO_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
for p in paso-hub paso-kiosk paso-audit; do
  [ -x "$B/$p" ] || { echo "scenario: $B/$p missing: build first (cmake --build build)" >&2; exit 2; }
done
W=$(mktemp -d /tmp/paso-scenario-XXXXXX)
D=$W/hub
hub=
cleanup() { [ -n "$hub" ] && kill "$hub" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

deploy() {
  "$B/paso-hub" init "$D" --name scenario >/dev/null
  for k in "$@"; do "$B/paso-hub" issue "$D" --kiosk "$k" >/dev/null; done
}

start_hub() {
  rm -f "$W/port"
  "$B/paso-hub" serve "$D" --port 0 --port-file "$W/port" "$@" >>"$W/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 1 300); do [ -s "$W/port" ] && break; sleep 0.1; done
  [ -s "$W/port" ] || { echo "scenario: the hub did not start:" >&2; cat "$W/hub.log" >&2; exit 1; }
  port=$(cat "$W/port")
}

stop_hub() { kill -TERM "$hub"; wait "$hub" || true; hub=; }

# Audit entries whose JSON matches a pattern, one per line, shortened to what a reader needs.
audit_entries() {
  "$B/paso-audit" show "$D" --json | grep -E "$1" |
    sed -E 's/"policy_digest":"[0-9a-f]+",?//; s/"payload_digest":"[0-9a-f]+",?//' | cut -c1-240
}

say() { printf '%s\n' "$*"; }

# The attacker's client (tests/integration/paso_attack.c): paso-attack CMD --kiosk NAME [...]
# against this deployment's hub. Exits non-zero when an answer is not the promised refusal.
attack() {
  [ -x "$B/paso-attack" ] || { echo "scenario: $B/paso-attack missing: build the tests" >&2; exit 2; }
  local cmd=$1
  shift
  "$B/paso-attack" "$cmd" --deployment "$D" --port "$port" "$@"
}

