#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh) and checks it as a user gets it: unpacked into
# a throwaway root (dpkg -x, through scripts/install-deb.sh as the GitHub Action runs it), the
# installed `agent` runs --version, keygen, init, create and render — in-process and through a
# resident agent — with an empty environment (PATH is the throwaway bin folder alone, no
# toolchain, no LD_LIBRARY_PATH); ldd shows no Swift runtime library and only libraries of the
# packages in Depends; completions, man pages (rendered by man -l), units, hooks and docs are
# there; lintian reports no error; action.yml parses and its steps name files that exist.
# Usage: scripts/package-test.sh      (ends with "package-test: N passed, N failed")
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
need=()
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v nroff >/dev/null 2>&1 || need+=(groff-base)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
    echo "package-test: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

SECONDS=0
deb=$(bash scripts/package.sh)
echo "package-test: built $deb in ${SECONDS}s" >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/envagent-package-test-XXXXXX")
cleanup() {
    [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1" >&2; }
check() { # DESCRIPTION COMMAND… : passes when the command succeeds
    local description=$1; shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}

root=$work/root
ENVAGENT_DEB=$deb ENVAGENT_INSTALL_ROOT=$root bash scripts/install-deb.sh
bin=$root/usr/bin
version=$(dpkg-deb --field "$deb" Version)
depends=$(dpkg-deb --field "$deb" Depends)
echo "package-test: Version $version, Depends: $depends"
check "the .deb is named by the package version" test "$(basename "$deb")" = "envagent_${version}_$(dpkg --print-architecture).deb"
check "the version is EnvAgentVersion.number" \
    grep -qF "static let number = \"$version\"" Sources/EnvAgentCore/Version.swift

# The installed binaries with nothing of this machine's environment: no toolchain on PATH, no
# LD_LIBRARY_PATH, a new HOME, a socket path where no resident agent answers.
mkdir -p "$work/home" "$work/project" "$work/run"
chmod 0700 "$work/run"
installed() { # COMMAND… (in $work/project)
    (cd "$work/project" && env -i PATH="$bin" HOME="$work/home" AGENT_SOCK="$work/run/agent.sock" "$@")
}
expected_version=$(printf 'agent %s\nlibgit2 %s\nlibsodium %s' "$version" \
    "$(pkg-config --modversion libgit2)" "$(pkg-config --modversion libsodium)")
check "agent --version names the package, libgit2 and libsodium" \
    test "$(installed agent --version)" = "$expected_version"
check "agent serve --version (agent-serve, found beside agent)" \
    test "$(installed agent serve --version)" = "$expected_version"
keygen() { installed agent keygen >/dev/null 2>&1 && test -s "$work/home/.config/envagent/identity"; }
create() { printf %s package-test-value | installed agent create PACKAGE_TEST_KEY >/dev/null; }
rendered() { # ARGS… of agent render: its output holds the value
    local output
    output=$(installed agent render "$@") && grep -qx "PACKAGE_TEST_KEY='package-test-value'" <<<"$output"
}
check "agent keygen writes the identity" keygen
quiet() { "$@" >/dev/null; }
check "agent init creates a store (git init included)" quiet installed agent init
check "agent create stores a value" create
check "agent render prints the value" rendered
check "agent render -o .env writes it" \
    bash -c "cd '$work/project' && env -i PATH='$bin' HOME='$work/home' agent render -o .env && grep -qx \"PACKAGE_TEST_KEY='package-test-value'\" .env"

# The same through a resident agent started from the package.
if start=$(installed agent start 2>&1); then
    AGENT_PID=$(sed -n 's/^AGENT_PID=\([0-9]*\).*/\1/p' <<<"$start")
    check "agent status sees the resident agent" bash -c "env -i PATH='$bin' HOME='$work/home' AGENT_SOCK='$work/run/agent.sock' agent status | grep -q '$AGENT_PID'"
    check "agent --version through the resident agent" test "$(installed agent --version)" = "$expected_version"
    check "agent render through the resident agent" rendered
    installed agent stop >/dev/null 2>&1 && AGENT_PID=
else
    fail "agent start: $start"
fi

# Shared libraries: no Swift runtime; every library a binary names (NEEDED) belongs to a
# package in Depends.
owner_of() { # PATH: the package that installed it (a /lib path may be registered under /usr/lib)
    local candidate resolved
    resolved=$(readlink -f "$1")
    for candidate in "$1" "$resolved" "${resolved#/usr}" "/usr$1"; do
        [ -n "$candidate" ] && dpkg -S "$candidate" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return
    done
    true
}
dependency_packages=$(printf '%s\n' "$depends" | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' | grep -v '^$')
for binary in agent agent-core agent-serve; do
    libraries=$(ldd "$bin/$binary")
    check "$binary: ldd finds every library" bash -c "! grep -q 'not found' <<<'$libraries'"
    check "$binary: no Swift runtime library" \
        bash -c "! grep -Eq 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|/opt/swift|/usr/lib/swift' <<<'$libraries'"
    for needed in $(readelf -d "$bin/$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        # "libc.so.6 => /lib/…/libc.so.6 (0x…)", or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        path=$(awk -v name="$needed" '$1 == name { print $3 } $1 ~ "/" name "$" { print $1 }' <<<"$libraries" | head -1)
        owner=$(owner_of "$path")
        check "$binary: $needed is from $owner, in Depends" grep -qx "$owner" <<<"$dependency_packages"
    done
done
check "agent (the thin client) links no libgit2 or libsodium" bash -c "! ldd $bin/agent | grep -Eq 'libgit2|libsodium'"
for library in libgit2 libssh2 libsodium libc6; do
    check "Depends names $library" grep -q "^$library" <<<"$dependency_packages"
done

# Completions, man pages, units, hooks, docs.
share=$root/usr/share
check "bash completion" bash -c "bash -n $share/bash-completion/completions/agent && grep -q '_agent' $share/bash-completion/completions/agent"
check "zsh completion" grep -q '^#compdef agent' "$share/zsh/vendor-completions/_agent"
check "fish completion" grep -q "^complete -c 'agent'\|^complete -c agent" "$share/fish/vendor_completions.d/agent.fish"
for page in agent agent.render agent.keygen agent.recipients.add agent-serve agent-core; do
    check "man page $page.1.gz" test -e "$share/man/man1/$page.1.gz"
done
man_text=$(MANWIDTH=80 man -l "$share/man/man1/agent.render.1.gz" 2>"$work/man.err" | col -b)
check "man -l renders agent.render(1) without warnings" \
    bash -c "grep -q 'agent render' <<<'${man_text//\'/}' && grep -q NAME <<<'${man_text//\'/}' && ! test -s $work/man.err"
check "the resident agent's user unit" grep -q '^ExecStart=/usr/bin/agent start' "$root/usr/lib/systemd/user/envagent-agent.service"
for file in usr/share/envagent/hooks/pre-commit usr/share/envagent/hooks/post-checkout usr/share/envagent/hooks/post-merge \
    usr/share/envagent/hooks/post-rewrite usr/share/doc/envagent/README.md.gz usr/share/doc/envagent/copyright \
    usr/share/doc/envagent/changelog.gz usr/share/doc/envagent/examples/envagent-watch.service; do
    check "$file" test -s "$root/$file"
done
check "hook scripts are the repository's" diff -r -x README.md -x ShippedHooks.swift hooks "$root/usr/share/envagent/hooks"

# lintian: no error (warnings are printed, not failed on).
# (The generated man pages name their command "agent render", which lexgrog does not read as a
# whatis entry: a bad-whatis-entry warning per subcommand page.) One line per tag.
lintian_output=$(lintian --fail-on error --display-level '>=warning' "$deb" 2>&1) && lintian_status=0 || lintian_status=$?
grep -E '^[EW]: ' <<<"$lintian_output" | awk '{ print $1, $3 }' | sort | uniq -c | sed 's/^/lintian: /' || true
check "lintian reports no error" test "$lintian_status" = 0

# The GitHub Action: its YAML parses, every file its steps name exists, the environment step
# masks and exports the identity; the CI samples parse and use only inputs the action has.
check "action.yml and the CI samples parse; their steps name existing files and inputs" python3 - <<'PYTHON'
import os, re, sys, yaml
action = yaml.safe_load(open("action.yml"))
assert action["runs"]["using"] == "composite", action["runs"]
inputs = set(action["inputs"])
for step in action["runs"]["steps"]:
    assert step.get("shell") == "bash" and "run" in step, step
    for path in re.findall(r'\$GITHUB_ACTION_PATH/([^"\s]+)', step["run"]):
        assert os.path.isfile(path), f"{step['name']}: {path} does not exist"
    for name in re.findall(r"inputs\.([A-Za-z0-9_-]+)", yaml.safe_dump(step)):
        assert name in inputs, f"{step['name']}: unknown input {name}"
workflow = yaml.safe_load(open("samples/ci/github-actions.yml"))
uses = [step for job in workflow["jobs"].values() for step in job["steps"] if "envagent@" in step.get("uses", "")]
assert uses, "samples/ci/github-actions.yml does not use the action"
for step in uses:
    assert set(step.get("with", {})) <= inputs, step["with"]
gitlab = yaml.safe_load(open("samples/ci/gitlab-ci.yml"))
assert any(".deb" in line for line in gitlab["test"]["before_script"]), gitlab
PYTHON
mkdir -p "$work/action-home"
key=$(sed -n '/^AGENT-SECRET-KEY-/p' "$work/home/.config/envagent/identity" | head -1)
[ -n "$key" ] || key=AGENT-SECRET-KEY-PACKAGE-TEST
action_output=$(env -i PATH="$PATH" HOME="$work/action-home" GITHUB_ENV="$work/github-env" IDENTITY="$key" \
    ENVIRONMENT=ci WORKSPACE="$work/project" bash scripts/action-environment.sh)
check "the action masks the identity before exporting it" test "$action_output" = "::add-mask::$key"
check "the action exports AGENT_IDENTITY and AGENT_ENV" \
    test "$(cat "$work/github-env")" = "$(printf 'AGENT_IDENTITY=%s\nAGENT_ENV=ci' "$key")"
check "the action marks the workspace safe" grep -qF "$work/project" "$work/action-home/.gitconfig"
check "the action's install step takes a URL too" \
    env ENVAGENT_DEB="file://$PWD/$deb" ENVAGENT_INSTALL_ROOT="$work/root-url" bash scripts/install-deb.sh
check "the URL install unpacked the same agent" cmp -s "$bin/agent-core" "$work/root-url/usr/bin/agent-core"

echo "package-test: ${SECONDS}s"
echo "package-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
