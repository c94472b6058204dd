// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "EnvAgent",
    products: [
        .executable(name: "agent", targets: ["agent"]),
        .executable(name: "agent-core", targets: ["agent-core"]),
        .executable(name: "agent-serve", targets: ["agent-serve"]),
        .library(name: "EnvAgentCore", targets: ["EnvAgentCore"]),
        .library(name: "EnvAgentServer", targets: ["EnvAgentServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The HTTP API. Hummingbird's default traits (swift-configuration, full Foundation) are
        // not needed and only add build time.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibgit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // What Swift cannot call directly: libgit2's variadic option call, the socket stream
        // that holds remote operations to their deadline, posix_spawn of a detached process.
        // libssh2 (what Debian's libgit2 uses for ssh://): its known_hosts parser.
        .systemLibrary(
            name: "CLibssh2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),
        .target(
            name: "CAgentShims",
            dependencies: ["CLibgit2", "CLibssh2"]
        ),
        // The git hook scripts of hooks/, embedded at build time: what `agent hooks install`
        // writes is those files byte for byte, with no second copy to drift.
        .target(
            name: "EnvAgentHooks",
            path: "hooks",
            exclude: ["README.md"],
            resources: [.embedInCode("pre-commit"), .embedInCode("post-checkout"),
                        .embedInCode("post-merge"), .embedInCode("post-rewrite")]
        ),
        .target(
            name: "EnvAgentCore",
            dependencies: ["CLibgit2", "CSodium", "CAgentShims", "EnvAgentHooks"]
        ),
        .target(
            name: "EnvAgentServer",
            dependencies: [
                "EnvAgentCore", "AgentWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The socket protocol of the resident agent, shared by the thin client and agent-core;
        // it depends on nothing but libc, so the client stays small.
        .target(name: "CAgentSocket"),
        .target(name: "AgentWire", dependencies: ["CAgentSocket"]),
        // `agent`: sends the command to the resident agent when one runs, else execs agent-core.
        .executableTarget(
            name: "agent",
            dependencies: ["AgentWire", "CAgentSocket"]
        ),
        // Every command, run in-process (and by the resident agent in a forked process).
        .executableTarget(
            name: "agent-core",
            dependencies: [
                "EnvAgentCore", "AgentWire", "CAgentSocket",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `agent serve` execs this: the HTTP stack stays out of every other command's start-up.
        .executableTarget(
            name: "agent-serve",
            dependencies: [
                "EnvAgentCore",
                "EnvAgentServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "EnvAgentCoreTests",
            dependencies: ["EnvAgentCore", "TestSupport"]
        ),
        .testTarget(
            name: "AgentCLITests",
            dependencies: ["agent", "agent-core", "agent-serve", "EnvAgentCore", "AgentWire", "TestSupport"]
        ),
        .testTarget(
            name: "EnvAgentServerTests",
            dependencies: [
                "EnvAgentServer", "TestSupport", "agent", "agent-core", "agent-serve",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
