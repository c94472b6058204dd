import Testing
@testable import EnvAgentCore

/// The read rules of a secrets file (`SecretsFile.problems`) and the list of execution env
/// vars, on lines built in memory.
@Suite struct SecretsFileChecksTests {
    static let time = "2026-12-01T10:00:00Z"

    func line(_ name: String, _ envVar: String, _ value: String = "a:AAAA") -> SecretLine {
        SecretLine(name: name, envVar: envVar, createdAt: Self.time, updatedAt: Self.time, sealedValue: value)
    }

    func file(_ lines: SecretLine...) -> SecretsFile {
        SecretsFile.parse(lines.flatMap { Array($0.raw) + [UInt8(ascii: "\n")] })
    }

    @Test func agentWrittenLinesHaveNoProblem() throws {
        let secrets = file(line("A", "A"), line("db.url", "DATABASE_URL"), line("PRELOAD", "LD_PRELOAD"), line("W", "W", "s:AAAA"))
        #expect(secrets.problems.isEmpty)
        #expect(try secrets.checked(environment: "dev") == secrets)
    }

    @Test(arguments: ["X=$(touch /tmp/pwned);Y", "1A", "A-B", "A.B", "é", "`id`", String(repeating: "V", count: 129)])
    func envVarBreakingTheWriteRuleIsABadLine(_ envVar: String) throws {
        let secrets = file(line("A", "A"), line("B", envVar))
        #expect(secrets.problems == [.init(name: "B", message: secrets.problems.first?.message ?? "", type: "bad_line")])
        #expect(!SecretsFile.isSound(secrets.lines[1]) && SecretsFile.isSound(secrets.lines[0]))
        let error = #expect(throws: AgentError.self) { try secrets.checked(environment: "dev") }
        #expect(error?.kind == .internalError)
        #expect(error?.details.map(\.loc) == [["dev", "B"]] && error?.details.first?.type == "bad_line")
        #expect(error?.message.contains("secret 'B' in environment 'dev'") == true)
        // The field is not echoed: a hand edit may have put anything there.
        #expect(error?.message.contains(envVar) == false && error?.details.first?.msg.contains(envVar) == false)
    }

    @Test func nameBreakingTheWriteRuleIsABadLineShownPrintable() throws {
        let secrets = file(line("bad$name\u{1B}[31m", "OK"))
        let problems = secrets.problems
        #expect(problems.count == 1 && problems[0].type == "bad_line")
        #expect(problems[0].name == "bad$name?[31m")
    }

    @Test func duplicateNamesAndEnvVarsNameBothLines() throws {
        let names = file(line("A", "A1"), line("A", "A2"))
        #expect(names.problems.map(\.type) == ["duplicate_name"])
        let envVars = file(line("A", "SHARED"), line("B", "SHARED"))
        let problem = try #require(envVars.problems.first)
        #expect(envVars.problems.count == 1 && problem.type == "duplicate_env_var" && problem.name == "B")
        #expect(problem.message.contains("SHARED") && problem.message.contains("'A'"))
        let error = #expect(throws: AgentError.self) { try envVars.checked(environment: "prod") }
        #expect(error?.message.contains("'B'") == true && error?.message.contains("'A'") == true)
    }

    @Test(arguments: ["PATH", "LD_PRELOAD", "NODE_OPTIONS", "DYLD_INSERT_LIBRARIES", "GIT_SSH_COMMAND", "BASH_ENV"])
    func writeOnlyValueMappedToAnExecutionEnvVarIsRefused(_ envVar: String) throws {
        let sealed = file(line("X", envVar, "s:AAAA"))
        let problems = sealed.problems
        #expect(problems.count == 1 && problems[0].type == "restricted_env_var" && problems[0].message.contains(envVar))
        // The same mapping written by a member (`a:`) is read.
        #expect(file(line("X", envVar, "a:AAAA")).problems.isEmpty)
    }

    @Test func everyProblemIsReportedAndTheMessageCountsTheRest() throws {
        let secrets = file(line("A", "SAME"), line("B", "SAME"), line("C", "PATH", "s:AAAA"), line("D", "no-good"))
        #expect(secrets.problems.map(\.type) == ["duplicate_env_var", "restricted_env_var", "bad_line"])
        let error = #expect(throws: AgentError.self) { try secrets.checked(environment: "dev") }
        #expect(error?.details.count == 3 && error?.message.contains("and 2 more problems") == true)
    }

    @Test func lineWithoutFiveFieldsIsABadLine() {
        for text in ["A A \(Self.time) a:AAAA", "A A \(Self.time) \(Self.time) a:AAAA extra", "A"] {
            let problems = SecretsFile.parse(Array((text + "\n").utf8)).problems
            #expect(problems.map(\.type) == ["bad_line"] && problems.first?.name == "A", "\(text)")
        }
    }

    @Test func executionEnvVarsByNameAndPrefix() {
        for envVar in ["PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "NODE_OPTIONS", "PYTHONPATH",
                       "PERL5OPT", "RUBYOPT", "BASH_ENV", "ENV", "IFS", "PS4", "JAVA_TOOL_OPTIONS", "GIT_SSH_COMMAND",
                       "GCONV_PATH", "SSL_CERT_FILE"] {
            #expect(ExecutionEnvVars.contains(envVar), "\(envVar)")
        }
        for envVar in ["PATHS", "MY_PATH", "LDAP_URL", "GITHUB_TOKEN", "NODE_ENV", "path", "DATABASE_URL", "ENVIRONMENT"] {
            #expect(!ExecutionEnvVars.contains(envVar), "\(envVar)")
        }
    }
}
