import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

struct RotateCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace an environment's key and re-encrypt every value (one commit, or none).",
        discussion: "Use after a suspected leak of an identity. Write-only values stay write-only (sealed to the new public key).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var environments: EnvironmentSelectionOptions

    func execute() throws {
        let progress = RotationProgressPrinter()
        let result = try global.operations().rotate(environments.selection(global), progress: progress.callback)
        progress.finish()
        if global.json { return try Console.json(result) }
        Console.out("rotated \(result.environments.joined(separator: ", ")): \(result.secrets) secret\(result.secrets == 1 ? "" : "s") re-encrypted")
    }
}

/// A one-line progress counter on stderr, only when stderr is a terminal and the work is big.
final class RotationProgressPrinter {
    private let enabled = isatty(2) == 1
    private var shown = false

    var callback: Operations.RotationProgress? {
        guard enabled else { return nil }
        return { [self] environment, done, total in
            guard total >= 1000 else { return }
            var line = "\rrotating \(environment): \(done)/\(total)"
            if done == total { line += "\u{1B}[K" }
            StandardStreams.write(line, to: StandardStreams.error)
            shown = true
        }
    }

    func finish() {
        if shown { Console.err("") }
    }
}
