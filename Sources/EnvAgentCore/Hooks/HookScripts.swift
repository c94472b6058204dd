/// The hook scripts `agent hooks install` writes: byte for byte the files shipped in `hooks/`
/// (a test compares them). Each is a few lines of POSIX sh around `agent hook NAME "$@"`; it first
/// runs the hook it replaced (kept as `NAME.envagent-chained`).
public enum HookScripts {
    /// The hooks EnvAgent installs, in the order they are listed.
    public static let names = ["pre-commit", "post-checkout", "post-merge", "post-rewrite"]
    /// Marks a file as EnvAgent's hook; the number after `v` is the script version.
    public static let marker = "# envagent-hook v"
    public static let version = 1
    /// Suffix of the kept hook that an installed script runs first.
    public static let chainedSuffix = ".envagent-chained"

    public static func script(_ name: String) -> String? {
        switch name {
        case "pre-commit":
            return #"""
#!/bin/sh
# envagent-hook v1 pre-commit: the leak guard of EnvAgent (see its README, "Git hooks").
# Blocks staged .env files / render targets, current secret values and identity key texts.
# Skip it once with `git commit --no-verify`. `agent hooks uninstall` restores what was here before.
if [ -x "$0.envagent-chained" ]; then "$0.envagent-chained" "$@" || exit $?; fi
if ! command -v agent >/dev/null 2>&1; then
    echo "EnvAgent pre-commit: 'agent' is not on PATH, so the staged changes were not checked for secrets." >&2
    echo "Put agent on PATH, or commit with 'git commit --no-verify' to skip the check." >&2
    exit 1
fi
exec agent hook pre-commit "$@"

"""#
        case "post-checkout":
            return #"""
#!/bin/sh
# envagent-hook v1 post-checkout: EnvAgent re-renders the targets of .envagent/targets when the store changed.
# Never fails git's command; problems are printed as warnings. `agent hooks uninstall` restores what was here before.
status=0
if [ -x "$0.envagent-chained" ]; then "$0.envagent-chained" "$@" || status=$?; fi
if command -v agent >/dev/null 2>&1; then
    agent hook post-checkout "$@" </dev/null || echo "EnvAgent post-checkout: agent failed; render targets may be stale (run: agent render --targets)" >&2
else
    echo "EnvAgent post-checkout: 'agent' is not on PATH; render targets were not refreshed" >&2
fi
exit $status

"""#
        case "post-merge":
            return #"""
#!/bin/sh
# envagent-hook v1 post-merge: EnvAgent re-renders the targets of .envagent/targets when the store changed.
# Never fails git's command; problems are printed as warnings. `agent hooks uninstall` restores what was here before.
status=0
if [ -x "$0.envagent-chained" ]; then "$0.envagent-chained" "$@" || status=$?; fi
if command -v agent >/dev/null 2>&1; then
    agent hook post-merge "$@" </dev/null || echo "EnvAgent post-merge: agent failed; render targets may be stale (run: agent render --targets)" >&2
else
    echo "EnvAgent post-merge: 'agent' is not on PATH; render targets were not refreshed" >&2
fi
exit $status

"""#
        case "post-rewrite":
            return #"""
#!/bin/sh
# envagent-hook v1 post-rewrite: EnvAgent re-renders the targets of .envagent/targets when the store changed.
# Never fails git's command; problems are printed as warnings. `agent hooks uninstall` restores what was here before.
status=0
if [ -x "$0.envagent-chained" ]; then "$0.envagent-chained" "$@" || status=$?; fi
if command -v agent >/dev/null 2>&1; then
    agent hook post-rewrite "$@" </dev/null || echo "EnvAgent post-rewrite: agent failed; render targets may be stale (run: agent render --targets)" >&2
else
    echo "EnvAgent post-rewrite: 'agent' is not on PATH; render targets were not refreshed" >&2
fi
exit $status

"""#
        default:
            return nil
        }
    }
}
