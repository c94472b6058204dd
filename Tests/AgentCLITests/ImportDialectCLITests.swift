import Foundation
import TestSupport
import Testing

/// `agent import` against the dotenv peers (issue 16 item 3), through the built binary: the
/// fixture cases of motdotla/dotenv, python-dotenv, compose-go, godotenv and bkeepers/dotenv
/// where they agree, as a table of input and expected values; `--expand` against python-dotenv's
/// own results; JSON and YAML input.
@Suite struct ImportDialectCLITests {
    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let input: String
        let expected: [String: String]
        /// python-dotenv reads the same (it keeps a BOM in the first key: the other peers drop it).
        var pythonAgrees = true
        var testDescription: String { label }
    }

    static let agreed: [Case] = [
        Case(label: "BOM", input: "\u{FEFF}A=1\nB=2\n", expected: ["A": "1", "B": "2"], pythonAgrees: false),
        Case(label: "LF", input: "A=1\nB=2\n", expected: ["A": "1", "B": "2"]),
        Case(label: "CRLF", input: "A=1\r\nB=two words\r\n", expected: ["A": "1", "B": "two words"]),
        Case(label: "bare CR", input: "A=1\rB=2\rC='3'\r", expected: ["A": "1", "B": "2", "C": "3"]),
        Case(label: "CRLF inside quotes", input: "A=\"x\r\ny\"\r\nB='p\r\nq'\r\n", expected: ["A": "x\ny", "B": "p\nq"]),
        Case(label: "duplicates: the last wins", input: "A=1\nB=2\nA=3\n", expected: ["A": "3", "B": "2"]),
        Case(label: "no newline at the end", input: "A=1", expected: ["A": "1"]),
        Case(label: "single quotes are literal", input: "A='single $x \\n #not a comment'\n",
             expected: ["A": "single $x \\n #not a comment"]),
        Case(label: "double-quote escapes", input: "A=\"a\\nb\"\nB=\"say \\\"hi\\\"\"\nC=\"it's\"\n",
             expected: ["A": "a\nb", "B": "say \"hi\"", "C": "it's"]),
        Case(label: "multi-line double quotes", input: "A=\"line 1\nline 2\"\nB=after\n", expected: ["A": "line 1\nline 2", "B": "after"]),
        Case(label: "export", input: "export A=1\nexport B='two'\n", expected: ["A": "1", "B": "two"]),
        Case(label: "comments", input: "# a comment\n\n  # indented comment\nA=1 # trailing\nB='q' # after a quote\n",
             expected: ["A": "1", "B": "q"]),
        Case(label: "blanks around = and the value", input: "A = 1\nB=  spaced   \n", expected: ["A": "1", "B": "spaced"]),
        Case(label: "= inside a value", input: "A=postgres://u:p@h/db?x=1&y=2\n", expected: ["A": "postgres://u:p@h/db?x=1&y=2"]),
    ]

    /// Each agreed case imported into an environment of its own and rendered back as JSON.
    @Test func importReadsWhatThePeersAgreeOn() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        for (index, testCase) in Self.agreed.enumerated() {
            let file = "case\(index).env"
            try box.write(testCase.input, to: file)
            let imported = try box.agent("import", file, "--env", "case\(index)")
            #expect(imported.status == 0, "\(testCase.label): \(imported.stderr)")
            #expect(try renderedJSON(box, "case\(index)") == testCase.expected, "\(testCase.label)")
            if testCase.pythonAgrees {
                #expect(try pythonDotenv(box.repo + "/" + file) == testCase.expected, "python-dotenv on \(testCase.label)")
            }
        }
    }

    @Test func aRepeatedKeyWarnsNamingBothLines() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        let imported = try box.agent("import", "-", stdin: "A=first-secret-value\nB=2\nA=second-secret-value\n")
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stderr.contains("line 3: A is set again (first on line 1)"), "\(imported.stderr)")
        #expect(!imported.stderr.contains("secret-value"))
        #expect(try renderedJSON(box, "dev") == ["A": "second-secret-value", "B": "2"])
    }

    @Test(arguments: ["", "\n\n", "# only\n# comments\n", "\u{FEFF}", "\u{FEFF}# c\r\n\r\n"])
    func anEmptyOrCommentOnlyFileImportsNothing(_ text: String) throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        let commits = try box.git("rev-list", "--count", "HEAD").stdout
        let imported = try box.agent("import", "-", "--env", "fresh", stdin: text)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("0 created"))
        #expect(try box.git("rev-list", "--count", "HEAD").stdout == commits)
        #expect(try box.agent("list", "--env", "fresh").status == 5) // no environment was created
    }

    /// `--expand` gives what python-dotenv gives where python-dotenv and docker compose agree:
    /// `${VAR}` and `${VAR:-default}` in unquoted and double-quoted values, from earlier keys
    /// and the process environment.
    @Test func expandMatchesPythonDotenv() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        let text = """
            A=1
            B=${A}
            C=${WFA_UNSET_VARIABLE:-fallback}
            D="x ${A} y"
            E=${WFA_FROM_ENV}
            F=${A:-unused}
            G=pre${A}post
            H="${WFA_UNSET_VARIABLE:-default with spaces}"
            I=${WFA_UNSET_VARIABLE}tail
            J=${WFA_FROM_ENV:-unused}/path
            K="${B}${D}"

            """
        try box.write(text, to: "expand.env")
        let environment = ["WFA_FROM_ENV": "from-the-environment"]
        let imported = try box.agent(["import", "expand.env", "--expand"], env: environment)
        #expect(imported.status == 0, "\(imported.stderr)")
        let python = try pythonDotenv(box.repo + "/expand.env", environment: environment)
        #expect(python["C"] == "fallback" && python["E"] == "from-the-environment", "python-dotenv: \(python)")
        #expect(try renderedJSON(box, "dev") == python)
        // Without --expand every `$` is literal (Node's dotenv).
        let literal = try box.agent(["import", "expand.env", "--env", "literal"], env: environment)
        #expect(literal.status == 0, "\(literal.stderr)")
        #expect(try renderedJSON(box, "literal")["B"] == "${A}")
    }

    /// Where python-dotenv and compose differ, `--expand` follows compose (README "Import dialect").
    @Test func expandFollowsComposeWherePythonDiffers() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        let imported = try box.agent(["import", "-", "--expand"], stdin: "A=1\nB=$A\nC='${A}'\nD=$$A\nE=${WFA_UNSET_VARIABLE-dash}\n")
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try renderedJSON(box, "dev") == ["A": "1", "B": "1", "C": "${A}", "D": "$A", "E": "dash"])
        let unterminated = try box.agent(["import", "-", "--expand", "--env", "x"], stdin: "A=1\nB=${A\n")
        #expect(unterminated.status == 2 && unterminated.stderr.contains("line 2"), "\(unterminated.stderr)")
    }

    @Test func importsFlatJSON() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        try box.write(#"{"A": "x", "B": "line\nbreak \u00e9 \ud83d\ude00", "PORT": 8080, "DEBUG": false, "A": "last"}"#, to: "in.json")
        let imported = try box.agent("import", "in.json")
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stderr.contains("A is set again"))
        #expect(try renderedJSON(box, "dev") == ["A": "last", "B": "line\nbreak é 😀", "PORT": "8080", "DEBUG": "false"])
        for (text, key) in [(#"{"OK": "1", "NESTED": {"b": "c"}}"#, "NESTED"), (#"{"LIST": ["a"]}"#, "LIST"), (#"{"N": null}"#, "N")] {
            let refused = try box.agent(["import", "-", "--format", "json", "--env", "other"], stdin: text)
            #expect(refused.status == 2, "\(text): \(refused.stderr)")
            #expect(refused.stderr.contains(key), "\(refused.stderr)")
        }
    }

    static let yamlText = """
        # a comment
        ---
        A: plain value # a comment
        B: "dq \\"x\\" \\n y \\u00e9"
        C: 'it''s # not a comment'
        D: |
          line1

          line2
        E: |-
          no trailing newline
        PORT: 8080
        "QUOTED_KEY": v

        """

    @Test func importsFlatYAMLLikePyYAML() throws {
        let box = try Sandbox()
        try #require(try box.agent("init").status == 0)
        try box.write(Self.yamlText, to: "in.yaml")
        let imported = try box.agent("import", "in.yaml")
        #expect(imported.status == 0, "\(imported.stderr)")
        let ours = try renderedJSON(box, "dev")
        let script = """
            import json, sys, yaml
            print(json.dumps({k: str(v) for k, v in yaml.safe_load(open(sys.argv[1])).items()}))
            """
        let python = try runProcess("python3", ["-c", script, box.repo + "/in.yaml"])
        #expect(python.status == 0, "\(python.stderr)")
        let pyyaml = try JSONDecoder().decode([String: String].self, from: Data(python.stdout.utf8))
        #expect(ours == pyyaml)
        #expect(ours["D"] == "line1\n\nline2\n" && ours["E"] == "no trailing newline")
        for (text, key) in [("OK: 1\nMAP:\n  b: c\n", "MAP"), ("LIST:\n  - a\n", "LIST"), ("FLOW: {a: b}\n", "FLOW"),
                            ("NUL: ~\n", "NUL"), ("NONE:\n", "NONE")] {
            let refused = try box.agent(["import", "-", "--format", "yaml", "--env", "other"], stdin: text)
            #expect(refused.status == 2, "\(text): \(refused.stderr)")
            #expect(refused.stderr.contains(key), "\(refused.stderr)")
        }
    }
}

/// The environment's values, from `agent render --format json`.
func renderedJSON(_ box: Sandbox, _ environment: String) throws -> [String: String] {
    let rendered = try box.agent("render", "--format", "json", "--env", environment)
    guard rendered.status == 0 else { throw AgentCLITestError("render --env \(environment): \(rendered.stderr)") }
    return try JSONDecoder().decode([String: String].self, from: Data(rendered.stdout.utf8))
}

/// python-dotenv's `dotenv_values` of `path` (interpolating, its default), in `environment`.
func pythonDotenv(_ path: String, environment: [String: String] = [:]) throws -> [String: String] {
    let script = "import json, sys\nfrom dotenv import dotenv_values\nprint(json.dumps(dotenv_values(sys.argv[1])))"
    let result = try runProcess("python3", ["-c", script, path], environment: environment)
    guard result.status == 0 else { throw AgentCLITestError("python-dotenv: \(result.stderr)") }
    return try JSONDecoder().decode([String: String].self, from: Data(result.stdout.utf8))
}

struct AgentCLITestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
