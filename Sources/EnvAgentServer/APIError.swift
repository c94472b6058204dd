import EnvAgentCore
import HTTPTypes
import Hummingbird
import NIOCore

/// An `AgentError` on its way to the client: the one place where an error becomes an HTTP
/// response. The status is the kind's (`AgentError.Kind.httpStatus`) except for the 405 of a
/// wrong method; `headers` carries `Retry-After`, `Allow` and the like.
struct APIError: Error {
    var error: AgentError
    var status: HTTPResponse.Status
    var headers: HTTPFields

    init(_ error: AgentError, status: HTTPResponse.Status? = nil, headers: HTTPFields = [:]) {
        self.error = error
        self.status = status ?? HTTPResponse.Status(code: error.kind.httpStatus)
        self.headers = headers
    }

    /// The canonical envelope. A 500 says only that something went wrong and which request it
    /// was; what went wrong goes to the log.
    func response(requestID: String) -> Response {
        var shown = error
        if error.kind == .internalError {
            shown = AgentError(.internalError, "internal error; the server log has the details under request id \(requestID)")
        }
        var headers = self.headers
        headers[.contentType] = "application/json"
        if error.kind == .authenticationFailed, headers[.wwwAuthenticate] == nil {
            headers[.wwwAuthenticate] = "Bearer realm=\"envagent\""
        }
        let body = ByteBuffer(string: shown.envelopeJSON(status: Int(status.code)))
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}

extension AgentError {
    /// The same error with each detail's `loc` placed in the request: `["name"]` becomes
    /// `["path", "name"]` when `places["name"] == "path"`. Core errors name fields; the API
    /// says where in the request they were.
    func located(_ places: [String: String]) -> AgentError {
        var copy = self
        copy.details = details.map { detail in
            guard let first = detail.loc.first, let place = places[first] else { return detail }
            var moved = detail
            moved.loc = [place] + detail.loc
            return moved
        }
        return copy
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let apiVersion = HTTPField.Name("X-EnvAgent-Api-Version")!
}
