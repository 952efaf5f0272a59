#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine:
# installs the Debian packages the tests use, makes sure PostgreSQL is up,
# then checks formatting and lints and runs every test on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# Debian packages: espeak-ng speaks Hebrew for the caller and the agent; sox checks audio.
packages=(espeak-ng sox)
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
cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/mokdan-test.log | grep -Ev '^test .* \.\.\. ok$'
status=${PIPESTATUS[0]}
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' /tmp/mokdan-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' /tmp/mokdan-test.log | awk '{s+=$1} END {print s+0}')
echo
echo "$passed passed, $failed failed"
exit "$status"
