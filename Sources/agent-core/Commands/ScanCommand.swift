import ArgumentParser
import EnvAgentCore

struct ScanCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Search files or the whole git history for current secret values and identity keys.",
        discussion: """
            Reports file, line and secret name (never the value); exit 7 (validation_error) when \
            anything is found. Without PATHs: the working tree, skipping what git ignores. --history: \
            every blob reachable from every reference, naming the commit that introduced it. Values \
            are those of every environment your identity can open (at least 8 bytes).
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Files or folders (default: the working tree).") var paths: [String] = []
    @Flag(help: "Scan every blob of every commit reachable from any reference.") var history = false

    func validate() throws {
        if history && !paths.isEmpty { throw ValidationError("--history scans the whole repository; name no PATH with it") }
    }

    func execute() throws {
        let operations = try global.operations()
        let report = try history ? operations.scanHistory() : operations.scanWorkingTree(paths: paths)
        if global.json {
            try Console.json(report)
        } else {
            for finding in report.findings {
                let commit = finding.commit.map { "  (commit \($0.prefix(12)))" } ?? ""
                Console.out("\(finding.location)  \(finding.what)\(commit)")
            }
            let what = history ? "\(report.scanned) blobs in \(report.commits ?? 0) commits" : "\(report.scanned) files"
            if let reason = report.coverage.skippedReason {
                Console.err("scanned \(what) for identity keys only: value scan skipped (\(reason))")
            } else {
                let unreadable = report.coverage.unreadableEnvironments
                Console.err("scanned \(what) for \(report.coverage.values) values of \(report.coverage.environments.joined(separator: ", "))"
                            + (unreadable.isEmpty ? "" : " (not \(unreadable.joined(separator: ", ")): not a member)"))
            }
        }
        if let error = report.error(action: "scan found secrets", hint: history
            ? "rewrite history only if it was never shared; either way rotate each value at its source, then `agent update NAME`"
            : "remove each value from the file and read it from the environment instead (`agent run`, a rendered .env)") {
            throw error
        }
    }
}
