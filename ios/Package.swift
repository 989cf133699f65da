// swift-tools-version:5.9
// WardCRF for iOS: the Rust core (an XCFramework built by build-xcframework.sh), the Swift that
// uniffi generates for it, a small idiomatic wrapper (async/await, Keychain key provider), and
// the UI-free view models of the SwiftUI app (App/, project.yml).
import PackageDescription

let package = Package(
    name: "WardCRF",
    defaultLocalization: "en",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "WardCRF", targets: ["WardCRF"]),
        .library(name: "WardCRFUI", targets: ["WardCRFUI"]),
    ],
    targets: [
        // libwardcrf_ffi.a for device and simulator, with WardCRFFFI.h and its module map.
        .binaryTarget(name: "WardCRFFFI", path: "build/WardCRFFFI.xcframework"),
        // Generated/WardCRF.swift (copied by build-xcframework.sh) + the wrapper.
        .target(
            name: "WardCRF",
            dependencies: ["WardCRFFFI"],
            path: "Sources/WardCRF",
            // The core's required-reason APIs (SQLite's file metadata, the monotonic clock) and
            // what it sends to the site's repository, for apps that link this package.
            resources: [.copy("PrivacyInfo.xcprivacy")],
            linkerSettings: [.linkedFramework("Security"), .linkedFramework("SystemConfiguration")]
        ),
        // View models and form state: the Swift counterpart of Android's :core-ui.
        .target(name: "WardCRFUI", dependencies: ["WardCRF"], path: "Sources/WardCRFUI"),
        .testTarget(name: "WardCRFTests", dependencies: ["WardCRF", "WardCRFUI"], path: "Tests/WardCRFTests"),
    ]
)
