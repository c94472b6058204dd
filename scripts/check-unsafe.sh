#!/usr/bin/env bash
# Unsafe Swift (raw pointers, OpaquePointer handles, memory rebinding) lives only at the C
# boundaries: EnvAgentCore's Git/ (libgit2), Crypto/ (libsodium) and System/ (libc), and the
# libc-only client–agent protocol (AgentWire, and the thin `agent` client, which links nothing
# else so it starts fast). Everything else reads bytes through Span, [UInt8] and closures.
# Exits 1 listing every use elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='Unsafe|withUnsafe|unsafeBitCast|OpaquePointer|assumingMemoryBound|bindMemory|withMemoryRebound|\.pointer\b'
allowed='^Sources/(EnvAgentCore/(Git|Crypto|System)|AgentWire|agent)/'
found=$(grep -rnE "$pattern" Sources --include='*.swift' | grep -vE "$allowed" || true)
if [ -n "$found" ]; then
    echo "check-unsafe: unsafe code outside the C boundaries (Git/, Crypto/, System/, AgentWire, agent):" >&2
    echo "$found" >&2
    exit 1
fi
echo "check-unsafe: unsafe code only in Git/, Crypto/, System/, AgentWire and agent" >&2
