import CryptoKit
import Foundation
import Security

/// Wraps the case store's random data key with an AES-256-GCM key kept in this device's
/// Keychain (`WhenUnlockedThisDeviceOnly`: never in backups, never on another device, usable
/// only while the device is unlocked). The store keeps only the wrapped data key.
///
/// Wrapped form: CryptoKit's combined box, 12-byte nonce + ciphertext + 16-byte tag. The key is
/// created on the first `wrap` (store creation); `unwrap` never creates one, so a missing key is
/// reported as unavailable rather than replaced by a key that cannot open the store.
public final class KeychainKeyProvider: KeyProvider, @unchecked Sendable {
    public static let defaultAccount = "wardcrf-store-key"
    private let service = "org.wardcrf.store"
    private let account: String

    public init(account: String = KeychainKeyProvider.defaultAccount) {
        self.account = account
    }

    public func kind() -> String { "ios-keychain" }

    public func wrap(dataKey: Data) throws -> Data {
        let key = try existingKey() ?? createKey()
        do {
            guard let combined = try AES.GCM.seal(dataKey, using: key).combined else {
                throw KeyProviderError.Unavailable(reason: "AES-GCM gave no combined box")
            }
            return combined
        } catch let error as KeyProviderError {
            throw error
        } catch {
            throw KeyProviderError.Unavailable(reason: "CryptoKit could not seal the key")
        }
    }

    public func unwrap(wrapped: Data) throws -> Data {
        guard let key = try existingKey() else {
            throw KeyProviderError.Unavailable(reason: "the Keychain key of this store is missing")
        }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped), using: key)
        } catch CryptoKitError.authenticationFailure {
            throw KeyProviderError.WrongKey
        } catch {
            throw KeyProviderError.WrongKey
        }
    }

    /// Deletes the Keychain key (the store it wrapped can no longer be opened).
    public func deleteKey() {
        SecItemDelete(baseQuery() as CFDictionary)
    }

    private func baseQuery() -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }

    private func existingKey() throws -> SymmetricKey? {
        var query = baseQuery()
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            guard let data = item as? Data else { return nil }
            return SymmetricKey(data: data)
        case errSecItemNotFound:
            return nil
        case errSecInteractionNotAllowed:
            throw KeyProviderError.Unavailable(reason: "unlock the device first")
        default:
            throw KeyProviderError.Unavailable(reason: "Keychain status \(status)")
        }
    }

    private func createKey() throws -> SymmetricKey {
        let key = SymmetricKey(size: .bits256)
        var attributes = baseQuery()
        attributes[kSecAttrAccessible as String] = kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        attributes[kSecValueData as String] = key.withUnsafeBytes { Data($0) }
        let status = SecItemAdd(attributes as CFDictionary, nil)
        guard status == errSecSuccess else {
            throw KeyProviderError.Unavailable(reason: "Keychain status \(status)")
        }
        return key
    }
}
