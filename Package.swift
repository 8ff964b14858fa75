// swift-tools-version:6.0
import PackageDescription

// The numbered SQL files of migrations/, compiled into the binary so that `keelson` works from any
// directory. Listed by hand (SwiftPM caches the manifest by its text, so a directory listing here
// would miss a new file); migrations/Migrations.swift lists them again in order, and a test checks
// both against the folder.
let migrationFiles = [
    "0001_events.sql",
    "0002_projections.sql",
    "0003_desired_state.sql",
    "0004_current_state.sql",
    "0005_leases.sql",
    "0006_instance_status.sql",
    "0007_timeline.sql",
    "0008_tokens.sql",
    "0009_structured_reasons.sql",
    "0010_engine_snapshots.sql",
    "0011_row_history.sql",
    "0012_archives.sql",
]

let package = Package(
    name: "Keelson",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "keelson", targets: ["keelson"]),
        .library(name: "KeelsonCore", targets: ["KeelsonCore"]),
        .library(name: "KeelsonStore", targets: ["KeelsonStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // Already a dependency of swift-subprocess; named here for its FileDescriptor and FilePath.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The state server (`keelson serve`) and the CLI as its client.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through Hummingbird; AsyncChannel gives the live stream back-pressure.
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        // Already in the graph through Hummingbird and AsyncHTTPClient; named because Keelson's own
        // code imports from them (channels and buffers, HTTP/1 client types, HTTP field types).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Already in the graph through AsyncHTTPClient: TLS settings of the Kubernetes client.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // Pure vocabulary, events and folds: Foundation only.
        .target(name: "KeelsonCore"),
        // The numbered SQL files of the top-level migrations/ folder, compiled into the binary.
        .target(
            name: "KeelsonMigrations",
            path: "migrations",
            exclude: ["README.md"],
            resources: migrationFiles.map { .embedInCode($0) }
        ),
        // YAML text → documents, bounded (aliases, nesting, size): config, manifests, kubeconfig.
        .target(name: "KeelsonYAML", dependencies: ["KeelsonCore", .product(name: "Yams", package: "Yams")]),
        // Config files → intent model → compiled desired states, with errors at file:line.
        .target(
            name: "KeelsonCompiler",
            dependencies: [
                "KeelsonCore",
                "KeelsonYAML",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The Runtime interface and its backends.
        .target(
            name: "KeelsonRuntimes",
            dependencies: [
                "KeelsonCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                // HTTP health checks (cancellable, unlike Foundation's URLSession on Linux).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                // The Kubernetes runtime: kubeconfig files, client certificates and CA bundles.
                "KeelsonYAML",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KeelsonStore",
            dependencies: [
                "KeelsonCore",
                "KeelsonMigrations",
                "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The system zlib: archive files keep event payloads deflated.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The worker: recording runtimes, the fetch/decide/apply loop, replay. It never parses a
        // config: whoever starts a worker says how a recorded config's runtimes are read.
        .target(
            name: "KeelsonEngine",
            dependencies: ["KeelsonCore", "KeelsonRuntimes", "KeelsonStore", .product(name: "Crypto", package: "swift-crypto")]),
        // What a request or a command does, once: apply config, release, signals, status, timeline,
        // explain, tokens. The server's routes and the CLI's `--db` mode both call it.
        .target(
            name: "KeelsonService",
            dependencies: [
                "KeelsonCore", "KeelsonCompiler", "KeelsonEngine", "KeelsonStore", "KeelsonRuntimes",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // `keelson serve`: the HTTP API (Hummingbird 2), the worker, metrics, graceful shutdown.
        .target(
            name: "KeelsonServer",
            dependencies: [
                "KeelsonCore", "KeelsonEngine", "KeelsonStore", "KeelsonService", "KeelsonRuntimes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The OpenAPI document and the web UI's files, compiled into the binary.
            resources: [.embedInCode("openapi.json"), .embedInCode("WebUI")]
        ),
        .executableTarget(
            name: "keelson",
            dependencies: [
                "KeelsonService",
                "KeelsonServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "KeelsonCore",
                "KeelsonCompiler",
                "KeelsonRuntimes",
                "KeelsonEngine",
                "KeelsonStore",
                "KeelsonMigrations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Benchmarks: run with `swift run -c release keelson-bench`.
        .executableTarget(
            name: "keelson-bench",
            dependencies: [
                "KeelsonCore",
                "KeelsonCompiler",
                "KeelsonRuntimes",
                "KeelsonEngine",
                "KeelsonService",
                "KeelsonStore",
                "KeelsonTestSupport",
                "KubeTestServer",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            path: "tools/bench"
        ),
        // Helpers the test targets and the benchmark share (not shipped).
        .target(name: "KeelsonTestSupport", path: "Tests/KeelsonTestSupport"),
        // A test Kubernetes API server (a fake: no real one can be installed where Keelson is built).
        .target(
            name: "KubeTestServer",
            dependencies: [
                "KeelsonCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/KubeTestServer"),
        .testTarget(name: "KeelsonCoreTests", dependencies: ["KeelsonCore", "KeelsonTestSupport"]),
        .testTarget(
            name: "KeelsonRuntimesTests", dependencies: ["KeelsonRuntimes", "KeelsonCore", "KeelsonTestSupport", "KubeTestServer"], exclude: ["Fixtures"]),
        .testTarget(
            name: "KeelsonEngineTests",
            dependencies: [
                "KeelsonEngine", "KeelsonService", "KeelsonCompiler", "KeelsonRuntimes", "KeelsonStore", "KeelsonCore", "KeelsonTestSupport",
                "KubeTestServer",
            ]),
        .testTarget(
            name: "KeelsonServiceTests",
            dependencies: ["KeelsonService", "KeelsonEngine", "KeelsonCompiler", "KeelsonRuntimes", "KeelsonStore", "KeelsonCore", "KeelsonTestSupport"]),
        .testTarget(
            name: "KeelsonCompilerTests", dependencies: ["KeelsonCompiler", "KeelsonCore", "KeelsonYAML", "KeelsonTestSupport"], exclude: ["Fixtures", "Golden"]),
        .testTarget(
            name: "KeelsonStoreTests",
            dependencies: [
                "KeelsonStore", "KeelsonCore", "KeelsonMigrations", "KeelsonTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "KeelsonServerTests",
            dependencies: [
                "KeelsonServer", "KeelsonService", "KeelsonStore", "KeelsonCore", "KeelsonEngine", "KeelsonTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "KeelsonCLITests",
            dependencies: ["keelson", "KeelsonCore", "KeelsonStore", "KeelsonTestSupport", "KubeTestServer"]
        ),
    ]
)
