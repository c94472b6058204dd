import Foundation
import Testing

/// Team access through the built binary: two identities, hand-edited stores committed with the
/// git CLI, and a write-only contributor without an identity.
@Suite struct TeamAccessCLITests {
    /// The value field of every line of `environment`'s secrets file.
    func valueFields(_ box: Sandbox, _ environment: String) throws -> [String: String] {
        let text = try String(contentsOfFile: box.repo + "/.envagent/\(environment)/secrets", encoding: .utf8)
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            fields[String(parts[0])] = String(parts[4])
        }
        return fields
    }

    /// Replaces `name`'s value field in `environment` with `value` and commits with the git CLI.
    func handEdit(_ box: Sandbox, _ environment: String, _ name: String, value: String) throws {
        let path = box.repo + "/.envagent/\(environment)/secrets"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let edited = text.split(separator: "\n").map { line -> String in
            var parts = line.split(separator: " ").map(String.init)
            if parts[0] == name { parts[4] = value }
            return parts.joined(separator: " ")
        }.joined(separator: "\n") + "\n"
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try box.git("commit", "-qam", "hand edit of \(name) (\(environment))").status == 0)
    }

    @Test func memberAddedThenRemovedLosesAccessEverywhere() throws {
        let box = try Sandbox()
        #expect(try box.agent("init", "--name", "alice").status == 0)
        for environment in ["dev", "prod"] {
            try box.write("API_KEY=sk-proj-\(environment)-0123456789abcdef\nDB_URL=postgres://\(environment)/db\n", to: "\(environment).env")
            #expect(try box.agent("import", "\(environment).env", "--env", environment).status == 0)
        }
        let bobHome = ["XDG_CONFIG_HOME": box.root + "/bob"]
        let bobKey = try box.agent(["keygen"], env: bobHome).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try box.agent(["render", "--env", "dev"], env: bobHome).status == 4)
        let added = try box.agent("recipients", "add", bobKey, "--name", "bob", "--all-envs")
        #expect(added.status == 0, "\(added.stderr)")
        let listing = try box.agent("recipients", "list", "--env", "prod", "--json")
        #expect(listing.stdout.contains(bobKey) && listing.stdout.contains("\"bob\""))

        var rendered: [String: String] = [:]
        var before: [String: [String: String]] = [:]
        for environment in ["dev", "prod"] {
            rendered[environment] = try box.agent("render", "--env", environment).stdout
            #expect(try box.agent(["render", "--env", environment], env: bobHome).stdout == rendered[environment])
            before[environment] = try valueFields(box, environment)
        }

        let removed = try box.agent("recipients", "remove", "bob", "--all-envs", "--json")
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("\"rotated_secrets\":4"))
        for environment in ["dev", "prod"] {
            let bob = try box.agent(["render", "--env", environment, "--json"], env: bobHome)
            #expect(bob.status == 4 && bob.envelope?["type"] as? String == "forbidden", "\(bob.stderr)")
            #expect(try box.agent(["get", "API_KEY", "--reveal", "--env", environment], env: bobHome).status == 4)
            let after = try valueFields(box, environment)
            #expect(Set(after.keys) == Set(before[environment]!.keys))
            for (name, field) in after { #expect(field != before[environment]![name], "\(environment)/\(name) kept its ciphertext") }
            #expect(try box.agent("render", "--env", environment).stdout == rendered[environment])
        }
        let verify = try box.agent("verify", "--all-envs")
        #expect(verify.status == 0 && verify.stdout.contains("ok  dev: 2 values") && verify.stdout.contains("ok  prod: 2 values"))
        let history = try box.agent("history").stdout
        #expect(history.contains("recipient-remove bob (dev, prod): rotated") && history.contains("recipient-add bob (dev, prod)"))
        #expect(history.split(separator: "\n").filter { $0.contains("recipient-") }.allSatisfy { $0.contains(" alice ") })
        // The last recipient stays.
        let last = try box.agent("recipients", "remove", try box.agent("whoami").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "--json")
        #expect(last.status == 7 && last.stderr.contains("last_recipient"))
        // On-demand rotation changes every ciphertext again and verifies clean.
        let beforeRotate = try valueFields(box, "dev")
        #expect(try box.agent("rotate", "--env", "dev").stdout == "rotated dev: 2 secrets re-encrypted\n")
        for (name, field) in try valueFields(box, "dev") { #expect(field != beforeRotate[name]) }
        #expect(try box.agent("verify").status == 0)
        #expect(try box.agent("render", "--env", "dev").stdout == rendered["dev"])
    }

    @Test func ciphertextMovedByHandFailsNamingTheLine() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        try box.write("A=value-of-a-000000\nB=value-of-b-111111\nC=value-of-c-222222\n", to: "dev.env")
        #expect(try box.agent("import", "dev.env").status == 0)
        #expect(try box.agent("set", "A", "--env", "prod", stdin: "prod-value-of-a").status == 0)
        let other = try Sandbox()
        #expect(try other.agent("init").status == 0)
        #expect(try other.agent("set", "A", stdin: "other-store-value").status == 0)
        let dev = try valueFields(box, "dev")
        let prod = try valueFields(box, "prod")
        let foreign = try valueFields(other, "dev")

        let cases: [(environment: String, name: String, field: String)] = [
            ("dev", "B", dev["A"]!),      // another name
            ("dev", "A", prod["A"]!),     // another environment
            ("dev", "A", foreign["A"]!),  // another store
            ("dev", "A", String(dev["A"]!.dropLast(12))),   // truncated
            ("dev", "A", "a:not*base64!"),                  // not base64
            ("dev", "A", flipped(dev["A"]!)),               // one bit flipped
        ]
        for (environment, name, field) in cases {
            try handEdit(box, environment, name, value: field)
            let commit = try box.git("rev-parse", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let failure = try box.agent("render", "--env", environment)
            #expect(failure.status == 1, "\(failure.stderr)")
            #expect(failure.stderr.contains("secret '\(name)' in environment '\(environment)'"), "\(failure.stderr)")
            #expect(!failure.stderr.contains("value-of"))
            // The other values still render.
            let others = ["A", "B", "C"].filter { $0 != name }
            let rest = try box.agent(["render", "--env", environment] + others)
            #expect(rest.status == 0 && rest.stdout.contains("value-of-c-222222"), "\(rest.stderr)")
            let verify = try box.agent("verify", "--env", environment, "--json")
            #expect(verify.status == 1)
            #expect(verify.stdout.contains("\"name\":\"\(name)\"") && verify.stdout.contains(commit))
            #expect((verify.envelope?["errors"] as? [[String: Any]])?.first?["loc"] as? [String] == [environment, name])
            #expect(try box.git("revert", "--no-edit", "HEAD").status == 0)
            #expect(try box.agent("verify", "--env", environment).status == 0)
        }
    }

    func flipped(_ field: String) -> String {
        var characters = Array(field)
        let index = characters.count - 6
        characters[index] = characters[index] == "A" ? "B" : "A"
        return String(characters)
    }

    /// The flow of samples/ci/*.yml: a CI identity from `keygen --ci`, added to the `ci`
    /// environment, used through AGENT_IDENTITY alone.
    @Test func ciIdentityRendersFromAgentIdentity() throws {
        let box = try Sandbox()
        #expect(try box.agent("init", "--env", "ci").status == 0)
        #expect(try box.agent("set", "DB_URL", "--env", "ci", stdin: "postgres://ci:pw@db/test").status == 0)
        let keygen = try box.agent(["keygen", "--ci"], env: ["XDG_CONFIG_HOME": box.root + "/ci-config"])
        let keyText = keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(keyText.hasPrefix("AGENT-SECRET-KEY-") && !keygen.stderr.contains(keyText))
        #expect(!FileManager.default.fileExists(atPath: box.root + "/ci-config/envagent/identity"))
        let publicKey = String(try #require(keygen.stderr.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("agent-pub-") }))
        #expect(try box.agent("recipients", "add", publicKey, "--name", "ci-github", "--env", "ci").status == 0)

        let ci = ["AGENT_IDENTITY": keyText, "AGENT_ENV": "ci", "XDG_CONFIG_HOME": box.root + "/ci-config"]
        let render = try box.agent(["render", "-o", ".env"], env: ci)
        #expect(render.status == 0, "\(render.stderr)")
        #expect(try String(contentsOfFile: box.repo + "/.env", encoding: .utf8) == "DB_URL='postgres://ci:pw@db/test'\n")
        #expect((try FileManager.default.attributesOfItem(atPath: box.repo + "/.env")[.posixPermissions] as? Int) == 0o600)
        #expect(try box.agent(["run", "--", "/bin/sh", "-c", "test \"$DB_URL\" = postgres://ci:pw@db/test"], env: ci).status == 0)
        #expect(try box.agent(["history", "DB_URL"], env: ci).stdout.contains("recipient-add"))
        // A CI key with a typo is refused as authentication_failed.
        let typo = String(keyText.dropLast()) + (keyText.last == "A" ? "B" : "A")
        #expect(try box.agent(["render", "--json"], env: ci.merging(["AGENT_IDENTITY": typo]) { $1 }).status == 3)
    }

    /// Progress on a terminal (a pseudo-terminal from util-linux `script`), silence otherwise.
    @Test func rotationShowsProgressOnlyOnATerminal() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        try box.write((0..<1000).map { "K\($0)=value-\($0)-abcdefghijkl\n" }.joined(), to: "many.env")
        #expect(try box.agent("import", "many.env").status == 0)
        let piped = try box.agent("rotate")
        #expect(piped.status == 0 && !piped.stderr.contains("rotating"))
        let tty = try box.exec("/usr/bin/script", ["-qec", "\(agentBinary) rotate", "/dev/null"], stdin: nil, env: [:], cwd: box.repo)
        #expect(tty.status == 0, "\(tty.stderr)")
        #expect(tty.stdout.contains("rotating dev: 1000/1000") && tty.stdout.contains("rotated dev: 1000 secrets re-encrypted"))
        #expect(try box.agent("verify").status == 0)
    }

    @Test func writeOnlyContributorWithoutIdentity() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: "sk-proj-original-0000000000").status == 0)
        let nobody = ["XDG_CONFIG_HOME": box.root + "/nobody"]
        let update = try box.agent(["update", "API_KEY"], stdin: "sk-proj-rotated-by-ci-1111111", env: nobody)
        #expect(update.status == 0, "\(update.stderr)")
        #expect(update.stderr.contains("written write-only"))
        #expect(try box.agent(["create", "NEW_TOKEN"], stdin: "ghp_contributed_222222222", env: nobody).status == 0)
        try box.write("IMPORTED=imported-write-only-333\n", to: "more.env")
        #expect(try box.agent(["import", "more.env"], env: nobody).status == 0)
        #expect(try box.git("status", "--porcelain", "--", ".envagent").stdout.isEmpty)

        // Names and bullets only; reveals are forbidden, never a crash.
        let list = try box.agent(["list", "--json"], env: nobody)
        #expect(list.status == 0)
        #expect(list.stdout.contains("\"masked_value\":\"••••\"") && !list.stdout.contains("sk-pro"))
        for args in [["render"], ["get", "API_KEY", "--reveal"], ["run", "--", "/bin/true"], ["verify"], ["rotate"]] {
            let result = try box.agent([args[0], "--json"] + args.dropFirst(), env: nobody)
            #expect(result.status == 4 && result.envelope?["type"] as? String == "forbidden", "\(args): \(result.stderr)")
        }
        // A member reads every value; write-only values stay so until a member adopts them.
        #expect(try box.agent("get", "API_KEY", "--reveal").stdout == "sk-proj-rotated-by-ci-1111111\n")
        #expect(try box.agent("verify").stdout.contains("(3 write-only)"))
        #expect(try box.agent("render", "NEW_TOKEN", "IMPORTED").stdout == "NEW_TOKEN='ghp_contributed_222222222'\nIMPORTED='imported-write-only-333'\n")
        #expect(try box.agent("set", "OTHER", stdin: "member-write").status == 0)
        #expect(try valueFields(box, "dev").filter { $0.value.hasPrefix("s:") }.keys.sorted() == ["API_KEY", "IMPORTED", "NEW_TOKEN"])
        #expect(try box.agent("adopt", "--all").stdout == "adopted API_KEY, IMPORTED, NEW_TOKEN (dev)\n")
        #expect(try valueFields(box, "dev").values.allSatisfy { $0.hasPrefix("a:") })
        #expect(try box.agent("history", "API_KEY").stdout.contains("write-only"))
        let objects = try box.allGitObjects()
        for value in ["sk-proj-rotated-by-ci-1111111", "ghp_contributed_222222222", "imported-write-only-333"] {
            #expect(!objects.contains(value))
        }
    }
}
