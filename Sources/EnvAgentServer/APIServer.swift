import AgentWire
import EnvAgentCore
import Hummingbird
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// What `agent serve` serves, and where.
public struct ServerOptions: Sendable {
    public enum Listen: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// A unix socket, created 0600.
        case unix(path: String)
    }

    /// The store's repository (nil: the one containing the current directory).
    public var storePath: String?
    public var identitySource: IdentitySource
    public var tokens: TokenStore
    public var listen: Listen
    /// Requests a second per token (token bucket); nil or 0: no limit.
    public var rateLimit: Double?
    /// Bucket size; default twice the rate.
    public var burst: Double?
    /// Seconds `POST /v1/sync` waits for the remote before 504 `gateway_timeout`.
    public var syncTimeout: Int
    /// Seconds after which a connection that sent nothing (idle between requests, or stalled
    /// in the middle of one) is closed.
    public var idleTimeout: Int

    public init(storePath: String?, identitySource: IdentitySource, tokens: TokenStore,
                listen: Listen = .tcp(host: "127.0.0.1", port: 8787), rateLimit: Double? = 100, burst: Double? = nil,
                syncTimeout: Int = 30, idleTimeout: Int = 10) {
        self.storePath = storePath
        self.identitySource = identitySource
        self.tokens = tokens
        self.listen = listen
        self.rateLimit = rateLimit
        self.burst = burst
        self.syncTimeout = syncTimeout
        self.idleTimeout = idleTimeout
    }
}

/// The HTTP API: a Hummingbird application over the core operations.
public struct APIServer: Sendable {
    public typealias App = Application<RouterResponder<APIRequestContext>>

    public let application: App
    let access: StoreAccess

    /// Opens the store (refusing to start on a missing store or an unreadable tokens file) and
    /// builds the application. `onListening` gets the address actually bound (`host:port` or
    /// the socket path) once the server accepts connections.
    public init(options: ServerOptions, logger: Logger,
                onListening: @escaping @Sendable (String) -> Void = { _ in }) throws {
        let access = try StoreAccess(path: options.storePath, identitySource: options.identitySource, logger: logger)
        let authenticator = try Authenticator(tokens: options.tokens, storeID: access.storeID)
        let limiter = options.rateLimit.flatMap { rate in
            rate > 0 ? RateLimiter(rate: rate, burst: options.burst ?? rate * 2) : nil
        }
        let table = RouteTable()
        // HEAD on every GET route (RFC 9110 §9.3.2): the GET's status and headers, no body.
        let router = Router(context: APIRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: FrontMiddleware(logger: logger, routes: table))
        SystemRoutes().register(on: router, table: table)
        let v1 = router.group("v1").add(middleware: AuthMiddleware(authenticator: authenticator, limiter: limiter))
        SecretRoutes(access: access).register(on: v1, prefix: "v1", table: table)
        SystemRoutes().registerSync(on: v1, prefix: "v1", table: table, store: access, timeout: options.syncTimeout)

        let address: BindAddress
        switch options.listen {
        case .tcp(let host, let port): address = .hostname(host, port: port)
        case .unix(let path):
            try Self.clearStaleSocket(path)
            address = .unixDomainSocket(path: path)
        }
        let listen = options.listen
        application = Application(
            router: router,
            // Without it a client that connects and sends nothing (or half a request) holds
            // its connection, and a file descriptor, for as long as it likes.
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(max(1, options.idleTimeout))))),
            configuration: .init(address: address, serverName: nil),
            services: [access.writer],
            onServerRunning: { channel in
                switch listen {
                case .unix(let path):
                    _ = chmod(path, 0o600)
                    onListening(path)
                case .tcp(let host, _):
                    onListening("\(host):\(channel.localAddress?.port ?? 0)")
                }
            },
            logger: logger
        )
        self.access = access
    }

    /// A socket file left by a server that is gone is removed; a live one, or any other kind of
    /// file, is an error.
    static func clearStaleSocket(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw AgentError(.alreadyExists, "\(path) exists and is not a socket", hint: "choose another --socket path")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AgentError(.internalError, "cannot create a socket: \(FileIO.errnoMessage())") }
        defer { close(fd) }
        guard let connected = UnixSocket.connect(fd, to: path) else {
            throw AgentError(.validationError, "socket path is too long: \(path)")
        }
        if connected == 0 {
            throw AgentError(.alreadyExists, "another server is listening on \(path)")
        }
        unlink(path)
    }
}
