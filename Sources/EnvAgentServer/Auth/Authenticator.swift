import EnvAgentCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Checks bearer tokens against the state folder. The records are cached and re-read when the
/// tokens file changes (one `stat` per request), so `agent tokens create|revoke` takes effect
/// on a running server at once.
final class Authenticator: Sendable {
    let tokens: TokenStore
    let storeID: String
    private let cache = Mutex<(stamp: [Int]?, records: [String: TokenRecord])>((nil, [:]))

    init(tokens: TokenStore, storeID: String) throws {
        self.tokens = tokens
        self.storeID = storeID
        _ = try records()   // refuse to start on an unreadable or exposed tokens file
    }

    /// The token record for an `Authorization` header value, else `authentication_failed`.
    func authenticate(_ header: String?) throws -> TokenRecord {
        guard let header, !header.isEmpty else {
            throw AgentError(.authenticationFailed, "this endpoint needs a bearer token (Authorization: Bearer agt_…)",
                             details: [.init(loc: ["header", "Authorization"], msg: "missing bearer token", type: "missing")],
                             hint: "create one with `agent tokens create --scope read`")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AgentError(.authenticationFailed, "the Authorization header must use the Bearer scheme",
                             details: [.init(loc: ["header", "Authorization"], msg: "expected: Bearer <token>", type: "invalid_scheme")])
        }
        let token = String(parts[1].filter { $0 != " " })
        return try TokenStore.verify(token, records: records(), store: storeID, now: Int64(time(nil)))
    }

    private func records() throws -> [String: TokenRecord] {
        let stamp = tokens.stamp()
        if let cached = cache.withLock({ $0.stamp == stamp ? $0.records : nil }) { return cached }
        let records = Dictionary(try tokens.load().map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        cache.withLock { $0 = (stamp, records) }
        return records
    }
}
