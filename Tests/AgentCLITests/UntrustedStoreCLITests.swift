import Foundation
import Testing

/// Everything in the repository is input, through the built binary: lines hand-edited and
/// committed with the git CLI, write-only writers reaching for execution env vars, write-only
/// values that keep their mark until `agent adopt`, and merges that would map one env var twice.
@Suite struct UntrustedStoreCLITests {
    static let nobody = "nobody"

    func nobody(_ box: Sandbox) -> [String: String] { ["XDG_CONFIG_HOME": box.root + "/" + Self.nobody] }

    /// The lines of `environment`'s secrets file in the working tree of `repo`.
    func lines(_ repo: String, _ environment: String = "dev") throws -> [String] {
        try String(contentsOfFile: repo + "/.envagent/\(environment)/secrets", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func line(_ repo: String, _ name: String) throws -> String? {
        try lines(repo).first { $0.hasPrefix(name + " ") }
    }

    /// Rewrites the secrets file with `edit` and commits it with the git CLI.
    func handEdit(_ box: Sandbox, _ edit: (inout [String]) -> Void) throws {
        var text = try lines(box.repo)
        edit(&text)
        try (text.joined(separator: "\n") + "\n").write(toFile: box.repo + "/.envagent/dev/secrets", atomically: true, encoding: .utf8)
        #expect(try box.git("commit", "-qam", "hand edit").status == 0)
    }

    /// Sets field `index` (1: ENV_VAR) of `name`'s line.
    func setField(_ box: Sandbox, _ index: Int, of name: String, to text: String) throws {
        try handEdit(box) { lines in
            for i in lines.indices where lines[i].hasPrefix(name + " ") {
                var fields = lines[i].split(separator: " ").map(String.init)
                fields[index] = text
                lines[i] = fields.joined(separator: " ")
            }
        }
    }

    func errors(_ result: Result) -> [(loc: [String], type: String)] {
        (result.envelope?["errors"] as? [[String: Any]] ?? []).map { ($0["loc"] as? [String] ?? [], $0["type"] as? String ?? "") }
    }

    func head(_ box: Sandbox) throws -> String { try box.git("rev-parse", "HEAD").stdout }

    @Test func handEditedEnvVarNeverReachesAnEval() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "A", stdin: "value-of-a-0000").status == 0)
        #expect(try box.agent("set", "B", stdin: "value-of-b-1111").status == 0)
        let marker = box.root + "/pwned"
        for envVar in ["X=$(touch \(marker));Y", "X=$(touch${IFS}\(marker));Y", "X=`touch${IFS}\(marker)`;Y"] {
            try setField(box, 1, of: "B", to: envVar)
            let commit = try head(box).trimmingCharacters(in: .whitespacesAndNewlines)
            for format in ["sh", "env", "json"] {
                let render = try box.agent("render", "--format", format, "--json")
                #expect(render.status == 1 && render.stdout.isEmpty, "\(format): \(render.stdout)")
                #expect(render.envelope?["type"] as? String == "internal_error")
                #expect(errors(render).map(\.loc) == [["dev", "B"]] && errors(render).map(\.type) == ["bad_line"], "\(render.stderr)")
                #expect(!render.stderr.contains("value-of") && !render.stderr.contains(marker))
            }
            let plain = try box.agent("render", "--format", "sh")
            #expect(plain.status == 1 && plain.stderr.contains("secret 'B' in environment 'dev'"), "\(plain.stderr)")
            // What a user runs: nothing is executed.
            let eval = try box.exec("/bin/sh", ["-c", "eval \"$('\(agentBinary)' render --format sh)\"; echo \"A=$A\""],
                                    stdin: nil, env: [:], cwd: box.repo)
            #expect(eval.stdout == "A=\n")
            #expect(!FileManager.default.fileExists(atPath: marker), "the hand-edited env var ran")
            let run = try box.agent("run", "--", "/bin/sh", "-c", "echo ran")
            #expect(run.status == 1 && run.stdout.isEmpty && run.stderr.contains("secret 'B'"), "\(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker))
            // verify lists it with the commit that made it; reverting repairs the store.
            let verify = try box.agent("verify", "--json")
            #expect(verify.status == 1 && verify.stdout.contains("\"type\":\"bad_line\"") && verify.stdout.contains(commit))
            #expect(errors(verify).first?.loc == ["dev", "B"] && errors(verify).first?.type == "bad_line")
            #expect(try box.git("revert", "--no-edit", "HEAD").status == 0)
            #expect(try box.agent("verify").status == 0)
        }
        let fine = try box.exec("/bin/sh", ["-c", "eval \"$('\(agentBinary)' render --format sh)\"; echo \"A=$A B=$B\""],
                                stdin: nil, env: [:], cwd: box.repo)
        #expect(fine.stdout == "A=value-of-a-0000 B=value-of-b-1111\n")
        // `agent delete` is the other repair.
        try setField(box, 1, of: "B", to: "B=1")
        #expect(try box.agent("list").status == 1)
        #expect(try box.agent("delete", "B").status == 0)
        #expect(try box.agent("render").stdout == "A='value-of-a-0000'\n")
    }

    @Test func duplicateNamesAndEnvVarsAreRefused() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        try box.write("A=value-of-a-0000\nB=value-of-b-1111\n", to: "seed.env")
        #expect(try box.agent("import", "seed.env").status == 0)
        try handEdit(box) { $0.append($0[0]) }
        let twice = try box.agent("render", "--json")
        #expect(twice.status == 1 && errors(twice).map(\.type) == ["duplicate_name"] && errors(twice).first?.loc == ["dev", "A"])
        #expect(try box.agent("verify", "--json").stdout.contains("\"type\":\"duplicate_name\""))
        #expect(try box.git("revert", "--no-edit", "HEAD").status == 0)

        try setField(box, 1, of: "B", to: "A")
        let shared = try box.agent("get", "A")
        #expect(shared.status == 1 && shared.stderr.contains("'B'") && shared.stderr.contains("'A'"), "\(shared.stderr)")
        #expect(errors(try box.agent("run", "--json", "--", "/bin/true")).map(\.type) == ["duplicate_env_var"])
        #expect(errors(try box.agent("set", "C", "--json", stdin: "c")).map(\.type) == ["duplicate_env_var"])
        let verify = try box.agent("verify", "--json")
        #expect(verify.status == 1 && errors(verify).map(\.type) == ["duplicate_env_var"])
    }

    @Test func writeOnlyWriterCannotSetExecutionEnvVarsAndMembersOnlyExplicitly() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: "sk-proj-original-0000000000").status == 0)
        let before = try head(box)
        for envVar in ["PATH", "LD_PRELOAD", "NODE_OPTIONS"] {
            let refused = try box.agent(["create", "HOOK_\(envVar.count)", "--env-var", envVar, "--allow-exec-env-var", "--json"],
                                        stdin: "/tmp/evil-value", env: nobody(box))
            #expect(refused.status == 7 && refused.envelope?["type"] as? String == "validation_error", "\(refused.stderr)")
            #expect(errors(refused).map(\.type) == ["restricted_env_var"] && errors(refused).first?.loc == ["env_var"])
            #expect(refused.stderr.contains(envVar) && !refused.stderr.contains("/tmp/evil-value"))
        }
        try box.write("LD_PRELOAD=/tmp/evil.so\n", to: "evil.env")
        #expect(try box.agent(["import", "evil.env", "--allow-exec-env-var"], env: nobody(box)).status == 7)
        #expect(try head(box) == before)

        let implicit = try box.agent("set", "TOOLS", "--env-var", "PATH", stdin: "/opt/tools/bin:/usr/bin:/bin")
        #expect(implicit.status == 7 && implicit.stderr.contains("--allow-exec-env-var"), "\(implicit.stderr)")
        #expect(try head(box) == before)
        let explicit = try box.agent("set", "TOOLS", "--env-var", "PATH", "--allow-exec-env-var", stdin: "/opt/tools/bin:/usr/bin:/bin")
        #expect(explicit.status == 0, "\(explicit.stderr)")
        let run = try box.agent("run", "--no-mask", "TOOLS", "--", "/bin/sh", "-c", "printf %s \"$PATH\"")
        #expect(run.status == 0 && run.stdout == "/opt/tools/bin:/usr/bin:/bin", "\(run.stderr)")
        #expect(try box.agent(["update", "TOOLS"], stdin: "/tmp", env: nobody(box)).status == 7)
    }

    @Test func writeOnlyValueHandEditedOntoLDPreloadReachesNoChild() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: "sk-proj-original-0000000000").status == 0)
        let created = try box.agent(["create", "INJECT", "--env-var", "SAFE_INJECT"], stdin: "/tmp/evil-preload.so", env: nobody(box))
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try box.agent("run", "--no-mask", "--", "env").stdout.contains("SAFE_INJECT=/tmp/evil-preload.so"))
        try setField(box, 1, of: "INJECT", to: "LD_PRELOAD")
        let run = try box.agent("run", "--", "env")
        #expect(run.status == 1 && !run.stdout.contains("evil-preload") && !run.stdout.contains("LD_PRELOAD"), "\(run.stdout)")
        #expect(run.stderr.contains("secret 'INJECT'") && run.stderr.contains("LD_PRELOAD"), "\(run.stderr)")
        let named = try box.agent("run", "--json", "API_KEY", "--", "env")
        #expect(named.status == 1 && errors(named).map(\.type) == ["restricted_env_var"])
        let verify = try box.agent("verify", "--json")
        #expect(verify.status == 1 && errors(verify).map(\.loc) == [["dev", "INJECT"]] && errors(verify).map(\.type) == ["restricted_env_var"])
    }

    @Test func writeOnlyValuesAreMarkedUntilAdopted() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: "sk-proj-original-0000000000").status == 0)
        #expect(try box.agent("set", "OTHER", stdin: "other-value-0000").status == 0)
        #expect(try box.agent(["update", "API_KEY"], stdin: "sk-proj-from-ci-11111111111", env: nobody(box)).status == 0)
        func writeOnly() throws -> [String: Bool] {
            let listed = try JSONSerialization.jsonObject(with: Data(try box.agent("list", "--json").stdout.utf8)) as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: listed.map { ($0["name"] as? String ?? "", $0["write_only"] as? Bool ?? false) })
        }
        #expect(try writeOnly() == ["API_KEY": true, "OTHER": false])
        let table = try box.agent("list").stdout.split(separator: "\n")
        #expect(table.first?.hasSuffix("WRITTEN BY") == true)
        #expect(table.first { $0.hasPrefix("API_KEY ") }?.hasSuffix("write-only") == true)
        #expect(table.first { $0.hasPrefix("OTHER ") }?.hasSuffix("member") == true)
        #expect(try box.agent("get", "API_KEY", "--json").stdout.contains("\"write_only\":true"))
        #expect(try box.agent(["list", "--json"], env: nobody(box)).stdout.contains("\"write_only\":true"))

        // A member's update of another secret leaves the write-only line byte for byte.
        let sealed = try #require(try line(box.repo, "API_KEY"))
        #expect(sealed.split(separator: " ")[4].hasPrefix("s:"))
        #expect(try box.agent("update", "OTHER", stdin: "other-value-1111").status == 0)
        #expect(try line(box.repo, "API_KEY") == sealed)

        // Rotation keeps it write-only and readable.
        #expect(try box.agent("rotate").status == 0)
        let rotated = try #require(try line(box.repo, "API_KEY"))
        #expect(rotated != sealed && rotated.split(separator: " ")[4].hasPrefix("s:"))
        #expect(try box.agent("get", "API_KEY", "--reveal").stdout == "sk-proj-from-ci-11111111111\n")
        #expect(try writeOnly() == ["API_KEY": true, "OTHER": false])

        // adopt: only write-only names, one commit, then a member's value.
        let notWriteOnly = try box.agent("adopt", "OTHER", "--json")
        #expect(notWriteOnly.status == 7 && errors(notWriteOnly).map(\.type) == ["not_write_only"])
        #expect(try box.agent("adopt").status == 64)
        #expect(try box.agent("adopt", "API_KEY", "--all").status == 64)
        #expect(try box.agent(["adopt", "API_KEY"], env: nobody(box)).status == 4)
        let adopted = try box.agent("adopt", "API_KEY")
        #expect(adopted.status == 0 && adopted.stdout == "adopted API_KEY (dev)\n", "\(adopted.stderr)")
        #expect(try box.git("log", "-1", "--format=%s").stdout == "adopt API_KEY (dev)\n")
        #expect(try line(box.repo, "API_KEY")?.split(separator: " ")[4].hasPrefix("a:") == true)
        #expect(try writeOnly() == ["API_KEY": false, "OTHER": false])
        #expect(try box.agent("get", "API_KEY", "--reveal").stdout == "sk-proj-from-ci-11111111111\n")
        #expect(try box.agent("adopt", "--all").stdout == "no write-only values in dev\n")
        #expect(try box.git("status", "--porcelain", "--", ".envagent").stdout.isEmpty)
    }

    /// Two clones map one env var to two names: the sync stops with both as conflicts, and
    /// `resolve` keeps one.
    @Test func syncOfOneEnvVarMappedToTwoNamesIsAConflict() throws {
        let team = try SyncTests.Team()
        let other = try team.clone("other")
        let mine = team.box.repo
        #expect(try team.agent(other, "set", "NEW_THEIRS", "--env-var", "SHARED", stdin: "theirs-shared-value").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        #expect(try team.agent(mine, "set", "NEW_OURS", "--env-var", "SHARED", stdin: "ours-shared-value").status == 0)
        let remoteBefore = try team.remoteHead()

        let stopped = try team.agent(mine, "sync", "--json")
        #expect(stopped.status == 12 && stopped.envelope?["type"] as? String == "merge_conflict", "\(stopped.stderr)")
        #expect(errors(stopped).map(\.loc) == [["dev", "NEW_OURS"], ["dev", "NEW_THEIRS"]])
        #expect(stopped.stderr.contains("SHARED") && !stopped.stderr.contains("shared-value"))
        #expect(try team.remoteHead() == remoteBefore)

        #expect(try team.agent(mine, "resolve", "NEW_OURS", "--ours").status == 0)
        let resolved = try team.agent(mine, "resolve", "NEW_THEIRS", "--ours") // absent here: dropped
        #expect(resolved.status == 0 && resolved.stdout.contains("merged at"), "\(resolved.stderr)")
        #expect(try team.agent(mine, "sync").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        for clone in [mine, other] {
            let rendered = try team.render(clone)
            #expect(rendered.contains("SHARED='ours-shared-value'\n") && !rendered.contains("theirs-shared-value"), "\(rendered)")
            #expect(try team.agent(clone, "verify").status == 0)
        }
    }

    /// Rotations on both sides make the merge seal everything under a fresh key; a write-only
    /// value stays write-only.
    @Test func mergeUnderAFreshKeyKeepsWriteOnlyValues() throws {
        let team = try SyncTests.Team()
        let mine = team.box.repo
        #expect(try team.box.agent(["update", "A"], stdin: "sealed-by-ci-000", env: nobody(team.box)).status == 0)
        #expect(try team.agent(mine, "sync").status == 0)
        let other = try team.clone("other")
        #expect(try team.agent(mine, "rotate").status == 0)
        #expect(try team.agent(other, "rotate").status == 0)
        func publicKey(_ clone: String) throws -> Substring? {
            try String(contentsOfFile: clone + "/.envagent/dev/recipients", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("public-key") }
        }
        let sides = try [publicKey(mine), publicKey(other)]
        #expect(try team.agent(other, "sync").status == 0)
        let merged = try team.agent(mine, "sync")
        #expect(merged.status == 0 && merged.stdout.hasPrefix("merged"), "\(merged.stderr)")
        #expect(try !sides.contains(publicKey(mine))) // a fresh key: every value was sealed again
        #expect(try line(mine, "A")?.split(separator: " ")[4].hasPrefix("s:") == true)
        #expect(try line(mine, "B")?.split(separator: " ")[4].hasPrefix("a:") == true)
        #expect(try team.agent(mine, "get", "A", "--reveal").stdout == "sealed-by-ci-000\n")
        #expect(try team.agent(mine, "get", "A", "--json").stdout.contains("\"write_only\":true"))
        #expect(try team.agent(mine, "verify").status == 0)
    }
}
