import EnvAgentCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Routes outside the store: health, the contract, and sync (not in this version).
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

    func registerSync(on group: some RouterMethods<APIRequestContext>, prefix: String, table: RouteTable) {
        table.on(group, prefix: prefix, "sync", .post) { _, context in
            try context.authorize(.write)
            throw AgentError(.notFound, "sync is not available: this version of agent has no sync feature",
                             details: [.init(loc: ["path"], msg: "sync is not implemented in this version", type: "not_found")],
                             hint: "push and pull the store's branch with git")
        }
    }
}
