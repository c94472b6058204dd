import EnvAgentCore
import Foundation
import Testing

/// `agent run` masking values in the command's output when it is not a terminal (here: pipes).
@Suite struct RunMaskingCLITests {
    static let token = "sk-live-abcdef123456"
    static let url = "postgres://user:pw@db.internal/app"

    func seeded() throws -> Sandbox {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "TOKEN", stdin: Self.token).status == 0)
        #expect(try box.agent("set", "DB_URL", stdin: Self.url).status == 0)
        #expect(try box.agent("set", "PORT", stdin: "8080").status == 0)
        return box
    }

    @Test func valuesSplitAcrossWritesAreMaskedOnBothStreams() throws {
        let box = try seeded()
        // Halves with sleeps in between: the agent reads them in separate reads.
        let script = """
            printf 'token=%s' "sk-live-"; sleep 0.3; printf '%s done\\n' "abcdef123456"
            printf 'url=%s' "postgres://us"; sleep 0.2; printf 'er:pw@db.inter'; sleep 0.2; printf 'nal/app\\n' >&1
            printf 'err=%s' "$TOKEN" | head -c 12 >&2; sleep 0.3; printf '%s|port=%s\\n' "abcdef123456" "$PORT" >&2
            printf 'twice %s%s\\n' "$TOKEN" "$TOKEN"
            exit 7
            """
        let run = try box.agent("run", "--", "sh", "-c", script)
        #expect(run.status == 7, "\(run.stderr)")
        let token = Masking.mask(Self.token), url = Masking.mask(Self.url)
        #expect(run.stdout == "token=\(token) done\nurl=\(url)\ntwice \(token)\(token)\n", "\(run.stdout)")
        #expect(run.stderr == "err=\(token)|port=8080\n", "\(run.stderr)") // 4 characters: not masked
        for text in [run.stdout, run.stderr] {
            #expect(!text.contains(Self.token) && !text.contains(Self.url) && !text.contains("abcdef123456"))
        }
    }

    /// On a terminal (util-linux `script`) agent execs the command unmasked, unless --mask.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script"))
    func aTerminalIsNotMaskedUnlessAsked() throws {
        let box = try seeded()
        let command = "'\(agentBinary)' run -- sh -c 'printf \"%s\\n\" \"$TOKEN\"; exec ls -l /proc/self/fd/1'"
        let plain = try box.exec("/usr/bin/script", ["-qec", command, "/dev/null"], stdin: nil, env: [:], cwd: box.repo)
        #expect(plain.status == 0 && plain.stdout.contains(Self.token) && plain.stdout.contains("/dev/pts/"), "\(plain.stdout)")
        let masked = try box.exec("/usr/bin/script", ["-qec", "'\(agentBinary)' run --mask -- sh -c 'printf \"%s\\n\" \"$TOKEN\"'", "/dev/null"],
                                  stdin: nil, env: [:], cwd: box.repo)
        #expect(masked.status == 0 && masked.stdout.contains(Masking.mask(Self.token)) && !masked.stdout.contains(Self.token), "\(masked.stdout)")
    }

    @Test func signalsSentToAgentReachTheCommand() throws {
        let box = try seeded()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = ["run", "--", "sh", "-c", "trap 'printf \"term %s\\n\" \"$TOKEN\"; exit 9' TERM; echo ready; while :; do sleep 0.1; done"]
        process.currentDirectoryURL = URL(fileURLWithPath: box.repo)
        process.environment = box.environment.merging(ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }) { $1 }
            .filter { !$0.value.isEmpty }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let ready = output.fileHandleForReading.availableData
        #expect(String(decoding: ready, as: UTF8.self) == "ready\n")
        kill(process.processIdentifier, SIGTERM)
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 9)
        #expect(String(decoding: rest, as: UTF8.self) == "term \(Masking.mask(Self.token))\n")
    }

    @Test func noMaskExecsAndSignalsArePassedThrough() throws {
        let box = try seeded()
        let plain = try box.agent("run", "--no-mask", "--", "sh", "-c", "printf '%s\\n' \"$TOKEN\"")
        #expect(plain.status == 0 && plain.stdout == Self.token + "\n")
        let killed = try box.agent("run", "--", "sh", "-c", "printf '%s' \"$TOKEN\"; kill -TERM $$")
        #expect(killed.status == SIGTERM && killed.stdout == Masking.mask(Self.token), "\(killed.status) \(killed.stdout)")
        let missing = try box.agent("run", "--", "no-such-command-here")
        #expect(missing.status == 127 && missing.stderr.contains("cannot run no-such-command-here"))
        let both = try box.agent("run", "--mask", "--no-mask", "--", "true")
        #expect(both.status != 0)
    }
}
