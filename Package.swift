// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "voidoci",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "voidoci", targets: ["voidoci"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // The child stage (clone3 → execve) and thin wrappers for syscalls Glibc's module lacks.
        .target(name: "CVoid"),
        // libseccomp from Debian's libseccomp-dev, used by the parent to compile filters to BPF.
        .systemLibrary(name: "CSeccomp", providers: [.apt(["libseccomp-dev"])]),
        // The runtime-spec wire model: decoding and validation, no syscalls.
        .target(name: "OCIBundle"),
        // Spec → plan → execution; state; lifecycle operations.
        .target(
            name: "VoidEngine",
            dependencies: [
                "OCIBundle", "CVoid", "CSeccomp",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "voidoci",
            dependencies: [
                "VoidEngine", "OCIBundle",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "OCIBundleTests", dependencies: ["OCIBundle"], exclude: ["Fixtures"]),
        .testTarget(name: "VoidEngineTests", dependencies: ["VoidEngine", "OCIBundle", "CVoid"]),
        .testTarget(name: "IntegrationTests", dependencies: ["VoidEngine"], exclude: ["Golden"]),
    ]
)
