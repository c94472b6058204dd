#!/usr/bin/env bash
# Contract test of the HTTP API: runs the built `agent serve` on a throwaway store and lets
# schemathesis (from PyPI) check every operation of openapi.yaml against it — all checks, a
# bounded number of examples per operation. Fails on any 5xx or any response that does not
# conform to the document. Then checks that a CLI update is visible through the API at once.
# Usage: bash scripts/contract-test.sh [path/to/agent]   (default .build/debug/agent)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
agent="$(cd "$(dirname "${1:-.build/debug/agent}")" && pwd)/$(basename "${1:-.build/debug/agent}")"
examples="${CONTRACT_MAX_EXAMPLES:-50}"
schemathesis_version="4.32.5"

if ! python3 -c "import schemathesis, sys; sys.exit(schemathesis.__version__ != '$schemathesis_version')" 2>/dev/null; then
    echo "contract: installing schemathesis $schemathesis_version from PyPI" >&2
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$schemathesis_version" 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid"; wait "$server_pid" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_STATE_HOME="$work/home/.state"
export GIT_CONFIG_NOSYSTEM=1 AGENT_IDENTITY= AGENT_IDENTITY_FILE= AGENT_ENV=
mkdir -p "$HOME" "$work/repo"
git -C "$work/repo" init -q -b main
git -C "$work/repo" config user.name "Contract Test"
git -C "$work/repo" config user.email "contract@example.com"
"$agent" keygen >/dev/null 2>&1
"$agent" init --store "$work/repo" >/dev/null 2>&1
printf %s "sk-proj-contract-0123456789abcdef" | "$agent" create OPENAI_KEY --store "$work/repo" >/dev/null
printf %s "postgres://app:pw@db/app" | "$agent" create DATABASE_URL --store "$work/repo" >/dev/null
token="$("$agent" tokens create --scope write --scope reveal --label contract --store "$work/repo" 2>/dev/null)"

"$agent" serve --store "$work/repo" --listen 127.0.0.1:0 --rate-limit 0 --log-level warning 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do
    grep -q "^agent: serving " "$work/serve.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
done
base="$(sed -n 's/^agent: serving //p' "$work/serve.log" | head -1)"
[[ -n "$base" ]] || { echo "contract: the server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "contract: schemathesis $schemathesis_version against $base (all checks, at most $examples examples per operation)"

status=0
# From the work folder: schemathesis keeps a cache (.schemathesis/) in its current directory.
(cd "$work" && schemathesis --config-file "$root/scripts/schemathesis.toml" run "$base/openapi.yaml" \
    --checks all --max-examples "$examples" -H "Authorization: Bearer $token" \
    --no-color --request-timeout 30) >"$work/schemathesis.log" 2>&1 || status=$?
# The summary and any failure, not the per-phase progress.
sed -n '/^=* FAILURES =*$/,$p;/^=* SUMMARY =*$/,$p' "$work/schemathesis.log" | awk '!seen[$0]++' | tail -60
if [[ $status -ne 0 ]]; then
    echo "contract: schemathesis found problems (exit $status)" >&2
    tail -40 "$work/schemathesis.log" >&2
    exit 1
fi

# A CLI update made while the server runs is visible through the API at once.
masked() {
    python3 - "$base" "$token" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/v1/environments/dev/secrets", headers={"Authorization": "Bearer " + sys.argv[2]})
print([s["masked_value"] for s in json.load(urllib.request.urlopen(request)) if s["name"] == "CLI_CHECK"][0])
PY
}
printf %s "sk-proj-from-the-cli-abcdefg-123" | "$agent" set CLI_CHECK --store "$work/repo" >/dev/null
[[ "$(masked)" == "sk-pro••••123" ]] || { echo "contract: CLI create not visible through the API (got $(masked))" >&2; exit 1; }
printf %s "sk-proj-from-the-cli-zyxwvut-456" | "$agent" update CLI_CHECK --store "$work/repo" >/dev/null
[[ "$(masked)" == "sk-pro••••456" ]] || { echo "contract: CLI update not visible through the API (got $(masked))" >&2; exit 1; }

kill "$server_pid"
wait "$server_pid" || { echo "contract: the server did not exit cleanly on SIGTERM" >&2; exit 1; }
server_pid=""
git -C "$work/repo" fsck --strict --no-progress >/dev/null 2>&1 || { echo "contract: git fsck failed after the run" >&2; exit 1; }
# The token's secret: what follows `agt_<id>_` (base64url, so it may contain `_` itself).
secret="${token#agt_*_}"
[[ ${#secret} -ge 40 ]] || { echo "contract: unexpected token shape" >&2; exit 1; }
if grep -qF -e "sk-proj-contract" -e "$secret" "$work/serve.log"; then
    echo "contract: a value or the token appeared in the server log" >&2; exit 1
fi
echo "contract: passed (no 5xx, every response conforms; CLI update visible at once; clean shutdown; git fsck clean)"
