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
