import Foundation
import TestSupport
import Testing

/// Passphrase-protected identities through the built `agent`: keygen --passphrase, the
/// passphrase command, AGENT_PASSPHRASE_FILE, no terminal, a real pseudo-terminal prompt.
/// Fast Argon2id limits (`--kdf interactive`) except where the default is the point.
@Suite struct PassphraseCLITests {
    /// A sandbox without an identity, plus passphrase files.
    final class Box: Sendable {
        let box: Sandbox
        init() throws { box = try Sandbox(keygen: false) }
        var identityFile: String { box.root + "/config/envagent/identity" }

        /// A file holding `passphrase` and a trailing newline (as `echo` writes it).
        func passphraseFile(_ passphrase: String) throws -> String {
            let path = box.root + "/pass-\(UUID().uuidString.prefix(6))"
            try (passphrase + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func unlocking(_ passphrase: String) throws -> [String: String] { ["AGENT_PASSPHRASE_FILE": try passphraseFile(passphrase)] }

        func identityBytes() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: identityFile)) }
    }

    func expectAuthenticationFailed(_ result: Result, detail: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 3, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.envelope?["type"] as? String == "authentication_failed", "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.envelope?["status"] as? Int == 401, sourceLocation: sourceLocation)
        #expect((result.envelope?["errors"] as? [[String: Any]])?.first?["type"] as? String == detail, "\(result.stderr)",
                sourceLocation: sourceLocation)
    }

    @Test func keygenWithPassphraseThenSetAndRender() throws {
        let b = try Box()
        let keygen = try b.box.agent(["keygen", "--passphrase", "--kdf", "interactive", "--json"],
                                     env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("open sesame")])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let publicKey = try #require((try JSONSerialization.jsonObject(with: Data(keygen.stdout.utf8)) as? [String: Any])?["public_key"] as? String)
        let attributes = try FileManager.default.attributesOfItem(atPath: b.identityFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let text = try String(contentsOfFile: b.identityFile, encoding: .utf8)
        #expect(text.contains("envagent-identity: 1\npublic-key: \(publicKey)\nkdf: argon2id13 opslimit=2 memlimit=67108864\n"))
        #expect(!text.contains("AGENT-SECRET-KEY-"))
        // The public key needs no passphrase (and there is no terminal to ask on here).
        #expect(try b.box.agent("whoami").stdout == publicKey + "\n")
        let unlock = try b.unlocking("open sesame")
        #expect(try b.box.agent(["init"], env: unlock).status == 0)
        #expect(try b.box.agent(["set", "API_KEY"], stdin: "v-123", env: unlock).status == 0)
        #expect(try b.box.agent(["render"], env: unlock).stdout == "API_KEY='v-123'\n")
        // The recipients listing marks "you" from the public key alone.
        let recipients = try b.box.agent("recipients", "list", "--json")
        #expect(recipients.status == 0, "\(recipients.stderr)")
        #expect(recipients.stdout.contains("\"you\":true"))
    }

    @Test func defaultCostIsModerate() throws {
        let b = try Box()
        #expect(try b.box.agent(["keygen", "--passphrase"], env: ["AGENT_PASSPHRASE_FILE": try b.passphraseFile("pw")]).status == 0)
        #expect(try String(contentsOfFile: b.identityFile, encoding: .utf8).contains("kdf: argon2id13 opslimit=3 memlimit=268435456\n"))
    }

    @Test func wrongPassphraseFailsNamingTheFileNotThePassphrase() throws {
        let b = try Box()
        #expect(try b.box.agent(["keygen", "--passphrase", "--kdf", "interactive"],
                                env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("right one")]).status == 0)
        #expect(try b.box.agent(["init"], env: try b.unlocking("right one")).status == 0)
        let wrong = try b.box.agent(["render", "--json"], env: try b.unlocking("wrong-guess-42"))
        expectAuthenticationFailed(wrong, detail: "wrong_passphrase")
        #expect((wrong.envelope?["message"] as? String)?.contains(b.identityFile) == true)
        #expect(!wrong.stderr.contains("wrong-guess-42") && !wrong.stderr.contains("right one"))
        let missingFile = try b.box.agent(["render", "--json"], env: ["AGENT_PASSPHRASE_FILE": b.box.root + "/nope"])
        expectAuthenticationFailed(missingFile, detail: "missing")
    }

    @Test func noPassphraseWithoutTerminalFailsWithHint() throws {
        let b = try Box()
        #expect(try b.box.agent(["keygen", "--passphrase", "--kdf", "interactive"],
                                env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("pw")]).status == 0)
        #expect(try b.box.agent(["init"], env: try b.unlocking("pw")).status == 0)
        expectAuthenticationFailed(try b.box.agent("render", "--json"), detail: "passphrase_required")
        let plain = try b.box.agent("render")
        #expect(plain.status == 3)
        #expect(plain.stderr.contains(b.identityFile))
        #expect(plain.stderr.contains("hint: start the agent once (`eval \"$(agent start)\"`)"))
        #expect(plain.stderr.contains("AGENT_PASSPHRASE_FILE") && plain.stderr.contains("AGENT_IDENTITY"))
        // A long-running command fails at start the same way, instead of prompting later.
        let serve = try b.box.agent(["serve", "--listen", "127.0.0.1:0"])
        #expect(serve.status == 3, "\(serve.stderr)")
        #expect(serve.stderr.contains("is protected by a passphrase"))
        // keygen --passphrase cannot ask either: invalid_request, and no file is written.
        let keygen = try b.box.agent(["keygen", "--passphrase", "-o", b.box.root + "/second", "--json"])
        #expect(keygen.status == 2 && keygen.envelope?["type"] as? String == "invalid_request", "\(keygen.stderr)")
        #expect(try b.box.agent(["keygen", "--passphrase", "-o", b.box.root + "/second"]).stderr
            .contains("hint: set AGENT_NEW_PASSPHRASE_FILE to a file holding the new passphrase"))
        #expect(!FileManager.default.fileExists(atPath: b.box.root + "/second"))
        let watch = try b.box.agent(["watch", "--interval", "1", "--pull-only"])
        #expect(watch.status == 3, "\(watch.stderr)")
        #expect(watch.stderr.contains("is protected by a passphrase"))
        // A write-only write needs no secret key, so no passphrase: the key is not a member of "other".
        let stranger = try b.box.exec(agentBinary, ["keygen", "--ci"], stdin: nil, env: [:], cwd: b.box.root).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try b.box.agent(["set", "X", "--env", "other"], stdin: "x", env: ["AGENT_IDENTITY": stranger]).status == 0)
        let writeOnly = try b.box.agent(["set", "Y", "--env", "other"], stdin: "y")
        #expect(writeOnly.status == 0, "\(writeOnly.stderr)")
    }

    @Test func addChangeAndRemoveThePassphrase() throws {
        let b = try Box()
        #expect(try b.box.agent("keygen").status == 0)
        let original = try String(contentsOfFile: b.identityFile, encoding: .utf8)
        let keyText = try #require(original.split(separator: "\n").first { $0.hasPrefix("AGENT-SECRET-KEY-") })
        #expect(try b.box.agent("init").status == 0)
        #expect(try b.box.agent(["set", "A"], stdin: "alpha").status == 0)
        let publicKey = try b.box.agent("whoami").stdout

        // Add.
        let add = try b.box.agent(["passphrase", "--kdf", "interactive"], env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("first")])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stderr.contains("passphrase added"))
        #expect(!(try String(contentsOfFile: b.identityFile, encoding: .utf8)).contains(keyText))
        #expect(try b.box.agent("whoami").stdout == publicKey)
        #expect(try b.box.agent("render").status == 3)
        #expect(try b.box.agent(["render"], env: try b.unlocking("first")).stdout == "A='alpha'\n")

        // Change: the current passphrase must be right, else nothing changes.
        let before = try b.identityBytes()
        let refused = try b.box.agent(["passphrase", "--json"], env: ["AGENT_PASSPHRASE_FILE": try b.passphraseFile("not first"),
                                                                    "AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("second")])
        expectAuthenticationFailed(refused, detail: "wrong_passphrase")
        #expect(try b.identityBytes() == before)
        let change = try b.box.agent(["passphrase", "--kdf", "interactive"],
                                     env: ["AGENT_PASSPHRASE_FILE": try b.passphraseFile("first"),
                                           "AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("second")])
        #expect(change.status == 0, "\(change.stderr)")
        #expect(change.stderr.contains("passphrase changed"))
        #expect(try b.identityBytes() != before)
        #expect(try b.box.agent(["render"], env: try b.unlocking("first")).status == 3)
        #expect(try b.box.agent(["render"], env: try b.unlocking("second")).stdout == "A='alpha'\n")

        // Remove: the same key text as before, mode 0600, no temp file left beside it.
        let remove = try b.box.agent(["passphrase", "--remove"], env: try b.unlocking("second"))
        #expect(remove.status == 0, "\(remove.stderr)")
        #expect(try String(contentsOfFile: b.identityFile, encoding: .utf8).contains(keyText + "\n"))
        #expect(try b.box.agent("render").stdout == "A='alpha'\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: b.identityFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: b.box.root + "/config/envagent") == ["identity"])
        #expect(try b.box.agent(["passphrase", "--remove"]).stderr.contains("has no passphrase"))
    }

    /// The raw bytes of a protected file hold the secret key in no form: not the key text, not
    /// the 32 key bytes, not their base64 in either alphabet.
    @Test func fileNeverHoldsTheSecretKey() throws {
        let b = try Box()
        let keyText = try b.box.exec(agentBinary, ["keygen", "--ci"], stdin: nil, env: [:], cwd: b.box.root).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.createDirectory(atPath: b.box.root + "/config/envagent", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        #expect(FileManager.default.createFile(atPath: b.identityFile, contents: Data((keyText + "\n").utf8), attributes: [.posixPermissions: 0o600]))
        #expect(try b.box.agent(["passphrase", "--kdf", "interactive"], env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("pw")]).status == 0)
        var base64 = String(keyText.dropFirst("AGENT-SECRET-KEY-".count))
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let key = try #require(Data(base64Encoded: base64)).prefix(32)
        #expect(key.count == 32)
        let raw = try b.identityBytes()
        #expect(raw.range(of: key) == nil)
        #expect(raw.range(of: Data(keyText.utf8)) == nil)
        #expect(raw.range(of: Data(key.base64EncodedString().prefix(40).utf8)) == nil)
        let urlSafe = key.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(raw.range(of: Data(urlSafe.prefix(40).utf8)) == nil)
        // ...and it unlocks to that key.
        #expect(try b.box.agent(["passphrase", "--remove"], env: try b.unlocking("pw")).status == 0)
        #expect(try String(contentsOfFile: b.identityFile, encoding: .utf8).contains(keyText))
    }

    @Test(arguments: [("opslimit=2 ", "opslimit=3 "), ("memlimit=67108864", "memlimit=67109888"), ("secret-key: ", "secret-key: X"),
                      ("salt: ", "salt: A"), ("nonce: ", "nonce: B")])
    func tamperedFileFailsCleanly(from: String, to: String) throws {
        let b = try Box()
        #expect(try b.box.agent(["keygen", "--passphrase", "--kdf", "interactive"],
                                env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("pw")]).status == 0)
        #expect(try b.box.agent(["init"], env: try b.unlocking("pw")).status == 0)
        var text = try String(contentsOfFile: b.identityFile, encoding: .utf8)
        #expect(text.contains(from))
        if to.hasPrefix(from) {
            // Replace the field's first character (the length stays right, so only the tag can tell).
            let range = try #require(text.range(of: from))
            let first = text[range.upperBound]
            let replacement = to.last! == first ? "C" : String(to.last!)
            text.replaceSubrange(range.upperBound...range.upperBound, with: replacement)
        } else {
            text = text.replacingOccurrences(of: from, with: to)
        }
        try text.write(toFile: b.identityFile, atomically: true, encoding: .utf8)
        #expect(chmod(b.identityFile, 0o600) == 0)
        let result = try b.box.agent(["render", "--json"], env: try b.unlocking("pw"))
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.envelope?["type"] as? String == "authentication_failed")
        #expect(!result.stderr.contains("AGENT-SECRET-KEY-"))
    }

    // MARK: The terminal prompt, through a real pseudo-terminal

    /// Runs `agent args` on a new pseudo-terminal (its controlling terminal and all three
    /// streams), answering each prompt (output ending in ":") with the next of `answers` ("^C" sends an
    /// interrupt). Returns what it printed, how it ended, and whether echo was off during the
    /// first prompt and on again afterwards.
    func onTerminal(_ box: Sandbox, _ args: [String], answers: [String]) throws -> [String: Any] {
        let script = #"""
        import fcntl, json, os, select, signal, sys, termios, time
        answers = json.loads(sys.argv[1]); argv = sys.argv[2:]
        master, slave = os.openpty()
        pid = os.fork()
        if pid == 0:
            # The test runner's threads block signals and a spawned child inherits the mask:
            # give the agent the mask and dispositions a login shell would.
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.setsid(); fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2): os.dup2(slave, fd)
            os.close(master); os.execv(argv[0], argv)
        out = b""; echo_during = None; status = None; deadline = time.time() + 120
        while status is None and time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.1)
            if r: out += os.read(master, 4096)
            if answers and out.rstrip().endswith(b":"):
                if echo_during is None: echo_during = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
                answer = answers.pop(0)
                os.write(master, b"\x03" if answer == "^C" else answer.encode() + b"\n")
                out += b"<answered>"
            done, st = os.waitpid(pid, os.WNOHANG)
            if done: status = st
        while select.select([master], [], [], 0.2)[0]:
            chunk = os.read(master, 4096)
            if not chunk: break
            out += chunk
        echo_after = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
        print(json.dumps({"out": out.decode("utf-8", "replace"), "exit": os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None,
                          "signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
                          "echo_during": echo_during, "echo_after": echo_after}))
        """#
        let answersJSON = String(decoding: try JSONSerialization.data(withJSONObject: answers), as: UTF8.self)
        let result = try box.exec("python3", ["-c", script, answersJSON, agentBinary] + args, stdin: nil, env: [:], cwd: box.repo)
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test func terminalPromptAsksWithEchoOffAndRestoresIt() throws {
        let b = try Box()
        #expect(try b.box.agent(["keygen", "--passphrase", "--kdf", "interactive"],
                                env: ["AGENT_NEW_PASSPHRASE_FILE": try b.passphraseFile("tty secret")]).status == 0)
        #expect(try b.box.agent(["init"], env: try b.unlocking("tty secret")).status == 0)
        #expect(try b.box.agent(["set", "A"], stdin: "alpha", env: try b.unlocking("tty secret")).status == 0)

        // Right passphrase after a wrong one: asked again, then rendered; never echoed.
        let ok = try onTerminal(b.box, ["render"], answers: ["typo", "tty secret"])
        let out = ok["out"] as? String ?? ""
        #expect(ok["exit"] as? Int == 0, "\(out)")
        #expect(out.contains("Passphrase for \(b.identityFile): "))
        #expect(out.contains("wrong passphrase, try again"))
        #expect(out.contains("A='alpha'"))
        #expect(!out.contains("tty secret") && !out.contains("typo"))
        #expect(ok["echo_during"] as? Bool == false)
        #expect(ok["echo_after"] as? Bool == true)

        // Three wrong tries: authentication_failed (exit 3).
        let wrong = try onTerminal(b.box, ["render"], answers: ["a", "b", "c"])
        #expect(wrong["exit"] as? Int == 3, "\(wrong["out"] ?? "")")
        #expect((wrong["out"] as? String)?.contains("wrong passphrase, or the file was changed") == true)

        // Ctrl-C at the prompt: killed by SIGINT, echo back on.
        let interrupted = try onTerminal(b.box, ["render"], answers: ["^C"])
        #expect(interrupted["signal"] as? Int == 2, "\(interrupted["out"] ?? "")")
        #expect(interrupted["echo_during"] as? Bool == false)
        #expect(interrupted["echo_after"] as? Bool == true)

        // Adding a passphrase on the terminal asks twice; a mismatch changes nothing.
        let mismatch = try onTerminal(b.box, ["passphrase"], answers: ["tty secret", "one", "two"])
        #expect(mismatch["exit"] as? Int == 7, "\(mismatch["out"] ?? "")")
        let change = try onTerminal(b.box, ["passphrase", "--kdf", "interactive"], answers: ["tty secret", "new one", "new one"])
        #expect(change["exit"] as? Int == 0, "\(change["out"] ?? "")")
        #expect(try b.box.agent(["render"], env: try b.unlocking("new one")).stdout == "A='alpha'\n")

        // A value typed at the prompt, then the passphrase: neither is echoed.
        let set = try onTerminal(b.box, ["set", "B"], answers: ["bee value", "new one"])
        #expect(set["exit"] as? Int == 0, "\(set["out"] ?? "")")
        #expect((set["out"] as? String)?.contains("Value for B: ") == true)
        #expect((set["out"] as? String).map { !$0.contains("bee value") && !$0.contains("new one") } == true)
        #expect(set["echo_after"] as? Bool == true)
        #expect(try b.box.agent(["render", "B"], env: try b.unlocking("new one")).stdout == "B='bee value'\n")
    }
}
