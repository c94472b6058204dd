import Testing
@testable import EnvAgentCore

/// Odd input to the core is a clean validation error (issue 14).
@Suite struct OddInputTests {
    @Test(arguments: ["store", "targets", "Store", "TARGETS"])
    func environmentNamesOfStoreFilesAreReserved(_ name: String) {
        let error = #expect(throws: AgentError.self) { try Validation.environment(name) }
        #expect(error?.kind == .validationError && error?.details.first?.type == "reserved_name")
    }

    @Test func otherEnvironmentNamesStayValid() throws {
        for name in ["dev", "stores", "targets2", "my.store"] { try Validation.environment(name) }
    }

    @Test func tokenLifetimeIsBounded() throws {
        let tokens = TokenStore(directory: "/nonexistent-\(Int.random(in: 0...Int.max))")
        for ttl: Int64 in [0, -1, TokenStore.maxTTLSeconds + 1, .max] {
            let error = #expect(throws: AgentError.self) {
                try tokens.create(scopes: [.read], environments: [], ttlSeconds: ttl, label: nil, store: "s", now: 1_000)
            }
            #expect(error?.kind == .validationError && error?.details.first?.type == "invalid_ttl", "\(ttl)")
        }
    }

    /// A hand-edited record with a longer life is expired for the server as for `tokens list`.
    @Test func recordBeyondTheBoundIsExpired() {
        func record(created: Int64, expires: Int64?) -> TokenRecord {
            TokenRecord(id: "0123456789ab", label: nil, scopes: [.read], environments: [], store: "s",
                        created: created, expires: expires, salt: "", hash: "")
        }
        #expect(!record(created: 0, expires: nil).isExpired(now: 10))
        #expect(!record(created: 0, expires: TokenStore.maxTTLSeconds).isExpired(now: 10))
        #expect(record(created: 0, expires: TokenStore.maxTTLSeconds + 1).isExpired(now: 10))
        #expect(record(created: -10, expires: .max).isExpired(now: 10))
        #expect(record(created: 0, expires: 5).isExpired(now: 10))
    }
}
