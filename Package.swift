// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "EnvAgent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "agent", targets: ["agent"]),
        .library(name: "EnvAgentCore", targets: ["EnvAgentCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibgit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"]), .brew(["libgit2"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .target(
            name: "CAgentShims",
            dependencies: ["CLibgit2"]
        ),
        .target(
            name: "EnvAgentCore",
            dependencies: ["CLibgit2", "CSodium", "CAgentShims"]
        ),
        .executableTarget(
            name: "agent",
            dependencies: [
                "EnvAgentCore",
                .product(name: "Logging", package: "swift-log"),
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
            dependencies: ["agent", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
