#!/usr/bin/env bash
# A property-based run of schemathesis (from PyPI) over the served OpenAPI document
# (issue 9): `mokdan serve` on a random free port with a fresh SQLite database, signed in as
# a business owner through POST /api/auth/login, every operation of /api/openapi.json fuzzed
# with a bounded number of examples. Fails on any 5xx and on any response that does not
# match the document (status code, content type, body schema).
#
# Closes with "N passed, M failed" (API operations), which scripts/test.sh adds to its
# summary. Needs the debug binary: cargo build -p mokdan.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

VERSION=4.32.5
VENV="${MOKDAN_SCHEMATHESIS_VENV:-$HOME/.cache/mokdan-schemathesis-venv}"
EXAMPLES="${MOKDAN_SCHEMATHESIS_EXAMPLES:-25}"
SEED="${MOKDAN_SCHEMATHESIS_SEED:-9}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="${MOKDAN_BIN:-$TARGET/debug/mokdan}"

fail() { echo "schemathesis: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

[ -x "$BIN" ] || fail "mokdan binary not found at $BIN (build it first: cargo build -p mokdan)"

# schemathesis in its own virtualenv outside the clone, installed only when missing.
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "version $VERSION\$"; then
  echo "installing schemathesis $VERSION into $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV" || fail "cannot make a Python virtualenv (python3-venv)"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$VERSION" \
    || fail "cannot install schemathesis $VERSION from PyPI"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mokdan-schemathesis-XXXXXX")"
server=""
sim=""
cleanup() {
  for pid in $server $sim; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export MOKDAN_DATA_DIR="$work/data"
export DATABASE_URL="sqlite://$work/data/mokdan.db"
export MOKDAN_ENV=development
export RUST_LOG="${RUST_LOG:-warn}"
unset PORT PUBLIC_BASE_URL TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_API_BASE OPENAI_API_KEY \
  WHATSAPP_PROVIDER 2>/dev/null || true
mkdir -p "$MOKDAN_DATA_DIR"

# One business with its owner and an agent, and an operator. The owner's pass fuzzes every
# operation; the operator's pass those where an operator can do more (businesses, jobs, users).
OWNER_EMAIL=fuzz-owner@schemathesis.test
OWNER_PASSWORD=fuzz-owner-password-1
OPERATOR_EMAIL=fuzz-operator@schemathesis.test
OPERATOR_PASSWORD=fuzz-operator-password-1
business=$("$BIN" business add --name 'עסק לבדיקות' --phone 03-7654321 | tail -n1)
owner_id=$(printf '%s\n' "$OWNER_PASSWORD" \
  | "$BIN" user add --email "$OWNER_EMAIL" --role owner --business "$business" | tail -n1)
printf 'agent-password-1\n' \
  | "$BIN" user add --email agent@schemathesis.test --role agent --business "$business" >/dev/null
operator_id=$(printf '%s\n' "$OPERATOR_PASSWORD" \
  | "$BIN" user add --email "$OPERATOR_EMAIL" --role operator | tail -n1)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The sim's fake Twilio REST API, so placing calls and sending WhatsApp messages work as in
# production instead of answering 503 "not configured".
export TWILIO_ACCOUNT_SID="AC$(printf '0%.0s' $(seq 1 32))"
export TWILIO_AUTH_TOKEN=schemathesis-twilio-auth-token
sim_port=$(free_port)
"$BIN" sim serve --port "$sim_port" >"$work/sim.log" 2>&1 &
sim=$!

port=$(free_port)
base="http://127.0.0.1:$port"
MOKDAN_LISTEN="127.0.0.1:$port" TWILIO_API_BASE="http://127.0.0.1:$sim_port" WHATSAPP_PROVIDER=twilio \
  "$BIN" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 150); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; fail "mokdan serve exited"; }
  sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null || fail "mokdan serve did not become healthy"

login() {
  curl -fsS -H 'Content-Type: application/json' -d "{\"email\":\"$1\",\"password\":\"$2\"}" \
    "$base/api/auth/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
owner_token=$(login "$OWNER_EMAIL" "$OWNER_PASSWORD") || fail "cannot sign in as the owner"
operator_token=$(login "$OPERATOR_EMAIL" "$OPERATOR_PASSWORD") || fail "cannot sign in as the operator"

# One pass: schemathesis over the document with this bearer token and user id (the hooks
# skip the few requests that would end the pass's own session). Signing out would end it
# too: that operation is left to the auth tests.
status=0
lost=0
fuzz_as() {
  local name=$1 token=$2 self=$3
  shift 3
  echo "--- schemathesis as $name ---"
  # From the scratch folder: schemathesis keeps its cache of failures in .schemathesis/.
  (cd "$work" && MOKDAN_FUZZ_USER_ID="$self" PYTHONPATH="$repo/scripts" \
    SCHEMATHESIS_HOOKS=schemathesis_hooks "$VENV/bin/schemathesis" run "$base/api/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /api/auth/logout \
    --max-examples "$EXAMPLES" --seed "$SEED" --workers 2 --no-color --request-timeout 20 \
    --report junit --report-junit-path "$work/junit-$name.xml" "$@") || status=$?
  mkdir -p "$repo/test-output/schemathesis"
  cp "$work/junit-$name.xml" "$repo/test-output/schemathesis/" 2>/dev/null || true
  # A pass whose session ended half-way would have tested little past that point.
  if ! curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$base/api/auth/me"; then
    echo "schemathesis: the $name's session ended during the run" >&2
    lost=$((lost + 1))
    status=1
  fi
}
fuzz_as owner "$owner_token" "$owner_id"
# Last, as it may delete the business the owner's pass worked in.
fuzz_as operator "$operator_token" "$operator_id" --include-tag-regex '^(businesses|jobs|users)$'

# Server-side errors, if any, with their log lines.
if grep -qiE ' (ERROR|panicked)' "$work/serve.log"; then
  echo "--- server log (errors) ---"
  grep -iE ' (ERROR|panicked)' "$work/serve.log" | head -n 40
fi

# One result per API operation and pass, from the JUnit reports.
counts=$(python3 - "$work"/junit-*.xml <<'PY' || echo "0 1"
import sys, xml.etree.ElementTree as ET
passed = failed = 0
for path in sys.argv[1:]:
    for c in ET.parse(path).getroot().iter("testcase"):
        if c.find("failure") is not None or c.find("error") is not None:
            failed += 1
        else:
            passed += 1
print(passed, failed)
PY
)
read -r passed failed <<<"$counts"
failed=$((failed + lost))
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$status"
