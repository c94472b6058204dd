import EnvAgentCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing
@testable import EnvAgentServer

@Suite("Every error status is the canonical envelope")
struct ErrorEnvelopeTests {
    @Test func clientErrors() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("KEY", "value-0123456789")])
        let token = try fixture.token([.write])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let path = "/v1/environments/dev/secrets/KEY"
            // 400: malformed JSON, wrong content type, a body over 1 MiB, a bad version header.
            expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"value": "#), 400, "invalid_request",
                           loc: ["body"], detail: "json_invalid")
            expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"value":"x"}"#, headers: [.contentType: "text/plain"]),
                           400, "invalid_request", loc: ["header", "Content-Type"])
            expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"value":"\#(String(repeating: "a", count: 1 << 20))"}"#),
                           400, "invalid_request", detail: "body_too_large")
            expectEnvelope(try await client.send(.get, path, token: token, headers: [HTTPField.Name("X-EnvAgent-Api-Version")!: "one"]),
                           400, "invalid_request", loc: ["header", "X-EnvAgent-Api-Version"])

            // 401: missing, unknown, malformed; always with WWW-Authenticate: Bearer.
            for header in [nil, "Bearer agt_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer nonsense", "Basic dXNlcjpwYXNz",
                           "Bearer " + Self.altered(token)] as [String?] {
                let response = try await client.send(.get, path, headers: header.map { [.authorization: $0] } ?? [:])
                expectEnvelope(response, 401, "authentication_failed", loc: ["header", "Authorization"])
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }

            // 404: a secret, an environment, an unknown route.
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/secrets/NOPE", token: token), 404, "not_found", loc: ["path", "name"])
            expectEnvelope(try await client.send(.patch, "/v1/environments/dev/secrets/NOPE", token: token, json: #"{"value":"v"}"#),
                           404, "not_found", loc: ["path", "name"])
            expectEnvelope(try await client.send(.get, "/v1/environments/nowhere/secrets", token: token), 404, "not_found", loc: ["path", "env"])
            expectEnvelope(try await client.send(.get, "/v1/nothing/here", token: token), 404, "not_found")
            expectEnvelope(try await client.send(.get, "/favicon.ico"), 404, "not_found")

            // 405: a known path with a method it does not have, with Allow.
            let put = try await client.send(.put, path, token: token, json: #"{"value":"v"}"#)
            expectEnvelope(put, 405, "invalid_request", loc: ["method"])
            #expect(put.headers[.allow] == "GET, PATCH, DELETE, HEAD")
            #expect(try await client.send(.delete, "/v1/environments", token: token).headers[.allow] == "GET, HEAD")

            // 409
            expectEnvelope(try await client.send(.post, "/v1/environments/dev/secrets", token: token, json: #"{"name":"KEY","value":"v"}"#),
                           409, "already_exists", loc: ["body", "name"])

            // 422: each bad field with its place and a machine type.
            let missing = expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"valeu":"v"}"#), 422, "validation_error",
                                         loc: ["body", "value"], detail: "missing")
            #expect((missing["errors"] as? [[String: Any]])?.contains { $0["type"] as? String == "extra_forbidden" } == true)
            expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"value":42}"#), 422, "validation_error",
                           loc: ["body", "value"], detail: "string_type")
            expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"value":"\#(String(repeating: "b", count: 65537))"}"#),
                           422, "validation_error", loc: ["body", "value"], detail: "string_too_long")
            expectEnvelope(try await client.send(.patch, path, token: token, json: #"{"value":"a\u0000b"}"#), 422, "validation_error",
                           loc: ["body", "value"])
            expectEnvelope(try await client.send(.patch, path, token: token, json: "[1]"), 422, "validation_error", loc: ["body"])
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/secrets/-bad", token: token), 422, "validation_error",
                           loc: ["path", "name"], detail: "invalid_name")
            expectEnvelope(try await client.send(.get, "/v1/environments/b%20d/secrets", token: token), 422, "validation_error",
                           loc: ["path", "env"], detail: "invalid_name")
            expectEnvelope(try await client.send(.post, "/v1/environments/dev/secrets", token: token, json: #"{"name":"9lives","value":"v"}"#),
                           422, "validation_error", loc: ["body", "env_var"])
            expectEnvelope(try await client.send(.post, "/v1/environments/dev/secrets", token: token, json: #"{"name":"OTHER","env_var":"KEY","value":"v"}"#),
                           422, "validation_error", loc: ["body", "env_var"], detail: "duplicate_env_var")

            // 426: a client older than the minimum.
            expectEnvelope(try await client.send(.get, path, token: token, headers: [HTTPField.Name("X-EnvAgent-Api-Version")!: "0"]),
                           426, "upgrade_required")
            #expect(try await client.send(.get, path, token: token, headers: [HTTPField.Name("X-EnvAgent-Api-Version")!: "1"]).status == .ok)
        }
        #expect(try fixture.value("KEY") == "value-0123456789")   // nothing above changed it
    }

    /// The token with one character of its secret changed.
    static func altered(_ token: String) -> String {
        var characters = Array(token)
        let index = characters.count - 10
        characters[index] = characters[index] == "Q" ? "R" : "Q"
        return String(characters)
    }

    @Test func expiredAndRevokedTokens() async throws {
        let fixture = try APIFixture()
        let expired = try fixture.token([.read], expired: true)
        let live = try fixture.token([.read])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let response = try await client.send(.get, "/v1/environments", token: expired)
            expectEnvelope(response, 401, "authentication_failed", detail: "expired_token")
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(try await client.send(.get, "/v1/environments", token: live).status == .ok)
            // Revoked while the server runs: refused at once.
            try fixture.tokens.revoke(live)
            expectEnvelope(try await client.send(.get, "/v1/environments", token: live), 401, "authentication_failed")
            // A token made after the server started works at once.
            let later = try fixture.token([.read])
            #expect(try await client.send(.get, "/v1/environments", token: later).status == .ok)
        }
    }

    @Test func tokensOfAnotherStoreAreRefused() async throws {
        let fixture = try APIFixture()
        let other = try APIFixture()
        let foreign = try TokenStore(directory: fixture.stateDirectory)
            .create(scopes: [.read], environments: [], ttlSeconds: nil, label: nil, store: other.storeID, now: 0).token
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            _ = expectEnvelope(try await client.send(.get, "/v1/environments", token: foreign), 401, "authentication_failed")
        }
    }

    @Test func rateLimitPerToken() async throws {
        let fixture = try APIFixture()
        let first = try fixture.token([.read])
        let second = try fixture.token([.read])
        // One request per 20 s on average, bursts of 2: the third request in a row is refused
        // however slow the machine is.
        let (server, _) = try fixture.server(rateLimit: 0.05, burst: 2)
        try await server.application.test(.live) { client in
            #expect(try await client.send(.get, "/v1/environments", token: first).status == .ok)
            #expect(try await client.send(.get, "/v1/environments", token: first).status == .ok)
            let limited = try await client.send(.get, "/v1/environments", token: first)
            expectEnvelope(limited, 429, "rate_limited")
            let retryAfter = Int(limited.headers[.retryAfter] ?? "")
            #expect(retryAfter != nil && retryAfter! >= 1 && retryAfter! <= 20, "Retry-After: \(limited.headers[.retryAfter] ?? "none")")
            // Buckets are per token.
            #expect(try await client.send(.get, "/v1/environments", token: second).status == .ok)
            // Health needs no token and is not limited.
            #expect(try await client.send(.get, "/healthz").status == .ok)
        }
    }

    /// 426 for a store written by a newer format; 500 for a corrupted line, saying nothing about
    /// it but the request id (the log has the details).
    @Test func storeErrors() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("GOOD", "good-value-0123"), ("BROKEN", "broken-value-0123")])
        let token = try fixture.token([.read])
        let (server, logs) = try fixture.server()
        try await server.application.test(.live) { client in
            // Tamper with BROKEN's ciphertext through the git CLI: its tag no longer verifies.
            let secretsPath = fixture.repo + "/.envagent/dev/secrets"
            var lines = try String(contentsOfFile: secretsPath, encoding: .utf8).split(separator: "\n").map(String.init)
            let index = try #require(lines.firstIndex { $0.hasPrefix("BROKEN ") })
            let sealed = lines[index].split(separator: ":").last!
            lines[index] = String(lines[index].dropLast(sealed.count)) + String(sealed.reversed())
            try (lines.joined(separator: "\n") + "\n").write(toFile: secretsPath, atomically: true, encoding: .utf8)
            #expect(try fixture.git("commit", "-qam", "tamper").status == 0)

            let broken = try await client.send(.get, "/v1/environments/dev/secrets/BROKEN", token: token)
            let envelope = expectEnvelope(broken, 500, "internal_error")
            let requestID = try #require(broken.headers[HTTPField.Name("X-Request-Id")!])
            #expect(envelope["message"] as? String == "internal error; the server log has the details under request id \(requestID)")
            #expect(!broken.text.contains("BROKEN") && !broken.text.contains(".envagent"))
            #expect(logText(logs).contains("request_id=\(requestID)"))
            #expect(try await client.send(.get, "/v1/environments/dev/secrets/GOOD", token: token).status == .ok)

            // Recipients edited by someone who is not a member: 409 untrusted_change, until reverted.
            let recipientsPath = fixture.repo + "/.envagent/dev/recipients"
            let recipients = try String(contentsOfFile: recipientsPath, encoding: .utf8)
            try recipients.replacingOccurrences(of: "\nsignature ", with: "\n# edited by hand\nsignature ")
                .write(toFile: recipientsPath, atomically: true, encoding: .utf8)
            #expect(try fixture.git("commit", "-qam", "edit the recipients").status == 0)
            let untrusted = expectEnvelope(try await client.send(.get, "/v1/environments/dev/secrets", token: token), 409, "untrusted_change")
            #expect((untrusted["message"] as? String)?.contains("without a member's signature") == true)
            #expect(try fixture.git("revert", "--no-edit", "HEAD").status == 0)
            #expect(try await client.send(.get, "/v1/environments/dev/secrets/GOOD", token: token).status == .ok)

            // A newer store format: 426 on every store route.
            let header = fixture.repo + "/.envagent/store"
            let text = try String(contentsOfFile: header, encoding: .utf8).replacingOccurrences(of: "format 2", with: "format 3")
            try text.write(toFile: header, atomically: true, encoding: .utf8)
            #expect(try fixture.git("commit", "-qam", "from the future").status == 0)
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/secrets", token: token), 426, "upgrade_required")
            expectEnvelope(try await client.send(.get, "/v1/environments", token: token), 426, "upgrade_required")
        }
    }
}
