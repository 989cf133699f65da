import Foundation
import os

/// Routes the Rust core's log records to the unified log (`os_log`, seen in Console.app), in
/// the subsystem `org.wardcrf`, category `core`, with the record's source (`wardcrf_core::sync`)
/// in front of its text. The core logs counts, durations, HTTP statuses and error kinds (a
/// sync's start and end, each exchange), never a case value, a name or a token: the text is
/// therefore logged as public.
///
/// Install it once, early: `OSLogSink.install()`.
public final class OSLogSink: LogSink, @unchecked Sendable {
    private let logger: Logger

    public init(subsystem: String = "org.wardcrf", category: String = "core") {
        logger = Logger(subsystem: subsystem, category: category)
    }

    public func log(level: LogLevel, target: String, message: String) {
        let text = "\(target): \(message)"
        switch level {
        case .error:
            logger.error("\(text, privacy: .public)")
        case .warn:
            logger.warning("\(text, privacy: .public)")
        case .info:
            logger.info("\(text, privacy: .public)")
        case .debug:
            logger.debug("\(text, privacy: .public)")
        case .trace:
            logger.trace("\(text, privacy: .public)")
        }
    }

    /// Sends the core's records up to `maxLevel` to the unified log; a later call replaces the
    /// level. Returns false when the process already has another log subscriber.
    @discardableResult
    public static func install(maxLevel: LogLevel = .info) -> Bool {
        do {
            try setLogSink(sink: OSLogSink(), maxLevel: maxLevel)
            return true
        } catch {
            return false
        }
    }
}
