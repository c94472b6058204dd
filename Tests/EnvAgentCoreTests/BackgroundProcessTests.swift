import Foundation
import TestSupport
import Testing
@testable import EnvAgentCore

@Suite struct BackgroundProcessTests {
    /// A detached child runs on its own (new session, /dev/null streams) and does not see the
    /// withheld variables (the CLI withholds the identity from its background packer).
    @Test func detachedChildRunsWithoutWithheldVariables() throws {
        let dir = TempDirectory("background")
        let output = dir.file("env.txt")
        let script = "env > '\(output).tmp'; cut -d' ' -f6 /proc/$$/stat >> '\(output).tmp'; mv '\(output).tmp' '\(output)'"
        let pid = try #require(BackgroundProcess.start("/bin/sh", ["-c", script], withholding: ["HOME"]))
        #expect(eventually { FileManager.default.fileExists(atPath: output) }, "the detached child never wrote its output")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("HOME=") })
        #expect(lines.contains { $0.hasPrefix("PATH=") })
        // Its own session: the session id is its own pid.
        #expect(lines.last.map { $0.trimmingCharacters(in: .whitespaces) } == String(pid))
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
