import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

struct HooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks",
        abstract: "Install, remove, show or run EnvAgent's git hooks (leak guard, re-render on checkout).",
        subcommands: [Install.self, Uninstall.self, Status.self, Run.self])

    struct Install: AgentCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install pre-commit, post-checkout, post-merge and post-rewrite into the hooks folder.",
            discussion: """
                Honours core.hooksPath. A hook that is already there is kept as NAME.envagent-chained and \
                run first (its failure stops the commit); `agent hooks uninstall` puts it back. All or \
                nothing: a conflict changes no hook. Also registers the key-level merge driver in the \
                repository config (as `agent setup-merge` does).
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Replace an EnvAgent hook that was edited by hand.") var force = false

        func execute() throws {
            let operations = try global.operations()
            let changes = try operations.installHooks(force: force)
            // The same install wires the key-level merge driver for `git pull` / `git merge`.
            try operations.setupMergeDriver(executable: GlobalOptions.userFacingExecutable)
            if global.json { return try Console.json(changes) }
            for change in changes {
                let what = switch change.action {
                case .chained: "installed (runs the hook that was there first: \(change.name)\(HookScripts.chainedSuffix))"
                case .unchanged: "already installed"
                default: change.action.rawValue
                }
                Console.out("\(change.name.padding(to: 14)) \(what)")
            }
            if !changes.isEmpty { Console.out("hooks folder: \(FileIO.dirname(changes[0].path))") }
            if agentOnPath() == nil {
                Console.err("agent: warning: `agent` is not on PATH; the hooks call it by that name (put it on PATH)")
            }
        }
    }

    struct Uninstall: AgentCommand {
        static let configuration = CommandConfiguration(
            commandName: "uninstall",
            abstract: "Remove EnvAgent's hooks and restore the hooks they replaced (byte for byte).")
        @OptionGroup var global: GlobalOptions

        func execute() throws {
            let changes = try global.operations().uninstallHooks()
            if global.json { return try Console.json(changes) }
            for change in changes {
                let what = switch change.action {
                case .restored: "removed; restored the hook that was there before"
                case .kept: "kept (not EnvAgent's)"
                case .absent: "not installed"
                default: change.action.rawValue
                }
                Console.out("\(change.name.padding(to: 14)) \(what)")
            }
        }
    }

    struct Status: AgentCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show which hooks are installed, and where.")
        @OptionGroup var global: GlobalOptions

        func execute() throws {
            let operations = try global.operations()
            let status = try operations.hookStatus()
            if global.json { return try Console.json(status.hooks) }
            Console.out("hooks folder: \(status.folder)\(status.fromHooksPath ? " (core.hooksPath)" : "")")
            for hook in status.hooks {
                let what = switch hook.state {
                case .installed: "installed"
                case .outdated: "installed, older version (run `agent hooks install` to update)"
                case .modified: "EnvAgent's, edited by hand (`agent hooks install --force` replaces it)"
                case .foreign: "not EnvAgent's (`agent hooks install` keeps and chains it)"
                case .missing: "not installed"
                }
                let chained = hook.chained.map { "; runs \(FileIO.basename($0)) first" } ?? ""
                Console.out("\(hook.name.padding(to: 14)) \(what)\(chained)")
            }
            Console.out("agent on PATH: \(agentOnPath() ?? "NOT FOUND (the hooks call `agent`)")")
            do {
                let targets = try operations.renderTargets()
                Console.out("render targets: \(targets.map { "\(RenderTargets.path) (\($0.targets.count))" } ?? "none (\(RenderTargets.path) does not exist)")")
            } catch let error as AgentError {
                Console.out("render targets: \(error.message)")
            }
        }
    }
}

/// Where `agent` is found on PATH (what the hook scripts run), nil when it is not.
func agentOnPath() -> String? {
    let path = FileIO.environment("PATH") ?? ""
    for folder in path.split(separator: ":") where !folder.isEmpty {
        let candidate = "\(folder)/agent"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
