#!/usr/bin/env bash
# Installs what EnvAgent builds and runs with on Debian (as root): libgit2, libssh2, libsodium,
# pkg-config and git. Only missing packages are installed. The Swift 6 toolchain must be on PATH.
set -euo pipefail
missing=()
for package in libgit2-dev libssh2-1-dev libsodium-dev pkg-config git ca-certificates; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "setup: a Swift 6 toolchain is required (swift not on PATH)" >&2; exit 1; }
