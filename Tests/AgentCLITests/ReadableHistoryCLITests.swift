import EnvAgentCore
import Foundation
import Testing

/// Readable history through the real git CLI (`git log -p`, `git diff`) and the diff driver
/// `agent init` registers; and `sync` telling re-encryptions from value changes.
@Suite struct ReadableHistoryCLITests {
    static let values = ["sk-history-value-000001", "sk-history-value-000002", "postgres://u:secretpw@db/app", "tiny1"]

    /// Every value ever stored must stay out of what git prints.
    func expectNoValue(_ text: String, _ context: String) {
        for value in Self.values { #expect(!text.contains(value), "\(context) shows a value") }
        #expect(!text.contains("secretpw") && !text.contains("history-value"), "\(context)")
    }

    @Test func gitLogAndDiffShowMaskedPerSecretChanges() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let config = try box.git("config", "--get", "diff.envagent.textconv")
        #expect(config.status == 0 && config.stdout.hasSuffix("agent' textconv\n"), "\(config.stdout)")
        #expect(try String(contentsOfFile: box.repo + "/.gitattributes", encoding: .utf8).contains(".envagent/*/secrets merge=envagent diff=envagent"))
        #expect(try box.agent("set", "API_KEY", stdin: Self.values[0]).status == 0)
        #expect(try box.agent("set", "DB_URL", stdin: Self.values[2]).status == 0)
        #expect(try box.agent("set", "TINY", stdin: Self.values[3]).status == 0)
        #expect(try box.agent("update", "API_KEY", stdin: Self.values[1]).status == 0)
        #expect(try box.agent("delete", "TINY").status == 0)
        #expect(try box.agent("rotate").status == 0)

        let log = try box.git("log", "-p", "--", ".envagent")
        #expect(log.status == 0, "\(log.stderr)")
        expectNoValue(log.stdout, "git log -p")
        #expect(!log.stdout.contains("a:") || log.stdout.contains("sealed a:"))
        // Added: both lines of the secret appear, the value masked.
        let added = try box.git("show", "HEAD~5", "--", ".envagent/dev/secrets").stdout
        #expect(added.contains("+API_KEY = \(Masking.mask(Self.values[0]))  (env var API_KEY, updated "), "\(added)")
        #expect(added.contains("+API_KEY   sealed a:"))
        // Value changed: both lines change.
        let updated = try box.git("show", "HEAD~2", "--", ".envagent/dev/secrets").stdout
        #expect(updated.contains("-API_KEY = \(Masking.mask(Self.values[0]))") && updated.contains("+API_KEY = \(Masking.mask(Self.values[1]))"), "\(updated)")
        #expect(updated.contains("-API_KEY   sealed a:") && updated.contains("+API_KEY   sealed a:"))
        // Removed.
        let deleted = try box.git("show", "HEAD~1", "--", ".envagent/dev/secrets").stdout
        #expect(deleted.contains("-TINY = ••••  (env var TINY") && deleted.contains("-TINY   sealed a:"), "\(deleted)")
        // Re-encrypted (the rotation): only the sealed lines change, even though the old blob
        // was sealed under the key the rotation replaced.
        let rotated = try box.git("show", "HEAD", "--", ".envagent/dev/secrets").stdout
        #expect(rotated.contains("-API_KEY   sealed a:") && rotated.contains("+DB_URL   sealed a:"), "\(rotated)")
        #expect(!rotated.contains("-API_KEY =") && !rotated.contains("+DB_URL =") && !rotated.contains("= encrypted"), "\(rotated)")

        // git diff of the work tree: a hand-edited line (a write that bypassed agent) too.
        let path = box.repo + "/.envagent/dev/secrets"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try (original + "EXTRA EXTRA 2026-01-01T00:00:00Z 2026-01-01T00:00:00Z a:AAAA\n").write(toFile: path, atomically: true, encoding: .utf8)
        let diff = try box.git("diff")
        #expect(diff.stdout.contains("+EXTRA = encrypted  (env var EXTRA"), "\(diff.stdout)")
        expectNoValue(diff.stdout, "git diff")
        try original.write(toFile: path, atomically: true, encoding: .utf8)

        // A reader who cannot decrypt sees names and "encrypted", never a value or a mask.
        let stranger = try box.exec("/usr/bin/git", ["log", "-p", "--", ".envagent"], stdin: nil,
                                    env: ["XDG_CONFIG_HOME": box.root + "/nobody"], cwd: box.repo)
        #expect(stranger.stdout.contains("+API_KEY = encrypted  (env var API_KEY"), "\(stranger.stdout)")
        #expect(!stranger.stdout.contains(Masking.bullets))
        expectNoValue(stranger.stdout, "a stranger's git log -p")
    }

    @Test func setupMergeRoutesAnOlderStoreWithoutACommit() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: Self.values[0]).status == 0)
        // A store made before the diff driver existed: no diff= in .gitattributes, no config.
        try ".envagent/*/secrets merge=envagent\n.envagent/*/recipients merge=envagent\n"
            .write(toFile: box.repo + "/.gitattributes", atomically: true, encoding: .utf8)
        #expect(try box.git("commit", "-qam", "older attributes").status == 0)
        #expect(try box.git("config", "--unset", "diff.envagent.textconv").status == 0)
        #expect(try box.agent("update", "API_KEY", stdin: Self.values[1]).status == 0)
        let raw = try box.git("show", "HEAD").stdout // ciphertext lines, as before the driver
        #expect(raw.contains("+API_KEY API_KEY ") && !raw.contains("sealed a:"), "\(raw)")

        let setup = try box.agent("setup-merge")
        #expect(setup.status == 0 && setup.stdout.contains("diff.envagent.textconv"), "\(setup.stderr)")
        #expect(try box.git("status", "--porcelain").stdout.isEmpty) // nothing to commit
        let attributes = try String(contentsOfFile: box.repo + "/.git/info/attributes", encoding: .utf8)
        #expect(attributes.contains(".envagent/*/secrets diff=envagent"))
        let shown = try box.git("show", "HEAD").stdout
        #expect(shown.contains("+API_KEY = \(Masking.mask(Self.values[1]))"), "\(shown)")
        expectNoValue(shown, "git show")
        // Running it again adds nothing twice.
        #expect(try box.agent("setup-merge").status == 0)
        #expect(try String(contentsOfFile: box.repo + "/.git/info/attributes", encoding: .utf8) == attributes)
    }

    @Test func syncReportsReencryptionsApartFromValueChanges() throws {
        let team = try SyncTests.Team()
        let other = try team.clone("other")
        #expect(try team.agent(other, "rotate").status == 0)
        #expect(try team.agent(other, "update", "B", stdin: "value-b-changed-1").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        let pulled = try team.agent(team.box.repo, "sync", "--json")
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(pulled.stdout.utf8)) as? [String: Any]
        #expect(result?["changed"] as? [String] == ["dev/B"], "\(pulled.stdout)")
        #expect(result?["reencrypted"] as? [String] == ["dev/A", "dev/C", "dev/D"], "\(pulled.stdout)")
        #expect(try team.agent(other, "rotate").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        let text = try team.agent(team.box.repo, "sync")
        #expect(text.status == 0 && !text.stdout.contains("changed here"), "\(text.stdout)")
        #expect(text.stdout.contains("re-encrypted here (values unchanged): 4 secrets"), "\(text.stdout)")
    }
}
