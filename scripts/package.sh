#!/usr/bin/env bash
# Builds dist/envagent_<version>_<arch>.deb for Debian 12 with dpkg-deb: the release `agent`,
# `agent-core` and `agent-serve` (built with --static-swift-stdlib: no Swift runtime library
# is needed; the shared libraries they link are found by dpkg-shlibdeps and become Depends),
# bash/zsh/fish completions, man pages from ArgumentParser's generate-manual plugin, the systemd
# units of samples/, the git hook scripts of hooks/, and README, changelog and copyright under
# /usr/share/doc/envagent. The version is what the built `agent --version` prints, i.e.
# EnvAgentVersion.number (Sources/EnvAgentCore/Version.swift).
# Usage: scripts/package.sh              prints the .deb's path on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null 2>&1 && continue
    echo "package: installing dpkg-dev binutils" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev binutils >/dev/null
    break
done
SECONDS=0
log=$(mktemp "${TMPDIR:-/tmp}/envagent-package-XXXXXX.log")
work=$(mktemp -d "${TMPDIR:-/tmp}/envagent-package-XXXXXX")
trap 'rm -rf "$work" "$log"' EXIT
build() { # ARGS… (quiet unless it fails)
    "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "package: failed: $*" >&2; exit 1; }
}

# One release build of every product, with the Swift runtime linked in.
release=(-c release --static-swift-stdlib)
build swift build "${release[@]}"
bin=$(swift build "${release[@]}" --show-bin-path)
echo "package: release build ${SECONDS}s" >&2

version=$("$bin/agent-core" --version | sed -n '1s/^agent //p')
[[ $version =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || { echo "package: agent --version printed no version" >&2; exit 1; }
arch=$(dpkg --print-architecture)
# Dates in the package (changelog, man pages, file times) are the last commit's: the same tree
# packs to the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
maintainer="${DEBFULLNAME:-EnvAgent maintainers} <${DEBEMAIL:-$(git log -1 --format=%ae 2>/dev/null || echo maintainers@localhost)}>"
root=$work/root
doc=$root/usr/share/doc/envagent

# Binaries, stripped as dh_strip does (lintian refuses unstripped ones).
for name in agent agent-core agent-serve; do
    install -D -m 0755 "$bin/$name" "$root/usr/bin/$name"
    strip --remove-section=.comment --remove-section=.note "$root/usr/bin/$name"
done

# Completions: the command users type is `agent` (agent-core's command name).
core=$root/usr/bin/agent-core
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
# (bash-completion sources the file: no #! line.)
"$core" --generate-completion-script bash | sed '1{/^#!/d}' >"$root/usr/share/bash-completion/completions/agent"
"$core" --generate-completion-script zsh >"$root/usr/share/zsh/vendor-completions/_agent"
"$core" --generate-completion-script fish >"$root/usr/share/fish/vendor_completions.d/agent.fish"

# Man pages: ArgumentParser's plugin, one page per command (agent.1, agent.render.1, …). It
# builds every product, then runs generate-manual on each executable that uses ArgumentParser
# (agent-core, agent-serve) into its work folder. It cannot pass --static-swift-stdlib, so in
# release it would rebuild (minutes) and overwrite the binaries above: the debug products, which
# scripts/test.sh builds anyway, have the same commands and options, so they are used.
manual_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
build swift package --allow-writing-to-package-directory \
    generate-manual --configuration debug --multi-page --date "$manual_date" --authors "$maintainer"
manuals=.build/plugins/GenerateManual/outputs
man1=$root/usr/share/man/man1
install -d "$man1"
for page in "$manuals"/agent-core/*.1; do
    gzip -9n <"$page" >"$man1/$(basename "$page").gz"
done
# `agent serve` passes its options to agent-serve: that executable's page lists them.
gzip -9n <"$manuals/agent-serve/agent serve.1" >"$man1/agent.serve.1.gz"
ln -s agent.serve.1.gz "$man1/agent-serve.1.gz"
ln -s agent.1.gz "$man1/agent-core.1.gz"
echo "package: man pages ${SECONDS}s" >&2

# systemd: the resident agent is a user unit (systemctl --user enable --now envagent-agent);
# the sync/watch units name a service user and a checkout, so they are examples to copy.
install -D -m 0644 samples/envagent-agent.service "$root/usr/lib/systemd/user/envagent-agent.service"
install -d "$doc/examples/ci"
install -m 0644 samples/envagent-watch.service samples/envagent-sync.service samples/envagent-sync.timer \
    samples/example.env "$doc/examples/"
install -m 0644 samples/ci/* "$doc/examples/ci/"
# The git hooks `agent hooks install` writes (also embedded in the binary), for hand installs.
install -d "$root/usr/share/envagent/hooks"
install -m 0755 hooks/pre-commit hooks/post-checkout hooks/post-merge hooks/post-rewrite "$root/usr/share/envagent/hooks/"
install -m 0644 hooks/README.md "$root/usr/share/envagent/hooks/README.md"

# Documentation: README (compressed, as policy asks of files over 4 kB), changelog, copyright.
gzip -9n <README.md >"$doc/README.md.gz"
gzip -9n <docs/format.md >"$doc/format.md.gz"
cat >"$work/changelog" <<CHANGELOG
envagent ($version) unstable; urgency=medium

  * Release $version: see /usr/share/doc/envagent/README.md.gz.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGELOG
gzip -9n <"$work/changelog" >"$doc/changelog.gz"
install -m 0644 packaging/copyright "$doc/copyright"

# Depends: the packages of the shared libraries the binaries link (libgit2, libssh2,
# libsodium, libc, …), found by dpkg-shlibdeps from the installed -dev packages' shlibs.
mkdir -p "$work/shlibs/debian"
printf 'Source: envagent\n\nPackage: envagent\nArchitecture: any\n' >"$work/shlibs/debian/control"
# (It warns of SwiftPM's RUNPATH $ORIGIN, which finds nothing here, and of the temp folder.)
depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$root"/usr/bin/agent* 2>"$log") || { cat "$log" >&2; exit 1; }
depends=${depends#shlibs:Depends=}
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d -m 0755 "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: envagent
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: git
Section: utils
Priority: optional
Description: encrypted secrets store inside a git repository
 EnvAgent keeps a project's secrets encrypted in its own git repository:
 values are sealed with libsodium and committed through libgit2, one commit
 per change, so the store travels, merges and is audited like code.
 Listings are masked; .env files, shell exports or a child process's
 environment are produced only for the names asked for. Team access works
 without a shared key, git hooks guard commits against leaks, and a local
 HTTP API serves the same operations.
CONTROL
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p dist
deb=dist/envagent_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "package: $deb (${SECONDS}s)" >&2
echo "$deb"
