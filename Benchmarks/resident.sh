#!/usr/bin/env bash
# The resident agent's benchmarks (issue 15): every command through a started agent, and the
# same command in-process (AGENT_NO_DAEMON=1) beside it. Usage: bash Benchmarks/resident.sh
#   AGENT_BIN=/path/to/agent  skip the build (agent-core must be beside it)
#   BENCH_PAIRS=N, BENCH_QUICK=1, BENCH_TMPDIR, BENCH_KEEP=1
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
if [[ -z "${AGENT_BIN:-}" ]]; then
    echo "building agent and agent-core (release, static Swift runtime, scratch path .build-bench) ..." >&2
    for product in agent agent-core; do
        (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path "$root/.build-bench" --product "$product" >&2)
    done
    AGENT_BIN="$root/.build-bench/release/agent"
fi
export AGENT_BIN
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) cores  $(git --version)  source $(git -C "$root" rev-parse --short HEAD)"
exec python3 "$here/resident.py"
