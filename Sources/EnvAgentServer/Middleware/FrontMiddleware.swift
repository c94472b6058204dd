import EnvAgentCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The first middleware every request meets. It gives the request an id (`X-Request-Id`),
/// checks the client's `X-EnvAgent-Api-Version`, turns every error — the core's, the
/// framework's own 404/413, decoding failures, anything else — into the canonical envelope, and
/// writes the one log line of the request. The log line holds no body, no query, no header
/// value: never a secret value or a token.
struct FrontMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    static let apiVersion = 1
    static let minimumClientApiVersion = 1

    let logger: Logger
    let routes: RouteTable

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        context.requestID = Self.newRequestID()
        let notes = RequestNotes()
        context.notes = notes
        var response: Response
        var failure: AgentError?
        do {
            try Self.checkClientVersion(request.headers[.apiVersion])
            response = try await next(request, context)
        } catch {
            let apiError = self.apiError(for: error, request: request)
            failure = apiError.error
            response = apiError.response(requestID: context.requestID)
        }
        if request.method == .head {
            // The router answers HEAD with the GET route; an error's envelope loses its body
            // here, keeping the length it would have had.
            let length = response.headers[.contentLength]
            response.body = ResponseBody()
            response.headers[.contentLength] = length
        }
        response.headers[.requestID] = context.requestID
        response.headers[.apiVersion] = String(Self.apiVersion)
        let elapsed = ContinuousClock.now - start
        var metadata: Logger.Metadata = [
            "request_id": .string(context.requestID),
            "method": .string(request.method.rawValue),
            "path": .string(String(request.uri.path.prefix(300))),
            "status": .stringConvertible(response.status.code),
            "ms": .string(Self.milliseconds(elapsed)),
        ]
        if let tokenID = notes.tokenID { metadata["token_id"] = .string(tokenID) }
        if let failure {
            metadata["error_type"] = .string(failure.kind.rawValue)
            if failure.kind == .internalError { metadata["error"] = .string(failure.message) }
        }
        logger.log(level: failure?.kind == .internalError ? .error : .info, "request", metadata: metadata)
        return response
    }

    /// Maps any error to the `APIError` (and so the envelope) it answers with.
    func apiError(for error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as AgentError:
            return APIError(error)
        case let error as any HTTPResponseError:
            return frameworkError(error.status, request: request)
        default:
            return APIError(AgentError(.internalError, "unexpected \(type(of: error))"))
        }
    }

    /// Hummingbird's own errors (no route, body too large, …) in the envelope.
    private func frameworkError(_ status: HTTPResponse.Status, request: Request) -> APIError {
        let path = String(request.uri.path.prefix(200))
        switch status.code {
        case 404:
            if let allowed = routes.allowedMethods(for: request.uri.path) {
                let list = (allowed.contains(.get) ? allowed + [.head] : allowed).map(\.rawValue).joined(separator: ", ")
                return APIError(AgentError(.invalidRequest, "method \(request.method.rawValue) is not allowed on \(path); allowed: \(list)",
                                           details: [.init(loc: ["method"], msg: "allowed: \(list)", type: "method_not_allowed")]),
                                status: .methodNotAllowed, headers: [.allow: list])
            }
            return APIError(AgentError(.notFound, "no such endpoint: \(request.method.rawValue) \(path)",
                                       details: [.init(loc: ["path"], msg: "unknown route", type: "not_found")],
                                       hint: "the API is described at GET /openapi.yaml"))
        case 413:
            return APIError(JSONBody.tooLarge)
        case 400..<500:
            let kind = AgentError.Kind.allCases.first { $0.httpStatus == Int(status.code) } ?? .invalidRequest
            return APIError(AgentError(kind, "\(status.reasonPhrase.lowercased()): \(request.method.rawValue) \(path)"))
        default:
            return APIError(AgentError(.internalError, "framework error \(status.code)"))
        }
    }

    static func checkClientVersion(_ header: String?) throws {
        guard let header else { return }
        let digits = header.filter { $0 != " " && $0 != "\t" }
        // Any run of digits is a version; one too large for an Int is simply new enough.
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw AgentError(.invalidRequest, "X-EnvAgent-Api-Version must be an integer API version",
                             details: [.init(loc: ["header", "X-EnvAgent-Api-Version"], msg: "not an integer", type: "int_parsing")])
        }
        let version = Int(digits) ?? Int.max
        guard version >= minimumClientApiVersion else {
            throw AgentError(.upgradeRequired, "API version \(version) is older than the oldest this server speaks (\(minimumClientApiVersion)); upgrade the client",
                             details: [.init(loc: ["header", "X-EnvAgent-Api-Version"], msg: "at least \(minimumClientApiVersion)", type: "upgrade_required")])
        }
    }

    static func newRequestID() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func milliseconds(_ duration: Duration) -> String {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - String(micros % 1000).count))\(micros % 1000)"
    }
}

/// What inner middlewares tell the log line (a reference, since the context is a value that
/// is copied on its way down).
final class RequestNotes: Sendable {
    private let state = Mutex<String?>(nil)
    var tokenID: String? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
