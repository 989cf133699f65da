// The app's sync coordinator against the real library: automatic triggers on a locked store
// do nothing, a refusal stops them until enrolment, a sync outlives the task (the screen) that
// started it, and an automatic trigger right after a sync is skipped.
import XCTest
@testable import WardCRF
@testable import WardCRFUI

@MainActor
final class SyncCoordinatorTests: XCTestCase {
    private func defaults() -> UserDefaults {
        let name = "wardcrf-tests-\(UUID().uuidString)"
        let defaults = UserDefaults(suiteName: name)!
        addTeardownBlock { defaults.removePersistentDomain(forName: name) }
        return defaults
    }

    func testAutomaticTriggersWaitForASignInAndStopAfterARefusal() async throws {
        let t = try TempStore("auto")
        let sync = SyncCoordinator(store: t.store, lang: .en, defaults: defaults())
        var outcomes: [SyncOutcome] = []
        sync.onOutcome = { outcomes.append($0) }

        // Nobody signed in: not even tried, nothing shown.
        let locked = await sync.sync(.foreground)
        XCTAssertEqual(locked, .locked)
        XCTAssertTrue(locked.reschedule)
        XCTAssertEqual(sync.phase, .idle)
        XCTAssertNil(sync.message)

        // The clinician's sync runs and says what is wrong; the refusal stops automatic syncs.
        let refused = await sync.sync(.user)
        XCTAssertEqual(refused, .stopped)
        XCTAssertFalse(refused.reschedule)
        XCTAssertEqual(sync.message?.key, .notEnrolled)
        XCTAssertTrue(sync.needsEnrolment)
        XCTAssertEqual(outcomes, [.stopped])
        let skipped = await sync.sync(.background)
        XCTAssertEqual(skipped, .skipped)
        XCTAssertEqual(outcomes, [.stopped], "a skipped trigger reports nothing")
    }

    func testASyncOutlivesTheTaskThatStartedItAndAnEarlyTriggerIsSkipped() async throws {
        let t = try TempStore("outlives", user: "dr-ito")
        _ = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let sync = SyncCoordinator(store: t.store, lang: .en, defaults: defaults())
        let list = CaseListViewModel(store: t.store, lang: .en)
        await list.refresh()
        XCTAssertEqual(list.pendingSync, 1)
        XCTAssertEqual(list.rows.map(\.pendingSync), [true])

        // The Sync screen's task goes away (the screen was left): the sync does not.
        let screen = Task { await sync.sync(.user) }
        screen.cancel()
        let outcome = await screen.value
        guard case let .synced(summary) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(summary.pushed, 1)
        XCTAssertEqual(sync.phase, .done)
        XCTAssertNotNil(sync.lastSynced)

        await list.refresh()
        XCTAssertEqual(list.pendingSync, 0)
        XCTAssertEqual(list.rows.map(\.pendingSync), [false])

        let early = await sync.sync(.foreground)
        XCTAssertEqual(early, .skipped)

        // Locked (the app went to the background): a background task does not sync.
        let later = SyncCoordinator(store: t.store, lang: .en, defaults: defaults(), minimumInterval: 0)
        t.store.lock()
        let locked = await later.sync(.background)
        XCTAssertEqual(locked, .locked)
    }

    func testTwoTriggersShareOneSync() async throws {
        let t = try TempStore("join", user: "dr-ono")
        _ = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let sync = SyncCoordinator(store: t.store, lang: .en, defaults: defaults(), minimumInterval: 0)
        var outcomes: [SyncOutcome] = []
        sync.onOutcome = { outcomes.append($0) }
        async let first = sync.sync(.user)
        async let second = sync.sync(.user)
        let (a, b) = await (first, second)
        XCTAssertEqual(a, b)
        XCTAssertEqual(outcomes.count, 1, "one sync ran")
    }
}
