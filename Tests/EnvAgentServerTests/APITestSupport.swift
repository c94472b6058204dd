import EnvAgentCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import NIOCore
import TestSupport
import Testing
@testable import EnvAgentServer

/// A real store in a temp git repository (real libgit2, real libsodium), its own identity, and
/// a private state folder for tokens. Nothing is mocked: the server under test is the one
/// `agent serve` runs, on an ephemeral port.
final class APIFixture: Sendable {
    let root: String
    let repo: String
    let stateDirectory: String
    let identitySource: IdentitySource
    let tokens: TokenStore
    let storeID: String

    init() throws {
        root = NSTemporaryDirectory() + "envagent-api-\(UUID().uuidString.prefix(8))"
        repo = root + "/repo"
        stateDirectory = root + "/state"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let identityFile = root + "/identity"
        identitySource = IdentitySource(environmentText: nil, environmentFile: identityFile, flagFile: nil,
                                        defaultFile: root + "/no-identity")
        try identitySource.write(try Identity.generate(), to: identityFile)
        _ = try runProcess("/usr/bin/git", ["init", "-q", "-b", "main", repo])
        _ = try runProcess("/usr/bin/git", ["-C", repo, "config", "user.name", "API Test"])
        _ = try runProcess("/usr/bin/git", ["-C", repo, "config", "user.email", "api@example.com"])
        storeID = try Operations.initialize(path: repo, environment: "dev", bare: false, identitySource: identitySource).header.storeID
        tokens = TokenStore(directory: stateDirectory)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// The core operations on the fixture's store (to seed data and to read back what the API did).
    var operations: Operations {
        get throws { Operations(store: try Store.open(path: repo), identitySource: identitySource) }
    }

    func seed(_ pairs: [(String, String)], environment: String = "dev") throws {
        let operations = try self.operations
        for (name, value) in pairs {
            _ = try operations.set(.init(name: name, value: SecretBytes(Array(value.utf8))), environment: environment)
        }
    }

    func value(_ name: String, environment: String = "dev") throws -> String {
        try operations.reveal(name: name, environment: environment).utf8String
    }

    /// A token for the fixture's store; `expired` makes one whose hour of life ended an hour ago.
    func token(_ scopes: [TokenScope], environments: [String] = [], expired: Bool = false) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        return try tokens.create(scopes: scopes, environments: environments, ttlSeconds: 3600, label: "test",
                                 store: storeID, now: expired ? now - 7200 : now).token
    }

    func git(_ args: String...) throws -> ProcessResult {
        try runProcess("/usr/bin/git", ["-C", repo] + args)
    }

    func server(rateLimit: Double? = nil, burst: Double? = nil) throws -> (APIServer, InMemoryLogHandler) {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "envagent.api.test", factory: { _ in handler })
        logger.logLevel = .debug
        let options = ServerOptions(storePath: repo, identitySource: identitySource, tokens: tokens,
                                    listen: .tcp(host: "127.0.0.1", port: 0), rateLimit: rateLimit, burst: burst)
        return (try APIServer(options: options, logger: logger), handler)
    }
}

extension TestClientProtocol {
    /// A request with an optional bearer token and JSON body.
    func send(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
              headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    var jsonObject: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    var jsonArray: [[String: Any]]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
    }
}

/// Asserts the canonical envelope, exactly: the four keys, `status` equal to the HTTP status,
/// the stable `type`, and `errors` entries of `loc` (strings), `msg`, `type`. Returns it.
@discardableResult
func expectEnvelope(_ response: TestResponse, _ status: Int, _ type: String, loc: [String]? = nil,
                    detail: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
    #expect(Int(response.status.code) == status, "status (body: \(response.text))", sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
    #expect(response.headers[HTTPField.Name("X-Request-Id")!]?.isEmpty == false, sourceLocation: sourceLocation)
    guard let envelope = response.jsonObject else {
        Issue.record("not a JSON object: \(response.text)", sourceLocation: sourceLocation)
        return [:]
    }
    #expect(Set(envelope.keys) == ["status", "message", "errors", "type"], sourceLocation: sourceLocation)
    #expect(envelope["status"] as? Int == status, sourceLocation: sourceLocation)
    #expect(envelope["type"] as? String == type, sourceLocation: sourceLocation)
    #expect((envelope["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    let errors = envelope["errors"] as? [[String: Any]] ?? []
    #expect(!errors.isEmpty, sourceLocation: sourceLocation)
    for error in errors {
        #expect(Set(error.keys) == ["loc", "msg", "type"], sourceLocation: sourceLocation)
        #expect(error["loc"] is [String] && error["msg"] is String && error["type"] is String, sourceLocation: sourceLocation)
    }
    if let loc {
        #expect(errors.contains { ($0["loc"] as? [String]) == loc }, "no error at \(loc): \(errors)", sourceLocation: sourceLocation)
    }
    if let detail {
        #expect(errors.contains { ($0["type"] as? String) == detail }, "no error of type \(detail): \(errors)", sourceLocation: sourceLocation)
    }
    return envelope
}

/// Every log line the server wrote, rendered as text (message and metadata).
func logText(_ handler: InMemoryLogHandler) -> String {
    handler.entries.map { entry in
        "\(entry.level) \(entry.message) " + entry.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }.joined(separator: "\n")
}

/// Where this source file's repository is (for the root `openapi.yaml`).
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
