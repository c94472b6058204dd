#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root) and runs every test: unit, store and CLI tests
# against real git repositories, libgit2 and libsodium; API tests against a live server; and the
# API contract test (schemathesis from PyPI against `agent serve` and openapi.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Unsafe Swift only at the C boundaries (docs/architecture.md, "Where unsafe code lives").
bash scripts/check-unsafe.sh
# The renderer's tests read .env files back with python-dotenv.
if ! python3 -c 'import dotenv' 2>/dev/null; then
    python3 -m pip install -q python-dotenv 2>/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dotenv >/dev/null
fi
# The k8s render test parses the manifest with PyYAML.
if ! python3 -c 'import yaml' 2>/dev/null; then
    python3 -m pip install -q pyyaml 2>/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
fi
# The ssh:// sync test starts its own sshd on 127.0.0.1 and uses ssh-keygen, ssh-agent, ssh-add.
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-agent >/dev/null 2>&1; then
    echo "test: installing openssh-server openssh-client" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null; } \
        || echo "test: could not install OpenSSH; the ssh:// sync test will say it is skipped" >&2
fi
# The post-checkout test lists the files a no-op hook opens with strace (without it, it checks
# only the outcomes).
command -v strace >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null \
    || echo "test: could not install strace; the post-checkout no-op test checks outcomes only" >&2
swift build --build-tests 2>&1 | grep -v "^\[" || true
bash scripts/contract-test.sh .build/debug/agent
# The Debian package: a release build (--static-swift-stdlib, about 3 min here), man pages from
# the debug products built above, unpacked into a temp folder and run with an empty environment;
# lintian on it.
bash scripts/package-test.sh
# Two runs: the API tests await a live server on Swift's cooperative pool (one thread per
# core), which the CLI tests' long blocking processes would otherwise hold for a minute or more
# on a 2-core machine, so timing-sensitive server tests starved in one combined run.
run_tests() { # LOG SWIFT-TEST-ARGS…
    local log=$1; shift
    swift test --skip-build "$@" 2>&1 | tee "$log" | grep -vE "^(◇|↳|✔ Test [a-zA-Z]+\(\) passed)" || true
    # The pipe above hides swift test's exit code; read the verdict from its own closing line.
    grep -qE "^✔ Test run with [0-9]+ tests? .* passed" "$log"
}
# EnvAgentCore as a versioned dependency (no unsafeFlags): a tiny package depending on a tagged
# clone builds (about 1.5 min here, mostly resolving the package graph).
bash scripts/versioned-dependency-test.sh
run_tests /tmp/envagent-test-api.log --filter EnvAgentServerTests
run_tests /tmp/envagent-test.log --skip EnvAgentServerTests
# The CLI suites again, every command through a resident agent (one per sandbox), with the same
# assertions: output, exit codes and behaviour must not depend on whether an agent runs.
ENVAGENT_TEST_AGENT=1 run_tests /tmp/envagent-test-agent.log --filter AgentCLITests
