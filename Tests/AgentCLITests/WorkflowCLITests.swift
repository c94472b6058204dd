import Foundation
import TestSupport
import Testing

/// Issue 16 (part A) through the built binary: render formats, base environments and `copy`,
/// empty values, `init`'s .gitignore, the README's targets example, help texts and keygen.
@Suite struct WorkflowCLITests {
    /// Values a YAML writer must quote and escape to keep them strings, byte for byte.
    static let yamlValues: [String: String] = [
        "NEWLINES": "line 1\nline 2\n", "QUOTES": #"say "hi" and 'bye' \ back\slash"#, "COLON": "key: value # not a comment",
        "YES": "yes", "NULL_TEXT": "null", "NUMBER": "0123", "LEADING": "  spaced  ", "UNICODE": "é 😀 \u{2028} \u{85} end",
        "TAB": "a\tb", "DASH": "- item", "BRACES": "{not: a map}", "STAR": "*alias", "CONTROL": "bell\u{7}x",
    ]

    func seed(_ box: Sandbox, _ values: [String: String], env: String = "dev") throws {
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            let result = try box.agent("set", name, "--env", env, stdin: value)
            #expect(result.status == 0, "\(name): \(result.stderr)")
        }
    }

    @Test func renderYAMLAndK8sAreReadBackByPyYAML() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        // set drops one trailing newline from stdin: give the value with a newline an extra one.
        try seed(box, Self.yamlValues.mapValues { $0.hasSuffix("\n") ? $0 + "\n" : $0 })
        let yamlOut = try box.agent("render", "--format", "yaml", "-o", "out.yaml")
        #expect(yamlOut.status == 0, "\(yamlOut.stderr)")
        let k8s = try box.agent("render", "--format", "k8s", "--name", "app-secrets", "-o", "secret.yaml")
        #expect(k8s.status == 0, "\(k8s.stderr)")
        let script = """
            import json, sys, yaml
            flat = yaml.safe_load(open(sys.argv[1]))
            manifest = yaml.safe_load(open(sys.argv[2]))
            print(json.dumps({"flat": flat, "manifest": manifest}))
            """
        let python = try runProcess("python3", ["-c", script, box.repo + "/out.yaml", box.repo + "/secret.yaml"])
        try #require(python.status == 0, "\(python.stderr)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(python.stdout.utf8)) as? [String: Any])
        #expect(parsed["flat"] as? [String: String] == Self.yamlValues)
        let manifest = try #require(parsed["manifest"] as? [String: Any])
        #expect(manifest["apiVersion"] as? String == "v1" && manifest["kind"] as? String == "Secret")
        #expect(manifest["type"] as? String == "Opaque")
        #expect((manifest["metadata"] as? [String: Any])?["name"] as? String == "app-secrets")
        #expect(manifest["stringData"] as? [String: String] == Self.yamlValues)
        // Our own YAML reader takes the rendered map back unchanged.
        let reimported = try box.agent("import", "out.yaml", "--env", "again")
        #expect(reimported.status == 0, "\(reimported.stderr)")
        #expect(try renderedJSON(box, "again") == Self.yamlValues)
        // The manifest name must be a Kubernetes name; an empty environment is still valid YAML.
        let badName = try box.agent("render", "--format", "k8s", "--name", "Not_Valid")
        #expect(badName.status == 7, "\(badName.stderr)")
    }

    @Test func renderDockerRefusesWhatDockerCannotCarry() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        try seed(box, ["A": "with spaces  and 'quotes' \"and\" $dollar #hash", "B": "=equals="])
        let docker = try box.agent("render", "--format", "docker")
        #expect(docker.status == 0, "\(docker.stderr)")
        #expect(docker.stdout == "A=with spaces  and 'quotes' \"and\" $dollar #hash\nB==equals=\n")
        try seed(box, ["MULTI": "first-line-secret\nsecond-line-secret"])
        let refused = try box.agent("render", "--format", "docker")
        #expect(refused.status == 7 && refused.stdout.isEmpty)
        #expect(refused.stderr.contains("MULTI") && refused.stderr.contains("newline"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("line-secret"), "\(refused.stderr)")
    }

    /// A base environment's secrets render under the environment's own: by render, run and a
    /// render target; a bad base file (anyone can push one) is an error, never a silent merge,
    /// and so is a base whose members have not signed that the environment may build on it.
    @Test func baseEnvironmentsLayer() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        try seed(box, ["SECRET": "prod-only-value"], env: "prod")
        try seed(box, ["SHARED": "from-base", "A": "base-a", "PORTLESS": "base-port"], env: "common")
        try seed(box, ["A": "dev-a"])
        #expect(try box.agent("set", "PORT_OVERRIDE", "--env-var", "PORTLESS", stdin: "dev-port").status == 0)
        let set = try box.agent("base", "common")
        #expect(set.status == 0, "\(set.stderr)")
        #expect(try box.git("log", "-1", "--format=%s").stdout == "base dev on common\n")
        #expect(try box.git("show", "HEAD:.envagent/dev/base").stdout == "base common\n")
        // The base's members agree in its signed recipients file, in the same commit.
        #expect(try box.git("show", "HEAD:.envagent/common/recipients").stdout.contains("\nbase-for dev\n"))
        #expect(try box.git("show", "--format=", "--name-only", "HEAD").stdout == ".envagent/common/recipients\n.envagent/dev/base\n")
        #expect(try box.agent("base").stdout == "common\n")
        #expect(try renderedJSON(box, "dev") == ["SHARED": "from-base", "A": "dev-a", "PORTLESS": "dev-port"])
        #expect(try box.agent("render", "SHARED").stdout == "SHARED='from-base'\n")
        let run = try box.agent("run", "--no-mask", "--", "/bin/sh", "-c", "printf '%s|%s|%s' \"$SHARED\" \"$A\" \"$PORTLESS\"")
        #expect(run.stdout == "from-base|dev-a|dev-port", "\(run.stderr)")
        try box.write("[target app]\nenvironment = dev\noutput = app.env\n", to: ".envagent/targets")
        try box.git("add", ".envagent/targets")
        try box.git("commit", "-qm", "targets")
        let targets = try box.agent("render", "--targets")
        #expect(targets.status == 0, "\(targets.stderr)")
        let file = try String(contentsOfFile: box.repo + "/app.env", encoding: .utf8)
        #expect(file == "A='dev-a'\nPORTLESS='dev-port'\nSHARED='from-base'\n")
        // The base itself is unchanged; a cycle is refused when set.
        #expect(try renderedJSON(box, "common") == ["SHARED": "from-base", "A": "base-a", "PORTLESS": "base-port"])
        let cycle = try box.agent("base", "dev", "--env", "common")
        #expect(cycle.status == 7 && cycle.stderr.contains("cycle"), "\(cycle.stderr)")
        // Pushed by hand: a cycle, a missing base, a malformed file, a base that never agreed.
        for (text, exit, mentions) in [("base dev\n", Int32(1), "cycle"), ("base nowhere\n", 5, "nowhere"),
                                       ("base ../x\n", 1, "malformed"), ("base common", 1, "malformed"),
                                       ("base common\nbase dev\n", 1, "malformed"), ("base prod\n", 13, "have not signed")] {
            let path = text == "base dev\n" ? ".envagent/common/base" : ".envagent/dev/base"
            try box.write(text, to: path)
            try box.git("add", path)
            try box.git("commit", "-qm", "hand edit")
            let render = try box.agent("render")
            #expect(render.status == exit, "\(text): \(render.stderr)")
            #expect(render.stderr.contains(mentions), "\(text): \(render.stderr)")
            #expect(!render.stdout.contains("prod-only-value") && !render.stderr.contains("prod-only-value"))
            let verify = try box.agent("verify")
            #expect(verify.status != 0 && (verify.stdout + verify.stderr).contains(mentions), "\(text): \(verify.stdout)\(verify.stderr)")
            try box.git("reset", "-q", "--hard", "HEAD~1")
        }
        // The agreement written by hand breaks prod's signature: untrusted, nothing rendered.
        let prodRecipients = box.repo + "/.envagent/prod/recipients"
        let signed = try String(contentsOfFile: prodRecipients, encoding: .utf8)
        try box.write(signed.replacingOccurrences(of: "\nsignature ", with: "\nbase-for dev\nsignature "), to: ".envagent/prod/recipients")
        try box.write("base prod\n", to: ".envagent/dev/base")
        try box.git("add", ".envagent")
        try box.git("commit", "-qm", "hand edit")
        let forged = try box.agent("render")
        #expect(forged.status == 13 && forged.stderr.contains("'prod'"), "\(forged.stderr)")
        #expect(!forged.stdout.contains("prod-only-value"))
        try box.git("reset", "-q", "--hard", "HEAD~1")
        // Rotating the base keeps the agreement (the new key signs it again).
        let rotated = try box.agent("rotate", "--env", "common")
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(try box.git("show", "HEAD:.envagent/common/recipients").stdout.contains("\nbase-for dev\n"))
        #expect(try renderedJSON(box, "dev") == ["SHARED": "from-base", "A": "dev-a", "PORTLESS": "dev-port"])
        // Moving the base to prod withdraws common's agreement and records prod's.
        #expect(try box.agent("base", "prod").status == 0)
        #expect(!(try box.git("show", "HEAD:.envagent/common/recipients").stdout.contains("base-for")))
        #expect(try box.git("show", "HEAD:.envagent/prod/recipients").stdout.contains("\nbase-for dev\n"))
        #expect(try renderedJSON(box, "dev")["SECRET"] == "prod-only-value")
        let unset = try box.agent("base", "--unset")
        #expect(unset.status == 0, "\(unset.stderr)")
        #expect(!(try box.git("show", "HEAD:.envagent/prod/recipients").stdout.contains("base-for")))
        #expect(try renderedJSON(box, "dev") == ["A": "dev-a", "PORTLESS": "dev-port"])
        // A base file without the agreement (as written before it existed): `agent base` again,
        // by a member of both, adds the agreement alone.
        try box.write("base common\n", to: ".envagent/dev/base")
        try box.git("add", ".envagent/dev/base")
        try box.git("commit", "-qm", "base written by hand")
        #expect(try box.agent("render").status == 13)
        let confirmed = try box.agent("base", "common")
        #expect(confirmed.status == 0, "\(confirmed.stderr)")
        #expect(try box.git("show", "--format=", "--name-only", "HEAD").stdout == ".envagent/common/recipients\n")
        #expect(try renderedJSON(box, "dev") == ["SHARED": "from-base", "A": "dev-a", "PORTLESS": "dev-port"])
    }

    @Test func copyReencryptsUnderTheTargetKeyInOneCommit() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        try seed(box, ["A": "value-a", "B": "value-b", "C": "value-c"])
        try seed(box, ["Z": "prod-z", "B": "old-prod-b"], env: "prod")
        let before = Int(try box.git("rev-list", "--count", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
        let copied = try box.agent("copy", "A", "B", "--from", "dev", "--to", "prod")
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(copied.stdout.contains("1 created, 1 updated"), "\(copied.stdout)")
        let after = Int(try box.git("rev-list", "--count", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
        #expect(after == before + 1)
        #expect(try box.git("show", "--format=", "--name-only", "HEAD").stdout == ".envagent/prod/secrets\n")
        #expect(try renderedJSON(box, "prod") == ["A": "value-a", "B": "value-b", "Z": "prod-z"])
        // Sealed under prod's key: dev's ciphertext of A does not appear in prod's file.
        let devLine = try box.git("show", "HEAD:.envagent/dev/secrets").stdout.split(separator: "\n").first { $0.hasPrefix("A ") }!
        let prodFile = try box.git("show", "HEAD:.envagent/prod/secrets").stdout
        #expect(!prodFile.contains(String(devLine.split(separator: " ")[4])))
        let all = try box.agent("copy", "--all", "--from", "dev", "--to", "staging", "--json")
        #expect(all.status == 0, "\(all.stderr)")
        #expect(try renderedJSON(box, "staging") == ["A": "value-a", "B": "value-b", "C": "value-c"])
        #expect(try box.agent("copy", "--from", "dev", "--to", "prod").status == 64) // neither names nor --all
        #expect(try box.agent("copy", "NOPE", "--from", "dev", "--to", "prod").status == 5)
    }

    @Test func emptyValuesAreRefusedUnlessAllowed() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        let refused = try box.agent("set", "EMPTY", "--json", stdin: "")
        #expect(refused.status == 7)
        #expect((refused.envelope?["errors"] as? [[String: Any]])?.first?["type"] as? String == "empty_value")
        let imported = try box.agent("import", "-", stdin: "A=1\nEMPTY=\n")
        #expect(imported.status == 7 && imported.stderr.contains("line 2") && imported.stderr.contains("EMPTY"), "\(imported.stderr)")
        #expect(try box.agent("list", "--json").stdout == "[]\n")
        #expect(try box.agent("set", "EMPTY", "--allow-empty", stdin: "").status == 0)
        #expect(try box.agent("import", "-", "--allow-empty", stdin: "OTHER=''\n").status == 0)
        let list = try box.agent("list")
        #expect(list.stdout.split(separator: "\n").filter { $0.contains("(empty)") }.count == 2, "\(list.stdout)")
    }

    @Test func initIgnoresRenderedDotEnvFilesButNotTemplates() throws {
        let box = try Sandbox()
        try box.write("node_modules/\n.env\n", to: ".gitignore")
        try #require(try box.agent("init").status == 0)
        let ignore = try box.git("show", "HEAD:.gitignore").stdout
        #expect(ignore.hasPrefix("node_modules/\n.env\n"))
        #expect(ignore.components(separatedBy: "\n").filter { $0 == ".env" }.count == 1)
        #expect(try box.git("status", "--porcelain").stdout == "")
        for name in [".env", ".env.local", ".env.production", ".env.example", ".env.sample", ".env.template", ".env.dist"] {
            try box.write("X=1\n", to: name)
        }
        let ignored = try box.git("check-ignore", ".env", ".env.local", ".env.production", ".env.example", ".env.sample",
                                  ".env.template", ".env.dist").stdout
        #expect(ignored == ".env\n.env.local\n.env.production\n")
        // The quick start's render no longer leaves a file for `agent scan` to report.
        try seed(box, ["OPENAI_KEY": "sk-proj-abcdefghijklmnop789"])
        #expect(try box.agent("render", "-o", ".env").status == 0)
        #expect(try box.git("status", "--porcelain", "--untracked-files=all").stdout.contains(".env.example"))
        #expect(!(try box.git("status", "--porcelain").stdout.contains(" .env\n")))
    }

    /// The targets example of README "Render targets", committed verbatim, is read without a
    /// syntax error; after `agent allow` its first target is written.
    @Test func readmeTargetsExampleWorksVerbatim() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOfFile: root.appendingPathComponent("README.md").path, encoding: .utf8)
        let section = try #require(readme.range(of: "\n## Render targets\n"))
        let open = try #require(readme.range(of: "```ini\n", range: section.upperBound..<readme.endIndex))
        let close = try #require(readme.range(of: "\n```", range: open.upperBound..<readme.endIndex))
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        try seed(box, ["A": "value-a"])
        try box.write(String(readme[open.upperBound..<close.lowerBound]) + "\n", to: ".envagent/targets")
        try box.git("add", ".envagent/targets")
        try box.git("commit", "-qm", "targets from the README")
        let waiting = try box.agent("render", "--targets")
        #expect(waiting.status == 4, "\(waiting.stdout)\(waiting.stderr)") // both wait for approval, none malformed
        #expect(!waiting.stderr.contains("line "), "\(waiting.stderr)")
        #expect(try box.agent("allow").status == 0)
        _ = try box.agent("render", "--targets") // the ci target's /run/app may not exist here
        #expect(try String(contentsOfFile: box.repo + "/.env", encoding: .utf8) == "A='value-a'\n")
    }

    @Test func keygenOverAnIdentityNeverAdvisesDeletingIt() throws {
        let box = try Sandbox()
        let again = try box.agent("keygen")
        #expect(again.status == 6)
        #expect(again.stderr.contains("-o FILE"), "\(again.stderr)")
        #expect(!again.stderr.lowercased().contains("remove") && !again.stderr.lowercased().contains("delete"), "\(again.stderr)")
    }

    /// The overview and discussion of each command's help read as prose: no run of spaces left
    /// by a broken line continuation.
    @Test func helpTextsHaveNoRunsOfSpaces() throws {
        let box = try Sandbox(keygen: false)
        for command in [["render"], ["hooks", "install"], ["import"], ["copy"], ["base"], ["init"], ["keygen"], ["set"]] {
            let help = try box.agent(command + ["--help"])
            let prose = help.stdout.components(separatedBy: "USAGE:")[0]
            #expect(prose.range(of: #"\S {2,}\S"#, options: .regularExpression) == nil, "\(command): \(prose)")
        }
    }
}
