import Foundation

/// What a finished process printed, and how it exited.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a real process (agent, git, python3, sh) to completion and captures its output.
/// `environment` is merged over this process's environment; an empty value removes a variable.
public func runProcess(_ executable: String, _ arguments: [String], cwd: String? = nil, stdin: String? = nil,
                       environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    process.environment = env.filter { !$0.value.isEmpty }
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

/// A product of this package built beside the running test bundle (`agent`, `agent-serve`), or
/// `$AGENT_BIN` for `agent`; nil when it cannot be found.
public func builtExecutable(_ name: String = "agent") -> String? {
    if name == "agent", let explicit = ProcessInfo.processInfo.environment["AGENT_BIN"] { return explicit }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var folder = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // Test bundles can sit one level deeper (…/EnvAgentPackageTests.xctest/…).
    for _ in 0..<3 {
        let candidate = folder.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        folder = folder.deletingLastPathComponent()
    }
    return nil
}
