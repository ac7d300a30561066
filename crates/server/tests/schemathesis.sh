#!/usr/bin/env bash
# Checks `code-mesh serve` against its own OpenAPI document with schemathesis (v4): generated
# requests to every operation but the endless streams must get no 5xx, and only the statuses,
# content types and bodies the document declares.
#
# The server runs in a temporary git workspace with its own CODE_MESH_HOME, its model being the
# testkit's scripted server with plenty of short replies, so prompts finish quickly and offline.
#
#   crates/server/tests/schemathesis.sh [extra schemathesis options...]
#
# Environment: MAX_EXAMPLES (default 30) per operation; REPORT_DIR keeps schemathesis' reports
# (JUnit and the NDJSON event log) and the servers' logs instead of deleting them.
set -euo pipefail
cd "$(dirname "$0")/../../.."

command -v schemathesis >/dev/null || {
  echo "schemathesis is not installed (pip install 'schemathesis>=4,<5'; .ci/run installs it)" >&2
  exit 2
}

cargo build -q -p code-mesh -p code-mesh-testkit
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
code_mesh="$target_dir/debug/code-mesh"
testkit="$target_dir/debug/code-mesh-testkit"

work="$(mktemp -d)"
testkit_pid=""
serve_pid=""
cleanup() {
  local status=$?
  # Killed servers exit with 143; that is not this script's outcome.
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if [ -n "$testkit_pid" ]; then kill "$testkit_pid" 2>/dev/null || true; wait "$testkit_pid" 2>/dev/null || true; fi
  if [ -n "${REPORT_DIR:-}" ]; then
    mkdir -p "$REPORT_DIR" && cp "$work"/*.log "$REPORT_DIR"/ 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

# Generated prompts (and the sessions' title requests) each take one turn; pairing is off since
# no turn calls a tool.
{
  echo 'pairing = "off"'
  for i in $(seq 1 3000); do
    printf '[[turn]]\ntext = "Reply %d."\n' "$i"
  done
} >"$work/script.toml"

"$testkit" "$work/script.toml" >"$work/testkit.log" 2>&1 &
testkit_pid=$!

# Waits for a `listening on URL` line in a log; prints URL.
listening_url() {
  local log="$1" pid="$2" line
  for _ in $(seq 1 300); do
    line="$(grep -m1 -o 'listening on http://[^ ]*' "$log" 2>/dev/null || true)"
    if [ -n "$line" ]; then
      echo "${line#listening on }"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "no 'listening on' line in $log:" >&2
  cat "$log" >&2
  return 1
}
model_url="$(listening_url "$work/testkit.log" "$testkit_pid")"

mkdir -p "$work/home" "$work/code-mesh-home" "$work/project"
git -C "$work/project" init --quiet
token="schemathesis-token-0123456789abcdef"
(
  cd "$work/project"
  exec env -i \
    PATH="$PATH" \
    HOME="$work/home" \
    CODE_MESH_HOME="$work/code-mesh-home" \
    OLLAMA_HOST=127.0.0.1:9 \
    OPENAI_BASE_URL="$model_url" \
    OPENAI_API_KEY=sk-test \
    "$code_mesh" serve --port 0 --token "$token" --sandbox off
) >"$work/serve.log" 2>&1 &
serve_pid=$!
base_url="$(listening_url "$work/serve.log" "$serve_pid")"
base_url="${base_url%%/#*}"
base_url="${base_url%/}"
echo "code-mesh serve at $base_url (model: $model_url)"

report=()
if [ -n "${REPORT_DIR:-}" ]; then
  report=(--report junit,ndjson --report-dir "$REPORT_DIR")
fi

schemathesis --no-color run "$base_url/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-path '/api/sessions/{id}/stream' \
  --exclude-path '/api/events' \
  --exclude-path '/api/sessions/{id}/ws' \
  --max-examples "${MAX_EXAMPLES:-30}" \
  --request-timeout 10 \
  --workers 2 \
  --seed 1 \
  "${report[@]}" \
  "$@"
