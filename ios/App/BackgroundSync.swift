// Background sync through BGTaskScheduler: a BGAppRefreshTask (short, frequent) and a
// BGProcessingTask that needs the network (longer, when iOS sees fit), both running the app's
// SyncCoordinator. Identifiers are in Info.plist (project.yml, BGTaskSchedulerPermittedIdentifiers).
import BackgroundTasks
import OSLog
import WardCRFUI

enum BackgroundSync {
    static let refreshTaskId = "org.wardcrf.app.sync.refresh"
    static let processingTaskId = "org.wardcrf.app.sync.processing"
    /// iOS decides when; this is the earliest it may.
    static let refreshInterval: TimeInterval = 15 * 60
    static let processingInterval: TimeInterval = 60 * 60

    private static let log = Logger(subsystem: "org.wardcrf", category: "background-sync")

    /// Registers both task handlers; must run before the app finishes launching (the App's
    /// init). `coordinator` gives the app's coordinator, opening the store if the system
    /// launched the app in the background for the task; nil: no store, nothing to do.
    static func register(coordinator: @escaping @MainActor () async -> SyncCoordinator?) {
        for id in [refreshTaskId, processingTaskId] {
            let registered = BGTaskScheduler.shared.register(forTaskWithIdentifier: id, using: nil) { task in
                BackgroundSync.run(task, coordinator: coordinator)
            }
            if !registered { log.error("background task \(id, privacy: .public) is not in Info.plist") }
        }
    }

    /// Asks iOS for the next runs (replacing earlier requests with the same identifiers).
    static func schedule() {
        let refresh = BGAppRefreshTaskRequest(identifier: refreshTaskId)
        refresh.earliestBeginDate = Date(timeIntervalSinceNow: refreshInterval)
        let processing = BGProcessingTaskRequest(identifier: processingTaskId)
        processing.requiresNetworkConnectivity = true
        processing.requiresExternalPower = false
        processing.earliestBeginDate = Date(timeIntervalSinceNow: processingInterval)
        for request in [refresh, processing] as [BGTaskRequest] {
            do {
                try BGTaskScheduler.shared.submit(request)
            } catch {
                // Simulator, Background App Refresh off, or too many pending requests.
                log.notice("background sync not scheduled: \(String(describing: error), privacy: .public)")
            }
        }
    }

    /// No more background syncs (the tablet was revoked or is not enrolled).
    static func cancel() {
        BGTaskScheduler.shared.cancelAllTaskRequests()
    }

    private static func run(_ task: BGTask, coordinator: @escaping @MainActor () async -> SyncCoordinator?) {
        let work = Task { @MainActor in
            guard let sync = await coordinator() else {
                task.setTaskCompleted(success: false)
                return
            }
            task.expirationHandler = {
                // Stops between exchanges; what was exchanged is kept.
                Task { @MainActor in sync.cancel() }
            }
            let outcome = await sync.sync(.background)
            BackgroundSync.log.info("background sync: \(String(describing: outcome), privacy: .public)")
            if outcome.reschedule { BackgroundSync.schedule() } else { BackgroundSync.cancel() }
            task.setTaskCompleted(success: outcome.succeeded || outcome == .skipped)
        }
        // Until the coordinator is there, expiry cancels the wait itself.
        task.expirationHandler = { work.cancel() }
    }
}
