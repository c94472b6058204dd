import Hummingbird
import EnvAgentCore

/// The per-request context: Hummingbird's core storage plus what the front middlewares learn
/// (the request id, the authenticated token).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Random id of this request, returned as `X-Request-Id` and logged.
    public var requestID = ""
    /// The token that authenticated the request (nil on `/healthz`, `/openapi.yaml`).
    public var token: TokenRecord?
    /// Shared with the front middleware, which writes the request's log line.
    var notes: RequestNotes?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies over 1 MiB are refused with `invalid_request` (checked by `JSONBody`).
    public var maxUploadSize: Int { JSONBody.maxBytes }
}
