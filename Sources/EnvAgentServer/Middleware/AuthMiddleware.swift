import EnvAgentCore
import HTTPTypes
import Hummingbird

/// Bearer authentication and the per-token rate limit, in front of every `/v1` route. What a
/// token may do (scope, environments) is checked by each handler with `authorize`.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let authenticator: Authenticator
    let limiter: RateLimiter?

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let token = try authenticator.authenticate(request.headers[.authorization])
        context.notes?.tokenID = token.id
        if let limiter, let wait = limiter.take(token.id) {
            throw APIError(AgentError(.rateLimited, "too many requests for this token; retry in \(wait) s",
                                      details: [.init(loc: ["header", "Authorization"], msg: "rate limit of \(Self.describe(limiter)) exceeded", type: "rate_limited")]),
                           headers: [.retryAfter: String(wait)])
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }

    static func describe(_ limiter: RateLimiter) -> String {
        "\(limiter.rate.formatted) requests/s (burst \(Int(limiter.burst)))"
    }
}

extension Double {
    var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}

extension APIRequestContext {
    /// `forbidden` unless the request's token has `scope` (and may touch `environment`).
    func authorize(_ scope: TokenScope, environment: String? = nil, requiresAllEnvironments: Bool = false) throws {
        guard let token else {
            throw AgentError(.authenticationFailed, "this endpoint needs a bearer token")
        }
        guard token.allows(scope) else {
            throw AgentError(.forbidden, "this token lacks the '\(scope.rawValue)' scope (it has: \(token.scopes.map(\.rawValue).joined(separator: ", ")))",
                             details: [.init(loc: ["header", "Authorization"], msg: "needs scope \(scope.rawValue)", type: "insufficient_scope")],
                             hint: "create a token with `agent tokens create --scope \(scope.rawValue)`")
        }
        if environment == nil, scope == .write, !token.environments.isEmpty, requiresAllEnvironments {
            throw AgentError(.forbidden, "this token is limited to some environments; a sync moves the whole store",
                             details: [.init(loc: ["header", "Authorization"], msg: "needs a token for every environment", type: "environment_forbidden")])
        }
        if let environment, !token.allows(environment: environment) {
            throw AgentError(.forbidden, "this token may not access environment '\(environment.prefix(140))'",
                             details: [.init(loc: ["path", "env"], msg: "environment not allowed for this token", type: "environment_forbidden")])
        }
    }
}
