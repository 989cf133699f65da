package org.wardcrf.android

import android.util.Log
import org.wardcrf.LogLevel
import org.wardcrf.LogSetupException
import org.wardcrf.LogSink
import org.wardcrf.setLogSink

/**
 * Routes the Rust core's log records to Logcat, under the tag [TAG] with the record's source
 * (`wardcrf_core::sync`) in front of its text. The core logs counts, durations, HTTP statuses
 * and error kinds (a sync's start and end, each exchange): never a case value, a name or a token.
 *
 * Install it once, early (`Application.onCreate`): `LogcatLogSink.install()`.
 */
class LogcatLogSink(private val tag: String = TAG) : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, tag, "$target: $message")
    }

    companion object {
        const val TAG = "WardCRF"

        /**
         * Sends the core's records up to [maxLevel] to Logcat; a later call replaces the level.
         * Returns false when the process already has another log subscriber (nothing changes).
         */
        fun install(maxLevel: LogLevel = LogLevel.INFO): Boolean = try {
            setLogSink(LogcatLogSink(), maxLevel)
            true
        } catch (e: LogSetupException) {
            false
        }
    }
}
