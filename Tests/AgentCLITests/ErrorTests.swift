import Foundation
import Testing

/// Every error type the CLI can raise: exit code, and the envelope with --json.
@Suite struct ErrorTests {
    func expectError(_ result: Result, type: String, exit: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == exit, "\(result.stderr)", sourceLocation: sourceLocation)
        let envelope = result.envelope
        #expect(envelope?["type"] as? String == type, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(envelope?["status"] as? Int != nil, sourceLocation: sourceLocation)
        #expect(envelope?["message"] as? String != nil, sourceLocation: sourceLocation)
        #expect((envelope?["errors"] as? [[String: Any]])?.first?["loc"] != nil, sourceLocation: sourceLocation)
    }

    @Test func everyCLIErrorType() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "A", stdin: "value-a").status == 0)

        // invalid_request (2): malformed import
        try box.write("NOT VALID\n", to: "bad.env")
        expectError(try box.agent("import", "bad.env", "--json"), type: "invalid_request", exit: 2)
        // authentication_failed (3): no identity where one is needed, and a key text with a bad
        // checksum or prefix
        let noIdentity = try box.agent(["whoami", "--json"], env: ["XDG_CONFIG_HOME": box.root + "/empty"])
        expectError(noIdentity, type: "authentication_failed", exit: 3)
        let noIdentityText = try box.agent(["whoami"], env: ["XDG_CONFIG_HOME": box.root + "/empty"])
        #expect(noIdentityText.stderr.contains("hint: create one with `agent keygen`"))
        let badKey = try box.agent(["list", "--json"], env: ["AGENT_IDENTITY": "AGENT-SECRET-KEY-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
        expectError(badKey, type: "authentication_failed", exit: 3)
        let badPrefix = try box.agent(["list", "--json"], env: ["AGENT_IDENTITY": "age-secret-key-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"])
        expectError(badPrefix, type: "authentication_failed", exit: 3)
        // forbidden (4): reading values without an identity, or with one that is not a recipient
        let writeOnlyReveal = try box.agent(["get", "A", "--reveal", "--json"], env: ["XDG_CONFIG_HOME": box.root + "/empty"])
        expectError(writeOnlyReveal, type: "forbidden", exit: 4)
        let stranger = try box.exec(agentBinary, ["keygen", "--ci"], stdin: nil, env: [:], cwd: box.root).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        expectError(try box.agent(["render", "--json"], env: ["AGENT_IDENTITY": stranger]), type: "forbidden", exit: 4)
        // not_found (5)
        let missing = try box.agent("update", "NOPE", "--json", stdin: "x")
        expectError(missing, type: "not_found", exit: 5)
        #expect(missing.envelope?["status"] as? Int == 404)
        expectError(try box.agent("list", "--env", "nowhere", "--json"), type: "not_found", exit: 5)
        expectError(try box.agent("list", "--json", "--store", box.root + "/not-a-repo"), type: "not_found", exit: 5)
        // already_exists (6)
        expectError(try box.agent("create", "A", "--json", stdin: "x"), type: "already_exists", exit: 6)
        expectError(try box.agent("init", "--json"), type: "already_exists", exit: 6)
        // validation_error (7): bad name, bad env var, name that needs --env-var, value too long, NUL
        let badName = try box.agent("set", "bad name", "--json", stdin: "x")
        expectError(badName, type: "validation_error", exit: 7)
        #expect(((badName.envelope?["errors"] as? [[String: Any]])?.first?["loc"] as? [String]) == ["name"])
        expectError(try box.agent("set", "db.url", "--json", stdin: "x"), type: "validation_error", exit: 7)
        expectError(try box.agent("set", "B", "--env-var", "1BAD", "--json", stdin: "x"), type: "validation_error", exit: 7)
        let tooLong = try box.agent("set", "BIG", "--json", stdin: String(repeating: "x", count: 64 * 1024 + 1))
        expectError(tooLong, type: "validation_error", exit: 7)
        #expect(((tooLong.envelope?["errors"] as? [[String: Any]])?.first?["type"] as? String) == "string_too_long")
        expectError(try box.agent("set", "NUL", "--json", stdin: "a\u{0}b"), type: "validation_error", exit: 7)
        // upgrade_required (8): tested in UpgradeTests. internal_error (1): a corrupted ciphertext.
        let secrets = box.repo + "/.envagent/dev/secrets"
        var text = try String(contentsOfFile: secrets, encoding: .utf8)
        text = text.replacingOccurrences(of: " a:", with: " a:AAAA")
        try text.write(toFile: secrets, atomically: true, encoding: .utf8)
        try box.git("commit", "-qam", "corrupt by hand")
        let corrupted = try box.agent("render", "--json")
        expectError(corrupted, type: "internal_error", exit: 1)
        #expect(corrupted.stderr.contains("'A'"))
        // Argument errors keep ArgumentParser's usage code.
        #expect(try box.agent("get").status == 64)
        #expect(try box.agent("frobnicate").status == 64)
    }

    @Test func upgradeRequiredTouchesNothing() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "A", stdin: "v").status == 0)
        let header = try String(contentsOfFile: box.repo + "/.envagent/store", encoding: .utf8)
        try box.write(header.replacingOccurrences(of: "format 2", with: "format 3"), to: ".envagent/store")
        try box.git("commit", "-qam", "newer format")
        let head = try box.git("rev-parse", "HEAD").stdout
        let snapshot = try String(contentsOfFile: box.repo + "/.envagent/dev/secrets", encoding: .utf8)
        for args in [["update", "A", "--json"], ["list", "--json"], ["render", "--json"], ["get", "A", "--json"]] {
            let result = try box.agent(args, stdin: "new")
            #expect(result.status == 8, "\(args): \(result.stderr)")
            #expect(result.envelope?["type"] as? String == "upgrade_required")
        }
        #expect(try box.git("rev-parse", "HEAD").stdout == head)
        #expect(try String(contentsOfFile: box.repo + "/.envagent/dev/secrets", encoding: .utf8) == snapshot)
    }

    @Test func identityRules() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let file = box.root + "/config/envagent/identity"
        var attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        attributes = try FileManager.default.attributesOfItem(atPath: box.root + "/config/envagent")
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        // keygen never overwrites
        #expect(try box.agent("keygen").status == 6)
        // 0644 refused with a clear message
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        let exposed = try box.agent("list")
        #expect(exposed.status == 3)
        #expect(exposed.stderr.contains("chmod 600"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        // The same key text works from AGENT_IDENTITY, AGENT_IDENTITY_FILE and --identity.
        let keyText = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").first { !$0.hasPrefix("#") }!
        let empty = ["XDG_CONFIG_HOME": box.root + "/nothing"]
        #expect(try box.agent(["list"], env: empty.merging(["AGENT_IDENTITY": String(keyText)]) { $1 }).status == 0)
        #expect(try box.agent(["list"], env: empty.merging(["AGENT_IDENTITY_FILE": file]) { $1 }).status == 0)
        #expect(try box.agent(["list", "--identity", file], env: empty).status == 0)
        // AGENT_IDENTITY wins over a file
        let other = try box.exec(agentBinary, ["keygen", "--ci"], stdin: nil, env: [:], cwd: box.root).stdout
        #expect(try box.agent(["render"], env: ["AGENT_IDENTITY": other.trimmingCharacters(in: .whitespacesAndNewlines)]).status == 4)
    }
}
