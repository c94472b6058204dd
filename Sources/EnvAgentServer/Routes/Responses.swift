import EnvAgentCore
import HTTPTypes
import Hummingbird
import NIOCore
import FoundationEssentials // Linux only (Package.swift): the smaller Foundation suffices

enum Responses {
    static func jsonBody(_ value: some Encodable) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return ByteBuffer(bytes: try encoder.encode(value))
        } catch {
            throw AgentError(.internalError, "cannot encode the response")
        }
    }

    static func json(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        json(try jsonBody(value), status: status, headers: headers)
    }
}

/// Runs a core call and places the `loc` of its errors in the request (see `AgentError.located`).
func locating<T>(_ places: [String: String], _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as AgentError {
        throw error.located(places)
    }
}

extension Result where Failure == AgentError {
    /// The value, or the error located in the request.
    func value(_ places: [String: String]) throws -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let error): throw error.located(places)
        }
    }
}
