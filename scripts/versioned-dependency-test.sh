#!/usr/bin/env bash
# Shows that EnvAgentCore can be used as a versioned dependency: SwiftPM refuses a tagged
# package whose targets use `unsafeFlags`. Clones this repository's HEAD (committed work only)
# into a temp folder, tags it 9.9.9, and builds and runs a tiny package that depends on it
# `from: "9.9.9"` through a file URL. Only EnvAgentCore's own targets are compiled (it depends
# on no other package); SwiftPM still resolves the whole graph (swift-nio, Hummingbird, …),
# from its shared repository cache when it has them. Against the tree before issue 15 it fails
# with "the target 'CAgentShims' in product 'EnvAgentCore' contains unsafe build flags".
# Usage: scripts/versioned-dependency-test.sh
set -euo pipefail
source_repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/envagent-versioned-XXXXXX")
trap 'rm -rf "$work"' EXIT
SECONDS=0

git clone -q "$source_repo" "$work/EnvAgent"
git -C "$work/EnvAgent" -c user.name=test -c user.email=test@example.com tag -a 9.9.9 -m "versioned-dependency test"

mkdir -p "$work/app/Sources/App"
cat > "$work/app/Package.swift" <<PACKAGE
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "App",
    dependencies: [.package(url: "file://$work/EnvAgent", from: "9.9.9")],
    targets: [
        .executableTarget(name: "App", dependencies: [.product(name: "EnvAgentCore", package: "EnvAgent")]),
    ]
)
PACKAGE
cat > "$work/app/Sources/App/main.swift" <<'SWIFT'
import EnvAgentCore

// libsodium and libgit2 both linked and callable from a dependent package.
let identity = try Identity.generate()
let repository = try GitRepository.initialize(CommandLine.arguments[1], bare: true)
print(identity.publicKeyText.hasPrefix("agent-pub-") && repository.isBare ? "ok" : "unexpected")
SWIFT

cd "$work/app"
if ! swift build --product App >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "versioned-dependency test: FAILED to build a package depending on EnvAgent 9.9.9" >&2
    exit 1
fi
result=$("$(swift build --product App --show-bin-path)/App" "$work/repo.git")
[ "$result" = ok ] || { echo "versioned-dependency test: the dependent printed '$result'" >&2; exit 1; }
modules=$(grep -oE '^\[[0-9]+/[0-9]+\] Compiling [A-Za-z0-9_]+' "$work/build.log" | awk '{print $3}' | sort -u | tr '\n' ' ')
echo "versioned-dependency test: passed in ${SECONDS} s; compiled: ${modules}" >&2
