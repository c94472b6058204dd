#!/usr/bin/env bash
# The GitHub Action's second step (action.yml): exports AGENT_IDENTITY (masked in the log
# first) and AGENT_ENV to the job's later steps through $GITHUB_ENV, and marks the workspace a
# safe.directory: in a container the job runs as root while the checkout belongs to the
# runner's user, which libgit2 refuses otherwise.
#   IDENTITY     the key text (AGENT-SECRET-KEY-…), may be empty
#   ENVIRONMENT  the store environment, may be empty
#   WORKSPACE    the checkout ($GITHUB_WORKSPACE)
set -euo pipefail
: "${GITHUB_ENV:?run as a GitHub Actions step}"
if [ -n "${IDENTITY:-}" ]; then
    case $IDENTITY in
        *$'\n'* | *$'\r'*) echo "::error::the identity input must be one line: a key text AGENT-SECRET-KEY-…"; exit 64 ;;
    esac
    echo "::add-mask::$IDENTITY"
    echo "AGENT_IDENTITY=$IDENTITY" >>"$GITHUB_ENV"
fi
if [ -n "${ENVIRONMENT:-}" ]; then
    echo "AGENT_ENV=$ENVIRONMENT" >>"$GITHUB_ENV"
fi
if [ -n "${WORKSPACE:-}" ]; then
    if command -v git >/dev/null 2>&1; then
        git config --global --get-all safe.directory 2>/dev/null | grep -qxF "$WORKSPACE" \
            || git config --global --add safe.directory "$WORKSPACE"
    else # libgit2 reads the same file
        printf '[safe]\n\tdirectory = %s\n' "$WORKSPACE" >>"${HOME:?}/.gitconfig"
    fi
fi
