import EnvAgentCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing
@testable import EnvAgentServer

/// Odd requests answered as the spec says (issue 14).
@Suite struct OddInputAPITests {
    @Test func duplicateKeysInABodyAreRefused() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("A", "value-of-a-0000")])
        let write = try fixture.token([.write])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let twice = try await client.send(.patch, "/v1/environments/dev/secrets/A", token: write,
                                              json: #"{"value":"first-value-000","value":"second-value-00"}"#)
            expectEnvelope(twice, 400, "invalid_request", loc: ["body", "value"])
            // Equal after unescaping is the same key.
            let escaped = try await client.send(.patch, "/v1/environments/dev/secrets/A", token: write,
                                                json: #"{"value":"first-value-000","\u0076alue":"second-value-00"}"#)
            expectEnvelope(escaped, 400, "invalid_request", loc: ["body", "value"])
            // A key's name as a value is no repetition.
            let nested = try await client.send(.post, "/v1/environments/dev/secrets", token: write,
                                               json: #"{"name":"B","value":"name"}"#)
            #expect(nested.status == .created, "\(nested.text)")
        }
        #expect(try fixture.value("A") == "value-of-a-0000")
    }

    @Test func duplicateKeyScanner() {
        func duplicate(_ json: String) -> String? { JSONBody.duplicateKey(in: Array(json.utf8)) }
        #expect(duplicate(#"{"a":1,"b":{"a":2},"c":["a","a"]}"#) == nil)
        #expect(duplicate(#"{"a":"\"a\"","b":1}"#) == nil)
        #expect(duplicate(#"{"a":1,"b":{"x":2,"x":3}}"#) == "x")
        #expect(duplicate(#"[{"k":1},{"k":2}]"#) == nil)
        #expect(duplicate(#"{"k\\":1,"k\\":2}"#) == #"k\"#)
    }

    @Test func badNameInTheQueryIsAValidationError() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("A", "value-of-a-0000")])
        let reveal = try fixture.token([.reveal])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let bad = try await client.send(.get, "/v1/environments/dev/dotenv?names=A,bad*name", token: reveal)
            expectEnvelope(bad, 422, "validation_error", loc: ["query", "name"], detail: "invalid_name")
            let missing = try await client.send(.get, "/v1/environments/dev/dotenv?names=A,NOPE", token: reveal)
            expectEnvelope(missing, 404, "not_found")
        }
    }

    @Test func headIsServedOnGetRoutes() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("A", "value-of-a-0000")])
        let read = try fixture.token([.read])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            for path in ["/healthz", "/openapi.yaml", "/v1/environments/dev/secrets", "/v1/environments/dev/secrets/A"] {
                let get = try await client.send(.get, path, token: read)
                let head = try await client.send(.head, path, token: read)
                #expect(head.status == .ok && head.body.readableBytes == 0, "\(path): \(head.status)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
                #expect(head.headers[.contentLength] == get.headers[.contentLength], "\(path)")
            }
            let missing = try await client.send(.head, "/v1/environments/dev/secrets/NOPE", token: read)
            #expect(missing.status == .notFound && missing.body.readableBytes == 0)
            let postOnly = try await client.send(.head, "/v1/sync", token: read)
            #expect(postOnly.status == .methodNotAllowed && postOnly.headers[.allow] == "POST")
            let getRoute = try await client.send(.put, "/v1/environments/dev/secrets", token: read)
            #expect(getRoute.headers[.allow] == "GET, POST, HEAD")
        }
    }

    @Test func listShowsTheLinesThatOpenAndNamesTheOthers() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("A", "value-of-a-0000"), ("B", "value-of-b-1111"), ("C", "value-of-c-2222")])
        try swapCiphertexts(of: "A", and: "B", in: fixture.repo)
        #expect(try fixture.git("commit", "-qam", "swap two ciphertexts").status == 0)
        let read = try fixture.token([.read, .reveal])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let list = try await client.send(.get, "/v1/environments/dev/secrets", token: read)
            #expect(list.status == .ok, "\(list.text)")
            let rows = list.jsonArray ?? []
            #expect(rows.map { $0["name"] as? String } == ["A", "B", "C"])
            #expect(rows.map { $0["masked_value"] as? String } == ["••••", "••••", "val••••2"])
            #expect(rows.map { $0["error"] is String } == [true, true, false])
            #expect(!list.text.contains("value-of"))
            let render = try await client.send(.get, "/v1/environments/dev/dotenv", token: read)
            expectEnvelope(render, 500, "internal_error")
        }
    }
}

/// Exchanges the ciphertexts of two lines of `dev`'s secrets file in the work tree: each is bound
/// to its own name, so neither opens any more.
func swapCiphertexts(of first: String, and second: String, in repo: String) throws {
    let path = repo + "/.envagent/dev/secrets"
    var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    let a = try #require(lines.firstIndex { $0.first == first }), b = try #require(lines.firstIndex { $0.first == second })
    (lines[a][4], lines[b][4]) = (lines[b][4], lines[a][4])
    try (lines.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}
