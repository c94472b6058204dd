import Foundation
import Testing
@testable import EnvAgentCore

@Suite struct DotEnvTests {
    /// Values every reader must get back unchanged from the `env` format.
    static let nastyValues: [String] = [
        "plain", "with spaces  inside ", "  leading", "hash # not a comment", "#starts-with-hash",
        "eq=uals==", "dollar $HOME and $1", "ends with $", "back`tick`", "double \"quotes\"",
        "it's", "won't stop", "C:\\Users\\me", "a\\nb (literal backslash-n)", "multi\nline\nvalue",
        "unicode ✓ é 🔑", "semi;colon&amp|pipe", "{json: [1, 2]}", "tab\tseparated",
        "-----BEGIN KEY-----\nMIIB\n-----END KEY-----",
    ]

    /// Values no single form reads identically everywhere: refused, naming the key.
    static let refusedValues: [(String, String)] = [
        ("cr\rlf", "carriage return"), ("${HOME}", "${"), ("ends\\", "backslash"),
        ("a\\\\b", "backslash"), ("it's $5", "single quote"), ("quote' and \\ slash", "backslash"),
    ]

    func entries(_ values: [String]) -> [RenderEntry] {
        values.enumerated().map { RenderEntry(name: "V\($0)", envVar: "V\($0)", value: secret($1)) }
    }

    @Test func renderedEnvIsReadBackByPythonDotenv() throws {
        let dir = TempDirectory()
        let rendered = try DotEnv.render(entries(Self.nastyValues), format: .env)
        try Data(rendered.bytes).write(to: URL(fileURLWithPath: dir.file(".env")))
        let script = """
            import json, sys
            from dotenv import dotenv_values
            print(json.dumps(dotenv_values(sys.argv[1])))
            """
        let result = try run("python3", ["-c", script, dir.file(".env")])
        #expect(result.status == 0, "\(result.stderr)")
        let values = try JSONDecoder().decode([String: String].self, from: Data(result.stdout.utf8))
        for (index, value) in Self.nastyValues.enumerated() {
            #expect(values["V\(index)"] == value, "V\(index)")
        }
    }

    @Test func renderedEnvIsReadBackByPosixShell() throws {
        let dir = TempDirectory()
        let rendered = try DotEnv.render(entries(Self.nastyValues), format: .env)
        try Data(rendered.bytes).write(to: URL(fileURLWithPath: dir.file(".env")))
        for (index, value) in Self.nastyValues.enumerated() {
            let result = try run("sh", ["-c", "set -a; . \"$1\"; printf %s \"$V\(index)\"", "sh", dir.file(".env")])
            #expect(result.stdout == value, "V\(index)")
        }
    }

    @Test func shFormatEvaluatesToEveryValue() throws {
        let values = Self.nastyValues + Self.refusedValues.map(\.0)
        let rendered = try DotEnv.render(entries(values), format: .sh)
        for (index, value) in values.enumerated() {
            let result = try run("sh", ["-c", "eval \"$1\"; printf %s \"$V\(index)\"", "sh", rendered.utf8String])
            #expect(result.stdout == value, "V\(index)")
        }
    }

    @Test func jsonFormatDecodesToEveryValue() throws {
        let values = Self.nastyValues + Self.refusedValues.map(\.0) + ["\u{1}ctl"]
        let rendered = try DotEnv.render(entries(values), format: .json)
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(rendered.bytes))
        for (index, value) in values.enumerated() { #expect(decoded["V\(index)"] == value) }
    }

    @Test(arguments: refusedValues)
    func unrepresentableValuesAreRefusedNamingKeyAndCharacter(_ value: String, _ what: String) {
        let error = #expect(throws: AgentError.self) {
            try DotEnv.render([RenderEntry(name: "MY_NAME", envVar: "MY_VAR", value: secret(value))], format: .env)
        }
        #expect(error?.kind == .validationError)
        #expect(error?.message.contains("MY_NAME") == true)
        #expect(error?.message.contains(what) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(value) == false)
    }

    @Test func parserReadsCommonForms() throws {
        let text = """
            # comment
            export A=plain value # trailing comment
            B='single # kept'
            C="double \\"esc\\" \\n line"
            D=
            E='multi
            line'
              F = spaced
            G=a#b

            """ + "H=crlf value \t\r\nI=#only a comment\nJ=tab\t# comment\nK=last"
        let parsed = try DotEnv.parse(Array(text.utf8))
        let map = Dictionary(uniqueKeysWithValues: parsed.map { ($0.key, $0.value.utf8String) })
        #expect(map == ["A": "plain value", "B": "single # kept", "C": "double \"esc\" \n line", "D": "",
                        "E": "multi\nline", "F": "spaced", "G": "a#b", "H": "crlf value", "I": "", "J": "tab", "K": "last"])
        #expect(parsed.map(\.line) == [2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13])
    }

    @Test func parserRoundTripsRenderedOutput() throws {
        let rendered = try DotEnv.render(entries(Self.nastyValues), format: .env)
        let parsed = try DotEnv.parse(rendered.bytes)
        #expect(parsed.map { $0.value.utf8String } == Self.nastyValues)
    }

    @Test(arguments: [
        ("A=1\nnot a line\n", 2), ("A=1\nB='open\n", 2), ("1BAD=x\n", 1), ("A='x' junk\n", 1), ("A=1\rB='x' junk\r", 2),
    ])
    func malformedLinesNameTheirNumber(_ text: String, _ line: Int) {
        let error = #expect(throws: AgentError.self) { try DotEnv.parse(Array(text.utf8)) }
        #expect(error?.kind == .invalidRequest)
        #expect(error?.message.hasPrefix("line \(line):") == true, "\(error?.message ?? "")")
    }
}
