import ArgumentParser
import EnvAgentCore

extension HooksCommand {
    /// `agent hooks run NAME [ARGS…]`: what the scripts in `hooks/` run.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run one git hook's logic (called by the installed hook scripts).",
            discussion: HookRun.discussion)
        @OptionGroup var hook: HookRun

        func run() throws { try hook.run() }
    }
}

/// `agent hook NAME [ARGS…]`, hidden: what version-1 hook scripts (installed before
/// `agent hooks run` existed) call. The same as `agent hooks run`; `agent hooks install`
/// updates those scripts.
struct LegacyHookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Run one git hook's logic: the name version-1 hook scripts call (now `agent hooks run`).",
        discussion: HookRun.discussion,
        shouldDisplay: false)
    @OptionGroup var hook: HookRun

    func run() throws { try hook.run() }
}

/// One hook's logic. pre-commit blocks on a finding (or on its own failure, fail-closed); the
/// post-* hooks never fail git's command.
struct HookRun: ParsableArguments {
    static let discussion = """
        pre-commit: blocks staged .env files and render targets, current secret values (of every \
        environment your identity can open) and identity key texts; exit 7 with the list and how \
        to fix it. `git commit --no-verify` skips it once. \
        post-checkout, post-merge, post-rewrite: re-render .envagent/targets when the store changed \
        since the last render; silent when nothing changed; always exit 0 (problems are warnings).
        """
    @OptionGroup var global: GlobalOptions
    @Argument(help: "pre-commit, post-checkout, post-merge or post-rewrite.") var name: String
    @Argument(parsing: .allUnrecognized, help: "The arguments git passes to the hook.") var arguments: [String] = []

    func validate() throws {
        guard HookScripts.names.contains(name) else {
            throw ValidationError("unknown hook '\(name)': expected one of \(HookScripts.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        if name == "pre-commit" { return try preCommit() }
        Self.refreshTargets(hook: name, arguments: arguments, inWorkingTree: global.store == nil ? "." : nil,
                            operations: global.operations)
    }

    /// post-checkout, post-merge, post-rewrite: re-render the targets when the store changed.
    /// Never fails (problems are warnings). `workingTree` (the current directory, where git
    /// runs hooks, unless --store named another repository) allows post-checkout's check that
    /// needs no repository.
    static func refreshTargets(hook name: String, arguments: [String], inWorkingTree workingTree: String?,
                               operations: () throws -> Operations) {
        if name == "post-checkout" && arguments.count >= 3 {
            // The third argument is 0 for a file checkout: HEAD did not move.
            if arguments[2] == "0" { return }
            if let workingTree, Operations.renderTargetsAreCurrent(atCommit: arguments[1], workingTree: workingTree) { return }
        }
        do {
            guard let results = try operations().refreshTargetsIfStoreChanged() else { return }
            for result in results {
                switch result.outcome {
                case .written: Console.err("EnvAgent: rendered \(result.output) (\(result.environment), \(result.secrets) secret\(result.secrets == 1 ? "" : "s"))")
                case .unchanged: break
                case .skipped: Console.err("EnvAgent: skipped \(result.output) (\(result.environment)): \(result.message ?? "")")
                case .failed: Console.err("EnvAgent: warning: \(result.output) not rendered: \(result.message ?? "")")
                }
            }
        } catch let error as AgentError {
            Console.err("EnvAgent \(name): warning: render targets not refreshed: \(error.message)")
        } catch {
            Console.err("EnvAgent \(name): warning: render targets not refreshed: \(error)")
        }
    }

    /// Fail-closed: an internal error blocks the commit too, saying so and how to skip.
    private func preCommit() throws {
        let indexPath = FileIO.environment("GIT_INDEX_FILE").flatMap { $0.isEmpty ? nil : $0 }
        let report: Operations.PreCommitReport
        do {
            let operations = try global.operations()
            // Before the check, so it and the commit see the repaired index.
            for path in try operations.store.restoreStaleIndexEntries(indexPath: indexPath) {
                Console.err("EnvAgent pre-commit: restored \(path) in the index to HEAD's version "
                            + "(a git command racing an agent write had put an older version back)")
            }
            report = try operations.preCommitCheck(indexPath: indexPath)
        } catch let error as AgentError {
            var failure = error
            failure.message = "EnvAgent pre-commit could not check the staged changes: \(error.message)"
            failure.hint = (error.hint.map { $0 + "; " } ?? "") + "after fixing it, commit again (or skip the check once with `git commit --no-verify`)"
            Console.report(failure, json: global.json)
            throw ExitCode(error.kind.exitCode)
        }
        if let warning = report.targetsWarning {
            Console.err("EnvAgent pre-commit: warning: \(warning) (checked .env names only)")
        }
        if let reason = report.coverage.skippedReason, report.files > 0 {
            Console.err("EnvAgent pre-commit: value scan skipped (\(reason)); checked file names and identity keys only")
        }
        guard let error = report.blockingError else { return }
        if global.json {
            Console.err(error.envelopeJSON())
            throw ExitCode(error.kind.exitCode)
        }
        let shown = report.findings.prefix(12)
        let width = min(48, shown.map(\.location.count).max() ?? 0)
        Console.err("EnvAgent pre-commit: commit blocked — the staged changes would leak secrets:")
        for finding in shown {
            Console.err("  \(finding.location.padding(to: width))  \(finding.what)")
        }
        if report.findings.count > shown.count {
            Console.err("  … and \(report.findings.count - shown.count) more (`agent hooks run pre-commit --json` lists all)")
        }
        Console.err("Nothing was committed. How to fix:")
        for step in Operations.PreCommitReport.fixSteps { Console.err("  - \(step)") }
        throw ExitCode(error.kind.exitCode)
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
