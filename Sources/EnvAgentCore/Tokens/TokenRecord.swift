
/// What a token may do. `write` implies `read`; `reveal` is only the decrypted dotenv endpoint.
public enum TokenScope: String, Codable, Sendable, CaseIterable, Comparable {
    case read, write, reveal

    public static func < (a: TokenScope, b: TokenScope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One API token as kept in the state folder: never the token itself, only a salted hash.
public struct TokenRecord: Codable, Sendable, Equatable {
    /// Public part of the token text (`agt_<id>_<secret>`), shown by `agent tokens list` and
    /// logged with each request.
    public var id: String
    public var label: String?
    public var scopes: [TokenScope]
    /// The environments the token may touch; empty means all.
    public var environments: [String]
    /// The store id (`.envagent/store`) the token was made for; other stores refuse it.
    public var store: String
    /// Unix seconds.
    public var created: Int64
    /// Unix seconds; nil: never expires.
    public var expires: Int64?
    /// base64 of 16 random bytes.
    var salt: String
    /// base64 of BLAKE2b-256(salt ‖ secret).
    var hash: String

    public func allows(_ scope: TokenScope) -> Bool {
        scopes.contains(scope) || (scope == .read && scopes.contains(.write))
    }

    public func allows(environment: String) -> Bool {
        environments.isEmpty || environments.contains(environment)
    }

    /// Also true for a lifetime over `TokenStore.maxTTLSeconds` (a hand-edited record), so the
    /// server and `tokens list` agree on every record.
    public func isExpired(now: Int64) -> Bool {
        guard let expires else { return false }
        let (lifetime, overflow) = expires.subtractingReportingOverflow(created)
        return now >= expires || overflow || lifetime > TokenStore.maxTTLSeconds
    }
}
