#!/usr/bin/env bash
# EnvAgent benchmark suite. Usage: bash Benchmarks/run.sh
#   AGENT_BIN=/path/to/agent  skip the build and benchmark that binary
#   BENCH_QUICK=1             smoke run (5 pairs, 200-update growth benchmark)
#   BENCH_PAIRS=N             pairs per timed benchmark
#   BENCH_ONLY=core|api       run only the core (CLI) or the HTTP API benchmarks
# The API benchmarks load the server with wrk (Debian package; installed here when missing).
# Prints one line per benchmark on stdout (progress/details on stderr). Exits 0 whether
# targets pass or fail; non-zero only if the build or a benchmarked command crashed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

if [[ "${BENCH_ONLY:-core,api}" == *api* ]] && ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package) for the API benchmarks ..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) >&2
fi
if [[ -z "${AGENT_BIN:-}" ]]; then
    echo "building agent and agent-serve (release, static Swift runtime, scratch path .build-bench) ..." >&2
    for product in agent agent-core; do
        (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path "$root/.build-bench" --product "$product" >&2)
    done
    if [[ "${BENCH_ONLY:-core,api}" == *api* ]]; then
        (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path "$root/.build-bench" --product agent-serve >&2)
    fi
    AGENT_BIN="$root/.build-bench/release/agent"
fi
if [[ ! -x "$AGENT_BIN" ]]; then
    echo "error: agent binary not found or not executable: $AGENT_BIN" >&2
    exit 2
fi
export AGENT_BIN

echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  host $(hostname)  $(nproc) cores  $(git --version)" 
echo "# source: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$root" && [[ -n "$(git status --porcelain -- Sources 2>/dev/null)" ]] && echo ' (+ uncommitted changes in Sources/)' || true)"
exec python3 "$here/bench.py"
