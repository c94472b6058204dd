#!/usr/bin/env bash
# Side-by-side benchmark of this checkout against an earlier commit (default: the last commit
# before store format 2), both built the same way, on update-1k, render-1k and render-10k.
# Usage: bash Benchmarks/compare.sh [BASE-COMMIT]
#   BENCH_PAIRS=N  pairs per benchmark (default 31)
# Prints one line per benchmark: each binary's median and the median pairwise ratio new/base.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
base="${1:-3fbe70f}"
worktree="$root/.build-bench-base/src"
if [[ ! -d "$worktree" ]]; then
    mkdir -p "$root/.build-bench-base"
    git -C "$root" worktree add --detach "$worktree" "$base" >&2
else
    git -C "$worktree" checkout -q --detach "$base"
fi
echo "building the base ($base) and this checkout (release, static Swift runtime) ..." >&2
(cd "$worktree" && swift build -c release --static-swift-stdlib --scratch-path "$root/.build-bench-base/build" --product agent >&2)
for product in agent agent-core; do
    (cd "$root" && swift build -c release --static-swift-stdlib --scratch-path "$root/.build-bench" --product "$product" >&2)
done
export BASE_BIN="$root/.build-bench-base/build/release/agent" AGENT_BIN="$root/.build-bench/release/agent"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) cores  base $(git -C "$worktree" rev-parse --short HEAD)  new $(git -C "$root" rev-parse --short HEAD)$([[ -n "$(git -C "$root" status --porcelain -- Sources)" ]] && echo ' (+ uncommitted changes in Sources/)' || true)"
exec python3 "$here/compare.py"
