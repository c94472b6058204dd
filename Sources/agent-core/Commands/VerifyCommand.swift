import ArgumentParser
import EnvAgentCore

struct VerifyCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that every value opens with its bound name, environment and store.",
        discussion: "Also lists lines that reads refuse (a bad name or env var, a name or env var on two lines, a write-only value setting an execution env var). Reports each bad line with the commit that last changed it; exits 1 (internal_error) if any, 4 (forbidden) for a non-member.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var environments: EnvironmentSelectionOptions

    func execute() throws {
        let checks = try global.operations().verify(environments.selection(global))
        let problems = checks.flatMap(\.problems)
        if global.json {
            try Console.json(checks)
        } else {
            for check in checks {
                let writeOnly = check.writeOnlyValues > 0 ? " (\(check.writeOnlyValues) write-only)" : ""
                Console.out("\(check.problems.isEmpty ? "ok " : "BAD") \(check.environment): \(check.values) value\(check.values == 1 ? "" : "s")\(writeOnly)")
                for problem in check.problems {
                    Console.out("    \(problem.name ?? "(recipients)"): \(problem.problem)")
                    if let commit = problem.commit {
                        Console.out("        last changed in \(commit.prefix(10)) by \(problem.author ?? "?") on \(problem.date ?? "?")")
                    }
                }
            }
        }
        guard problems.isEmpty else {
            throw AgentError(.internalError, "verify found \(problems.count) problem\(problems.count == 1 ? "" : "s")",
                             details: problems.map { .init(loc: [$0.environment] + ($0.name.map { [$0] } ?? []), msg: $0.problem, type: $0.type) },
                             hint: "restore each bad line from git history (`agent history NAME`), set the value again, or remove it with `agent delete NAME`")
        }
    }
}
