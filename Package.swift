// swift-tools-version:6.1
import PackageDescription

let grdb = Target.Dependency.product(name: "GRDB", package: "GRDB.swift")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let bcrypt = Target.Dependency.product(name: "HummingbirdBcrypt", package: "hummingbird-auth")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let metrics: [Target.Dependency] = [.product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus")]
let nio: [Target.Dependency] = [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                               .product(name: "NIOSSL", package: "swift-nio-ssl")]

let package = Package(
    name: "WardFleet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wardfleet", targets: ["wardfleet"]),
        .executable(name: "firmware-sim", targets: ["firmware-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libmosquitto from the system (Debian: libmosquitto-dev).
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // epoll and eventfd (Linux), for the shared MQTT network loop.
        .systemLibrary(name: "CEventLoop"),
        // zlib (Debian: zlib1g-dev), for the console's files sent gzip-compressed.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // MQTT client over libmosquitto, exposed with Swift concurrency.
        .target(name: "MQTTClient", dependencies: ["CMosquitto", "CEventLoop", logging]),
        // Pure domain: places, devices, health, uptime, storage math, kiosk figures. No I/O.
        .target(name: "WardDomain"),
        // Protocol v1: topics, message types, strict decoding and encoding. No I/O.
        .target(name: "WardProtocol", dependencies: ["WardDomain", crypto]),
        // Clocks for processes: the system's, or one shifted by a file that tests move.
        .target(name: "WardClock", dependencies: ["WardDomain"]),
        // An HTTP(S) audio stream opened and read as it comes (relays: speakers play them, the controller checks them).
        .target(name: "HTTPStream"),
        // SIGINT/SIGTERM for the executables, without libdispatch signal sources.
        .target(name: "ProcessSignals"),
        // Places/devices files (YAML, CSV) -> domain values.
        .target(name: "FleetFile", dependencies: ["WardDomain", yams]),
        // Storage behind narrow repository types: SQLite (GRDB, the embedded default) or PostgreSQL (postgres-nio).
        .target(name: "WardStorage", dependencies: ["WardDomain", grdb, postgres, logging] + nio),
        // The controller service: ingest pipeline, health tracking, persistence wiring.
        .target(
            name: "WardController",
            dependencies: ["WardDomain", "WardProtocol", "WardStorage", "MQTTClient", "FleetFile", "WardClock", "HTTPStream",
                           logging, crypto] + metrics
        ),
        // HTTP: media for devices now; the operators' API and console later.
        .target(name: "WardHTTP", dependencies: ["WardController", "WardStorage", "FleetFile", "WardDomain", "WardProtocol", "CZlib", hummingbird, httpTypes, logging,
                                             bcrypt, crypto, grdb],
                resources: [.copy("Console")]),
        .executableTarget(
            name: "wardfleet",
            dependencies: ["WardController", "WardHTTP", "FleetFile", "WardClock", "ProcessSignals", argumentParser, logging, grdb],
            // The demo commune, built into the binary so `wardfleet demo` runs from any folder. A link to
            // deploy/sample-commune.yaml, which stays the one copy.
            resources: [.embedInCode("sample-commune.yaml")]
        ),
        .executableTarget(
            name: "firmware-sim",
            dependencies: ["WardDomain", "WardProtocol", "MQTTClient", "FleetFile", "WardClock", "ProcessSignals", "HTTPStream",
                           argumentParser, logging, crypto],
            path: "firmware-sim"
        ),
        .testTarget(name: "WardDomainTests", dependencies: ["WardDomain"]),
        .testTarget(name: "WardProtocolTests", dependencies: ["WardProtocol", "WardDomain"]),
        .testTarget(name: "WardStorageTests", dependencies: ["WardStorage", "WardDomain", "FleetFile", grdb]),
        .testTarget(
            name: "WardControllerTests",
            dependencies: ["WardController", "WardHTTP", "WardStorage", "WardDomain", "WardProtocol", "MQTTClient", hummingbird, httpTypes,
                           .product(name: "HummingbirdTesting", package: "hummingbird"), yams, grdb]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["WardController", "WardHTTP", "WardStorage", "WardDomain", "WardProtocol", "MQTTClient", "WardClock", hummingbird, httpTypes,
                           grdb]
        ),
    ],
    swiftLanguageModes: [.v6]
)
