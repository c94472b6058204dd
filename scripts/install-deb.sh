#!/usr/bin/env bash
# Installs EnvAgent's Debian package with apt, which also installs its Depends (libgit2,
# libssh2, libsodium). The GitHub Action (action.yml) runs it; it works anywhere on Debian 12.
#   ENVAGENT_DEB          a URL (https://, file://) or a path of the .deb; else the release asset
#                         envagent_<version>_<arch>.deb of ENVAGENT_REPOSITORY's tag v<version>
#   ENVAGENT_VERSION      that version (default: EnvAgentVersion.number of this checkout, so an
#                         action used at tag v0.1.0 installs 0.1.0)
#   ENVAGENT_REPOSITORY   owner/name on GitHub holding the releases
#   ENVAGENT_INSTALL_ROOT unpack into this folder (dpkg -x) instead of installing: no root, no
#                         dependencies installed (what scripts/package-test.sh uses)
# Usage: scripts/install-deb.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deb=${ENVAGENT_DEB:-}
if [ -z "$deb" ]; then
    version=${ENVAGENT_VERSION:-$(sed -n 's/.*static let number = "\(.*\)".*/\1/p' "$here/Sources/EnvAgentCore/Version.swift")}
    version=${version#v}
    repository=${ENVAGENT_REPOSITORY:-}
    [ -n "$version" ] && [ -n "$repository" ] || {
        echo "install-deb: name the package (ENVAGENT_DEB: a URL or path) or the release (ENVAGENT_VERSION and ENVAGENT_REPOSITORY)" >&2
        exit 64
    }
    deb="https://github.com/$repository/releases/download/v$version/envagent_${version}_$(dpkg --print-architecture).deb"
fi

sudo=()
[ "$(id -u)" = 0 ] || [ -n "${ENVAGENT_INSTALL_ROOT:-}" ] || sudo=(sudo)
work=$(mktemp -d "${TMPDIR:-/tmp}/envagent-deb-XXXXXX")
trap 'rm -rf "$work"' EXIT
case $deb in
    *://*)
        if ! command -v curl >/dev/null 2>&1; then # Debian's container images come without it
            "${sudo[@]}" apt-get update -qq
            DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq curl ca-certificates >/dev/null
        fi
        echo "install-deb: downloading $deb" >&2
        curl -fsSL --retry 3 -o "$work/envagent.deb" "$deb"
        file=$work/envagent.deb ;;
    *)
        file=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb") ;;
esac
dpkg-deb --field "$file" Package | grep -qx envagent || { echo "install-deb: $deb is not EnvAgent's package" >&2; exit 65; }

if [ -n "${ENVAGENT_INSTALL_ROOT:-}" ]; then
    mkdir -p "$ENVAGENT_INSTALL_ROOT"
    dpkg -x "$file" "$ENVAGENT_INSTALL_ROOT"
    echo "install-deb: unpacked $(dpkg-deb --field "$file" Version) into $ENVAGENT_INSTALL_ROOT" >&2
else
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$file" >/dev/null
    agent --version >&2
fi
