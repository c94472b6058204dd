import EnvAgentCore
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/environments…`: decode, authorize, call the core operation, encode.
struct SecretRoutes {
    let access: StoreAccess

    /// Where the fields of each kind of request come from, for error `loc`s.
    static let inPath = ["env": "path", "name": "path", "value": "body", "env_var": "body"]
    static let inBody = ["env": "path", "name": "body", "value": "body", "env_var": "body"]
    static let inQuery = ["env": "path", "name": "query", "names": "query"]

    func register(on group: some RouterMethods<APIRequestContext>, prefix: String, table: RouteTable) {
        table.on(group, prefix: prefix, "environments", .get, use: environments)
        table.on(group, prefix: prefix, "environments/:env/secrets", .get, use: list)
        table.on(group, prefix: prefix, "environments/:env/secrets", .post, use: create)
        table.on(group, prefix: prefix, "environments/:env/secrets/:name", .get, use: get)
        table.on(group, prefix: prefix, "environments/:env/secrets/:name", .patch, use: update)
        table.on(group, prefix: prefix, "environments/:env/secrets/:name", .delete, use: delete)
        table.on(group, prefix: prefix, "environments/:env/dotenv", .get, use: dotenv)
    }

    @Sendable func environments(_ request: Request, context: APIRequestContext) async throws -> Response {
        try context.authorize(.read)
        let token = context.token
        let all = try await access.read { try $0.environments() }
        return try Responses.json(all.filter { token?.allows(environment: $0.name) ?? false })
    }

    /// The masked listing, from the cache while HEAD has not moved.
    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let environment = try context.parameters.require("env")
        try context.authorize(.read, environment: environment)
        return try await locating(Self.inPath) {
            let head = try access.head()
            if let body = access.lists.body(environment: environment, head: head) {
                return Responses.json(body)
            }
            let secrets = try await access.read { try $0.list(environment: environment) }
            let body = try Responses.jsonBody(secrets)
            access.lists.store(body, environment: environment, head: head)
            return Responses.json(body)
        }
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> Response {
        let environment = try context.parameters.require("env")
        try context.authorize(.write, environment: environment)
        let fields = try await JSONBody.read(request).fields(required: ["name", "value"], optional: ["env_var"],
                                                             booleans: ["allow_exec_env_var", "allow_empty"])
        let name = fields.strings["name"]!
        let written = try await access.writer.write(
            .init(name: name, envVar: fields.strings["env_var"], value: SecretBytes(Array(fields.strings["value"]!.utf8)),
                  allowsExecutionEnvVar: fields.booleans["allow_exec_env_var"] ?? false,
                  allowsEmpty: fields.booleans["allow_empty"] ?? false),
            mode: .create, environment: environment
        ).value(Self.inBody)
        return try Responses.json(written.metadata, status: .created,
                                  headers: [.location: "/v1/environments/\(environment)/secrets/\(name)"])
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (environment, name) = try (context.parameters.require("env"), context.parameters.require("name"))
        try context.authorize(.read, environment: environment)
        return try await locating(Self.inPath) {
            try Responses.json(try await access.read { try $0.get(name: name, environment: environment) })
        }
    }

    /// The seed operation: replace an existing secret's value; the answer is metadata only.
    @Sendable func update(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (environment, name) = try (context.parameters.require("env"), context.parameters.require("name"))
        try context.authorize(.write, environment: environment)
        let fields = try await JSONBody.read(request).fields(required: ["value"], booleans: ["allow_empty"])
        let written = try await access.writer.write(
            .init(name: name, value: SecretBytes(Array(fields.strings["value"]!.utf8)),
                  allowsEmpty: fields.booleans["allow_empty"] ?? false),
            mode: .update, environment: environment
        ).value(Self.inPath)
        return try Responses.json(written.metadata)
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (environment, name) = try (context.parameters.require("env"), context.parameters.require("name"))
        try context.authorize(.write, environment: environment)
        try await access.writer.delete(name: name, environment: environment).value(Self.inPath)
        return Response(status: .noContent)
    }

    /// The decrypted `.env` (the CLI's renderer) for `names` (all when absent or empty).
    @Sendable func dotenv(_ request: Request, context: APIRequestContext) async throws -> Response {
        let environment = try context.parameters.require("env")
        try context.authorize(.reveal, environment: environment)
        var names: [String] = []
        for name in (request.uri.queryParameters.get("names") ?? "").split(separator: ",", omittingEmptySubsequences: true)
        where !names.contains(String(name)) {
            names.append(String(name))
        }
        // A token limited to some environments reads no base outside them.
        let readable = context.token.flatMap { $0.environments.isEmpty ? nil : Set($0.environments) }
        let rendered = try await locating(Self.inQuery) {
            try await access.read { [names] in
                try $0.render(names: names, environment: environment, format: .env, readable: readable)
            }
        }
        var bytes: [UInt8] = []
        rendered.append(to: &bytes)
        let body = ByteBuffer(bytes: bytes) // NIO's buffer is the response; the array is wiped
        Crypto.wipe(&bytes)
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: body))
    }
}
