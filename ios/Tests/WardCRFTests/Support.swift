import CryptoKit
import Foundation
import XCTest
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

/// A real wardcrf-server for the tests that enter data (a staff member must sign in, online the
/// first time): WARDCRF_TEST_SERVER_URL (e.g. http://127.0.0.1:8080; the simulator shares the
/// Mac's loopback) and WARDCRF_TEST_ADMIN_TOKEN (its `admin-token` file). Without them those
/// tests are skipped. Staff are added as clinicians of the site `ios-tests`.
final class TestRepository: @unchecked Sendable {
    static let site = "ios-tests"
    let url: String
    private let token: String
    private var staff = Set<String>()
    private let lock = NSLock()

    private init(url: String, token: String) throws {
        self.url = url
        self.token = token
        _ = try admin("POST", "/api/admin/sites", #"{"site_id": "\#(Self.site)", "name": "iOS tests"}"#, allow: [409])
    }

    private static var shared: TestRepository?

    static func get() throws -> TestRepository {
        if let shared { return shared }
        let env = ProcessInfo.processInfo.environment
        guard let url = env["WARDCRF_TEST_SERVER_URL"], let token = env["WARDCRF_TEST_ADMIN_TOKEN"] else {
            throw XCTSkip("set WARDCRF_TEST_SERVER_URL and WARDCRF_TEST_ADMIN_TOKEN: entering data needs a staff member signed in")
        }
        let repository = try TestRepository(url: url, token: token)
        shared = repository
        return repository
    }

    static func password(_ user: String) -> String { "correct horse \(user)" }

    /// Adds `user` as a clinician of the site unless already there.
    func staffMember(_ user: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard staff.insert(user).inserted else { return }
        let body = #"{"username": "\#(user)", "role": "clinician", "site_id": "\#(Self.site)", "password": "\#(Self.password(user))", "display_name": "Dr. \#(user)"}"#
        _ = try admin("POST", "/api/admin/staff", body, allow: [409])
    }

    /// A one-time enrolment code of the site.
    func enrolmentCode() throws -> String {
        let answer = try admin("POST", "/api/admin/enroll-codes", #"{"site_id": "\#(Self.site)"}"#)
        let object = try JSONSerialization.jsonObject(with: answer) as? [String: Any]
        guard let code = object?["code"] as? String else { throw URLError(.cannotParseResponse) }
        return code
    }

    private func admin(_ method: String, _ path: String, _ body: String, allow: Set<Int> = []) throws -> Data {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let done = DispatchSemaphore(value: 0)
        var result: Result<(Data, Int), Error> = .failure(URLError(.timedOut))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(error)
            } else {
                result = .success((data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 30)
        let (data, status) = try result.get()
        guard (200..<300).contains(status) || allow.contains(status) else {
            throw URLError(.badServerResponse)
        }
        return data
    }
}

/// A real store (the Rust library) in its own temporary directory. With a `user`, it is enrolled
/// at the test repository and that staff member signed in (skipped without a repository).
final class TempStore {
    let dir: URL
    let key = SoftwareKeyProvider()
    let store: WardStore

    init(_ name: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wardcrf-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = WardStore(try CaseStore.create(dir: dir.path, key: key))
    }

    convenience init(_ name: String, user: String) throws {
        let repository = try TestRepository.get()
        try self.init(name)
        _ = try ffi.enroll(serverUrl: repository.url, code: try repository.enrolmentCode(), caPem: nil)
        try signIn(user)
    }

    /// Signs `user` (a clinician of the test site) in with their password.
    func signIn(_ user: String) throws {
        try TestRepository.get().staffMember(user)
        _ = try ffi.signIn(user: user, password: TestRepository.password(user), caPem: nil)
    }

    var ffi: CaseStore { store.ffi }

    deinit {
        try? FileManager.default.removeItem(at: dir)
    }
}

func field(_ id: String) -> FieldPath { FieldPath(field: id, group: nil, rowId: nil) }
