import Foundation
import Testing
import TestSupport
@testable import EnvAgentCore

/// A temp folder removed when the value is released.
final class TempDirectory {
    let path: String

    init(_ label: String = "envagent") {
        let base = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }
}

/// Runs git, python3 or sh with a fixed commit identity for the git CLI.
@discardableResult
func run(_ executable: String, _ arguments: [String], cwd: String? = nil, stdin: String? = nil,
         environment: [String: String] = [:]) throws -> ProcessResult {
    let identity = ["GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "test@example.com",
                    "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "test@example.com"]
    return try runProcess(executable, arguments, cwd: cwd, stdin: stdin, environment: identity.merging(environment) { $1 })
}

/// A fresh identity source with its own identity file (0600).
func makeIdentitySource(in dir: TempDirectory, name: String = "identity") throws -> (IdentitySource, Identity) {
    let identity = try Identity.generate()
    let source = IdentitySource(environmentText: nil, environmentFile: dir.file(name), flagFile: nil, defaultFile: dir.file("none"))
    try source.write(identity, to: dir.file(name))
    return (source, identity)
}

func secret(_ text: String) -> SecretBytes { SecretBytes(Array(text.utf8)) }

/// A new store at `dir`/repo with `dev` as its first environment and `source`'s identity as
/// its first recipient.
func newStore(in dir: TempDirectory, source: IdentitySource, bare: Bool = false) throws -> (Operations, String) {
    let path = dir.file("repo")
    let (operations, _) = try Operations.initialize(path: path, environment: "dev", bare: bare, identitySource: source)
    return (operations, path)
}

/// `git -C path args…`, expecting success; its standard output as it is.
func gitOutput(_ path: String, _ args: [String]) throws -> String {
    let result = try run("git", ["-C", path] + args)
    #expect(result.status == 0, "git \(args): \(result.stderr)")
    return result.stdout
}

extension SecretBytes {
    /// A copy of the bytes, for comparisons in tests (the library offers none: a copy escapes
    /// the wipe).
    var bytes: [UInt8] {
        var out: [UInt8] = []
        append(to: &out)
        return out
    }
}

extension Span<UInt8> {
    /// A copy, for comparisons in tests.
    var array: [UInt8] { indices.map { self[$0] } }
}
