import Foundation
import TestSupport
import Testing

private let canHideFiles: Bool = {
    (try? runProcess("/usr/bin/unshare", ["-m", "sh", "-c", "mount --bind /dev/null /dev/null"], cwd: "/"))?.status == 0
}()

/// libgit2 is loaded on first use (CLibgit2Loader), not at exec. Hiding it inside a private
/// mount namespace (root only: `unshare -m`, the library file bind-mounted over by /dev/null)
/// shows what a machine without the runtime library gets.
@Suite(.enabled(if: canHideFiles, "needs `unshare -m` with mount rights (root)"))
struct Libgit2LoadingTests {
    @Test func withoutLibgit2GitCommandsFailClearlyAndTheOthersStillRun() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        // Where the loader finds libgit2 (LD_DEBUG=libs names the file it initialises).
        let trace = try box.agent("list", env: ["LD_DEBUG": "libs"]).stderr
        let library = try #require(trace.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "calling init: "), line.contains("libgit2.so") else { return nil }
            return String(line[range.upperBound...])
        }.first, "\(trace)")

        func withoutLibgit2(_ args: String...) throws -> Result {
            try box.exec("/usr/bin/unshare", ["-m", "sh", "-c", "mount --bind /dev/null \"$1\" && shift && exec \"$@\"",
                                              "sh", library, agentBinary] + args, stdin: nil, env: [:], cwd: box.repo)
        }
        let list = try withoutLibgit2("list")
        #expect(list.status == 1, "\(list.stdout)\(list.stderr)")
        #expect(list.stderr.contains("cannot load libgit2") && list.stderr.contains("install the libgit2"), "\(list.stderr)")
        #expect(!list.stderr.contains("Abort") && !list.stderr.contains("Fatal error"))
        let json = try withoutLibgit2("list", "--json")
        #expect(json.status == 1 && json.stderr.contains("\"type\":\"internal_error\""), "\(json.stderr)")
        // Commands that never touch git do not need it.
        let whoami = try withoutLibgit2("whoami")
        #expect(whoami.status == 0 && whoami.stdout.hasPrefix("agent-pub-"), "\(whoami.stdout)\(whoami.stderr)")
    }
}
