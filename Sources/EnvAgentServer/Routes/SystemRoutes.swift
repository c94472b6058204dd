import EnvAgentCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Routes outside the secrets: health, the contract, and sync.
struct SystemRoutes {
    func register(on router: Router<APIRequestContext>, table: RouteTable) {
        table.on(router, "healthz", .get) { _, _ in
            Responses.json(ByteBuffer(string: #"{"status":"ok"}"#))
        }
        table.on(router, "openapi.yaml", .get) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
    }

    func registerSync(on group: some RouterMethods<APIRequestContext>, prefix: String, table: RouteTable,
                      store: StoreAccess, timeout: Int) {
        table.on(group, prefix: prefix, "sync", .post) { _, context in
            try context.authorize(.write, requiresAllEnvironments: true)
            let result = try await store.sync { try $0.sync(remote: "origin", options: TransferOptions(timeoutSeconds: timeout)) }
            return Responses.json(try Responses.jsonBody(result))
        }
    }
}
