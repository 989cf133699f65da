import CryptoKit
import Foundation
@testable import WardCRF

/// A software AES-256-GCM key provider (the app uses `KeychainKeyProvider`), as in the Kotlin tests.
final class SoftwareKeyProvider: KeyProvider, @unchecked Sendable {
    let key: SymmetricKey

    init(key: SymmetricKey = SymmetricKey(size: .bits256)) {
        self.key = key
    }

    func kind() -> String { "software-aes-gcm" }

    func wrap(dataKey: Data) throws -> Data {
        try AES.GCM.seal(dataKey, using: key).combined!
    }

    func unwrap(wrapped: Data) throws -> Data {
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped), using: key)
        } catch {
            throw KeyProviderError.WrongKey
        }
    }
}

/// A real store (the Rust library) in its own temporary directory.
final class TempStore {
    let dir: URL
    let key = SoftwareKeyProvider()
    let store: WardStore

    init(_ name: String, user: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardcrf-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = WardStore(try CaseStore.create(dir: dir.path, key: key, user: user))
    }

    var ffi: CaseStore { store.ffi }

    deinit {
        try? FileManager.default.removeItem(at: dir)
    }
}

func field(_ id: String) -> FieldPath { FieldPath(field: id, group: nil, rowId: nil) }
