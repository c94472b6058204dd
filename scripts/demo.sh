#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root), builds agent and walks through the quick start on a
# throwaway store in a temp folder: keygen, init, create, update, list, render, run, team access
# (recipients add/remove with rotation, a write-only contributor, verify), sync to a second
# clone through a bare remote with a render target, the pre-commit leak guard, a forged
# recipient refused, history — every command after `agent start` through the resident agent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
for product in agent agent-core; do # the thin client, and every command in-process
    swift build --product "$product" 2>&1 | grep -E "error|warning|Compiling agent|Build complete" || true
done
agent="$PWD/.build/debug/agent"
export PATH="$PWD/.build/debug:$PATH" # the git hooks call `agent` by name
demo=$(mktemp -d /tmp/envagent-demo.XXXXXX)
trap '"$agent" stop >/dev/null 2>&1 || true; rm -rf "$demo"' EXIT
export XDG_CONFIG_HOME="$demo/config" AGENT_IDENTITY= AGENT_IDENTITY_FILE= AGENT_SOCK="$demo/agent-run/agent.sock"
cd "$demo" && mkdir app && cd app
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$agent" keygen
echo; echo '$ eval "$(agent start)"     # the resident agent: the identity unlocked once, commands run through it'
eval "$("$agent" start)"
step "$agent" init --name alice
printf 'sk-proj-abcdefghijklmnop789\n' > "$demo/openai.txt"
echo; echo '$ agent create OPENAI_KEY < openai.txt'
"$agent" create OPENAI_KEY < "$demo/openai.txt"
echo; echo "$ printf 'postgres://app:pw@db/app' | agent set DATABASE_URL"
printf 'postgres://app:pw@db/app' | "$agent" set DATABASE_URL
echo; echo "$ printf 'sk-proj-0123456789abcdefghi321' | agent update OPENAI_KEY"
printf 'sk-proj-0123456789abcdefghi321' | "$agent" update OPENAI_KEY
step "$agent" list
step "$agent" render DATABASE_URL
step "$agent" run OPENAI_KEY -- sh -c 'echo "the child sees a ${#OPENAI_KEY}-character OPENAI_KEY"'
echo; echo "# team access: Bob joins staging, a contributor without a key writes, Bob is removed (rotation)"
printf 'postgres://staging' | "$agent" set DATABASE_URL --env staging
bob=$(XDG_CONFIG_HOME="$demo/bob" "$agent" keygen 2>/dev/null)
step "$agent" recipients add "$bob" --name bob --env staging
echo; echo '$ XDG_CONFIG_HOME=$demo/bob agent render --env staging     # as Bob'
XDG_CONFIG_HOME="$demo/bob" "$agent" render --env staging
echo; echo "$ printf 'from-a-contractor-0000' | XDG_CONFIG_HOME=/nonexistent agent set PAYMENT_KEY --env staging   # no identity: write-only"
printf 'from-a-contractor-0000' | XDG_CONFIG_HOME="$demo/nobody" "$agent" set PAYMENT_KEY --env staging
echo; echo '$ XDG_CONFIG_HOME=/nonexistent agent list --env staging'
XDG_CONFIG_HOME="$demo/nobody" "$agent" list --env staging
step "$agent" recipients remove bob --env staging
echo; echo '$ XDG_CONFIG_HOME=$demo/bob agent render --env staging     # as Bob, after removal'
XDG_CONFIG_HOME="$demo/bob" "$agent" render --env staging || echo "(exit $? — forbidden)"
step "$agent" verify --all-envs
echo; echo "# sync through a bare remote: a second clone (a server) renders its target and follows a change"
git init -q --bare "$demo/remote.git"
git remote add origin "$demo/remote.git"
printf '[target app]\nenvironment = dev\noutput = app.env\nnames = DATABASE_URL\n' > .envagent/targets
git add .envagent/targets && git -c user.name=alice -c user.email=alice@example.com commit -qm "render targets"
step "$agent" sync
git clone -q "$demo/remote.git" "$demo/server"
(cd "$demo/server" && "$agent" hooks install >/dev/null && "$agent" render --targets >/dev/null)
printf 'postgres://app:rotated@db/app' | "$agent" update DATABASE_URL >/dev/null
step "$agent" sync
echo; echo '$ cd ../server && agent sync --pull-only && agent render --targets && cat app.env'
(cd "$demo/server" && "$agent" sync --pull-only && "$agent" render --targets && cat app.env)
echo; echo "# the leak guard: a pasted value is refused before it is committed"
step "$agent" hooks install
echo 'db = "postgres://app:rotated@db/app"' > config.py && git add config.py
echo; echo '$ git commit -m "config"     # config.py holds the current DATABASE_URL'
if git -c user.name=alice -c user.email=alice@example.com commit -qm config 2>&1 | sed 's/^/  /'; [ "${PIPESTATUS[0]}" -ne 0 ]; then
    echo "(commit refused)"
fi
git reset -q HEAD config.py && rm config.py
echo; echo "# trust: someone who can push but is not a member adds a recipient line for themselves"
mallory=$(XDG_CONFIG_HOME="$demo/mallory" "$agent" keygen 2>/dev/null)
(cd "$demo/server" && sed -i "s|^signature |recipient $mallory $(head -c 80 /dev/zero | base64 -w0) mallory\nsignature |" .envagent/dev/recipients \
    && git -c user.name=mallory -c user.email=mallory@example.com commit -qam "add me" && git push -q)
echo; echo '$ agent sync     # the recipients file no longer carries a member'"'"'s signature'
"$agent" sync || echo "(exit $? — untrusted_change: nothing was merged)"
step "$agent" history
step git log --oneline
step cat .envagent/dev/secrets
step git status --short
step "$agent" status
step "$agent" stop
echo; echo "demo store was in $demo/app (removed on exit)"
