import EnvAgentCore
import Foundation
import TestSupport
import Testing

/// Every command goes through ArgumentParser, so `--help` works everywhere, including for the
/// commands that pass arguments on (`run`, `hook`, `serve`).
@Suite struct HelpTests {
    /// The names listed under SUBCOMMANDS in a help text.
    static func subcommands(in help: String) -> [String] {
        var names: [String] = []
        var inSection = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS:") { inSection = true; continue }
            guard inSection else { continue }
            if line.isEmpty { break }
            // "  name   abstract": two spaces, then a lowercase name (longer indents continue an abstract).
            guard line.hasPrefix("  "), let first = line.dropFirst(2).first, first.isLowercase else { continue }
            names.append(String(line.dropFirst(2).prefix { !$0.isWhitespace }))
        }
        return names
    }

    @Test func everyCommandPrintsItsHelp() throws {
        let box = try Sandbox(keygen: false)
        let root = try box.agent("--help")
        #expect(root.status == 0 && root.stdout.contains("USAGE: agent"), "\(root.stderr)")
        var pending = Self.subcommands(in: root.stdout).map { [$0] }
        #expect(pending.count > 20 && pending.contains(["run"]) && pending.contains(["hooks"]) && !pending.contains(["hook"]), "\(root.stdout)")
        var checked = 0
        while let path = pending.popLast() {
            let result = try box.agent(path + ["--help"])
            let command = (["agent"] + path).joined(separator: " ")
            #expect(result.status == 0, "\(command) --help: \(result.status) \(result.stderr)")
            // (`agent serve` passes its options to agent-serve, whose help names it `agent serve`.)
            #expect(result.stdout.contains("USAGE: \(command)"), "\(command) --help: \(result.stdout)\(result.stderr)")
            pending += Self.subcommands(in: result.stdout).map { path + [$0] }
            checked += 1
        }
        #expect(checked > 20)
    }

    /// `--version` names the package version (what the .deb is named by) and the libgit2 and
    /// libsodium this process runs with, through the thin client and from `agent serve` alike.
    @Test func versionNamesThePackageAndTheLibraries() throws {
        let box = try Sandbox(keygen: false)
        let expected = "agent \(EnvAgentVersion.number)\nlibgit2 \(EnvAgentVersion.libgit2)\nlibsodium \(EnvAgentVersion.libsodium)\n"
        for args in [["--version"], ["serve", "--version"]] {
            let result = try box.agent(args)
            #expect(result.status == 0 && result.stdout == expected, "\(args): \(result.status) \(result.stdout)\(result.stderr)")
        }
        #expect(EnvAgentVersion.libgit2.split(separator: ".").count == 3 && EnvAgentVersion.libsodium.contains("."))
    }

    /// Arguments for the command `run` starts or for a git hook are not where `--help` is read.
    @Test func runAndHookHelpAreHelp() throws {
        let box = try Sandbox(keygen: false)
        for args in [["run", "--help"], ["run", "-h"], ["run", "NAME", "--help"], ["hooks", "run", "post-checkout", "--help"],
                     ["hooks", "run", "pre-commit", "--help"], ["hook", "pre-commit", "--help"], ["help", "run"]] {
            let result = try box.agent(args)
            let usage = args[0] == "help" ? "run" : args[0] == "hooks" ? "hooks run" : args[0]
            #expect(result.status == 0 && result.stdout.contains("USAGE: agent \(usage)"),
                    "\(args): \(result.status) \(result.stdout)\(result.stderr)")
        }
    }

    /// After `--`, `--help` belongs to the command that `run` starts.
    @Test func runPassesHelpAfterTheTerminatorToItsCommand() throws {
        let box = try Sandbox()
        #expect(try box.git("init", "-q").status == 0)
        #expect(try box.agent("init").status == 0)
        let result = try box.agent("run", "--", "/usr/bin/printf", "%s\\n", "--help")
        #expect(result.status == 0 && result.stdout == "--help\n", "\(result.stdout)\(result.stderr)")
        let missing = try box.agent("run")
        #expect(missing.status == 64 && missing.stderr.contains("after --"), "\(missing.stderr)")
        let misplaced = try box.agent("run", "NAME", "--json", "--", "/bin/true")
        #expect(misplaced.status == 64 && misplaced.stderr.contains("options go before the names"), "\(misplaced.stderr)")
    }
}
