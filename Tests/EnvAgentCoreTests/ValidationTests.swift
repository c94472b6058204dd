import Testing
@testable import EnvAgentCore

@Suite struct ValidationTests {
    @Test(arguments: ["A", "DATABASE_URL", "db.url", "9lives", "_x", "a-b", String(repeating: "N", count: 128)])
    func validNames(_ name: String) { #expect(Validation.isValidName(name)) }

    @Test(arguments: ["", "-x", ".env", "a b", "a/b", "é", String(repeating: "N", count: 129), "a=b"])
    func invalidNames(_ name: String) {
        #expect(!Validation.isValidName(name))
        #expect(throws: AgentError.self) { try Validation.name(name) }
    }

    @Test(arguments: ["A", "_A", "DATABASE_URL", "a1", String(repeating: "V", count: 128)])
    func validEnvVars(_ name: String) { #expect(Validation.isValidEnvVar(name)) }

    @Test(arguments: ["1A", "A-B", "A.B", "", "A B", "é", String(repeating: "V", count: 129)])
    func invalidEnvVars(_ name: String) { #expect(!Validation.isValidEnvVar(name)) }

    @Test func nameThatIsNoEnvVarNeedsOne() throws {
        let error = #expect(throws: AgentError.self) { try Validation.resolveEnvVar(name: "db.url", explicit: nil) }
        #expect(error?.kind == .validationError)
        #expect(error?.details.first?.loc == ["env_var"])
        #expect(try Validation.resolveEnvVar(name: "db.url", explicit: "DB_URL") == "DB_URL")
    }

    @Test func valueRules() throws {
        try Validation.value(secret("fine value ✓"))
        let tooLong = #expect(throws: AgentError.self) {
            try Validation.value(SecretBytes([UInt8](repeating: 65, count: 64 * 1024 + 1)))
        }
        #expect(tooLong?.details.first?.type == "string_too_long")
        try Validation.value(SecretBytes([UInt8](repeating: 65, count: 64 * 1024)))
        let nul = #expect(throws: AgentError.self) { try Validation.value(SecretBytes([65, 0, 66])) }
        #expect(nul?.details.first?.loc == ["value"])
        let utf8 = #expect(throws: AgentError.self) { try Validation.value(SecretBytes([0xC3, 0x28])) }
        #expect(utf8?.details.first?.type == "string_type")
    }

    @Test func errorTableIsStable() {
        let table: [(AgentError.Kind, String, Int, Int32)] = [
            (.invalidRequest, "invalid_request", 400, 2), (.authenticationFailed, "authentication_failed", 401, 3),
            (.forbidden, "forbidden", 403, 4), (.notFound, "not_found", 404, 5),
            (.alreadyExists, "already_exists", 409, 6), (.validationError, "validation_error", 422, 7),
            (.upgradeRequired, "upgrade_required", 426, 8), (.rateLimited, "rate_limited", 429, 9),
            (.internalError, "internal_error", 500, 1), (.badGateway, "bad_gateway", 502, 10),
            (.gatewayTimeout, "gateway_timeout", 504, 11), (.mergeConflict, "merge_conflict", 409, 12),
            (.untrustedChange, "untrusted_change", 409, 13), (.locked, "locked", 423, 14),
            (.agentUnavailable, "agent_unavailable", 503, 15),
        ]
        #expect(table.count == AgentError.Kind.allCases.count)
        for (kind, type, status, exit) in table {
            #expect(kind.rawValue == type)
            #expect(kind.httpStatus == status)
            #expect(kind.exitCode == exit)
        }
    }

    @Test func envelopeHasTheCanonicalShape() {
        let error = AgentError(.notFound, "secret \"X\" missing", details: [.init(loc: ["name"], msg: "no such secret", type: "not_found")])
        #expect(error.envelopeJSON() == #"{"status":404,"message":"secret \"X\" missing","errors":[{"loc":["name"],"msg":"no such secret","type":"not_found"}],"type":"not_found"}"#)
    }
}
