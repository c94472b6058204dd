import Foundation
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

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a real process (git, python3, sh) and captures its output.
@discardableResult
func run(_ executable: String, _ arguments: [String], cwd: String? = nil, stdin: String? = nil,
         environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    env["GIT_AUTHOR_NAME"] = env["GIT_AUTHOR_NAME"] ?? "Test Author"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_AUTHOR_EMAIL"] ?? "test@example.com"
    env["GIT_COMMITTER_NAME"] = env["GIT_COMMITTER_NAME"] ?? "Test Author"
    env["GIT_COMMITTER_EMAIL"] = env["GIT_COMMITTER_EMAIL"] ?? "test@example.com"
    process.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty process cannot block on a full pipe.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh identity source with its own identity file (0600).
func makeIdentitySource(in dir: TempDirectory, name: String = "identity") throws -> (IdentitySource, Identity) {
    let identity = try Identity.generate()
    let source = IdentitySource(environmentText: nil, environmentFile: dir.file(name), flagFile: nil, defaultFile: dir.file("none"))
    try source.write(identity, to: dir.file(name))
    return (source, identity)
}

func secret(_ text: String) -> SecretBytes { SecretBytes(Array(text.utf8)) }
