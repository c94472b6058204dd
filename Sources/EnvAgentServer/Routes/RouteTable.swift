import HTTPTypes
import Hummingbird
import Synchronization

/// Every route the API registers, kept as it is registered, so that a request for a known path
/// with a method it does not have gets 405 with an `Allow` header instead of a 404.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: [HTTPRequest.Method])]>([])

    /// Registers `handler` on `router` (a router, or a group under `prefix`) and remembers the route.
    func on(_ router: some RouterMethods<APIRequestContext>, prefix: String = "", _ path: String,
            _ method: HTTPRequest.Method,
            use handler: @escaping @Sendable (Request, APIRequestContext) async throws -> Response) {
        router.on(RouterPath(path), method: method, use: handler)
        let segments = (prefix + "/" + path).split(separator: "/")
        routes.withLock { routes in
            if let index = routes.firstIndex(where: { $0.segments == segments }) {
                routes[index].methods.append(method)
            } else {
                routes.append((segments, [method]))
            }
        }
    }

    /// The methods registered for `path` (a request path), nil when no route has that shape.
    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let parts = path.split(separator: "/")
        return routes.withLock { routes in
            routes.first { route in
                route.segments.count == parts.count
                    && zip(route.segments, parts).allSatisfy { $0.first == ":" || $0 == $1 }
            }?.methods
        }
    }
}
