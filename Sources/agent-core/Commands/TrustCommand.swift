import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

struct TrustCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Show, and accept for this clone, a change to an environment's recipients that no member signed.",
        discussion: """
            Reads and writes of an environment stop with untrusted_change (exit 13) when its recipients \
            file is not vouched for by the key this clone accepted. Check the change with your team, then \
            accept it here (asked on a terminal, or --yes). Adding, removing, rotating and merging never need this.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Accept the change without asking.")
    var yes = false

    func execute() throws {
        let operations = try global.operations()
        var report = try operations.trust(global.environment, accept: false)
        if report.status != "trusted" {
            if !global.json { describe(report) }
            guard yes || confirm() else {
                throw AgentError(.untrustedChange, "not accepted: environment '\(report.environment)' stays stopped on this clone",
                                 hint: "after checking with your team: `agent trust --env \(report.environment) --yes`")
            }
            report = try operations.trust(global.environment, accept: true)
        }
        if global.json { return try Console.json(report) }
        Console.out(report.accepted ? "accepted: environment '\(report.environment)' is trusted on this clone"
                                    : "trusted: environment '\(report.environment)' is signed by the key this clone accepted")
    }

    private func describe(_ report: Operations.TrustReport) {
        Console.out("environment '\(report.environment)': \(report.change ?? "not seen by this clone before")")
        if let commit = report.commit {
            Console.out("  last changed in \(commit.prefix(12)) by \(report.author ?? "?") at \(report.date ?? "?")")
        }
        for added in report.added { Console.out("  + recipient \(added)") }
        for removed in report.removed { Console.out("  - recipient \(removed)") }
        if let key = report.acceptedSigningKey { Console.out("  accepted signing key: \(key)") }
        if let key = report.signingKey { Console.out("  current signing key:  \(key)") }
    }

    /// Asks on the terminal; false without one.
    private func confirm() -> Bool {
        guard isatty(0) == 1 else { return false }
        Console.err("Accept this change for this clone? Only if your team confirms it. [y/N] ")
        guard let answer = readLine() else { return false }
        return ["y", "yes"].contains(answer.lowercased())
    }
}
