package org.wardcrf.ui.sync

import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult

/**
 * The last sync attempt as the app keeps it between processes (Android: SharedPreferences,
 * written by the background worker, read by the Sync screen): counts, the failure's name and
 * the time. No value of a case, no server text, no token.
 */
data class SyncRecord(
    val last: SyncOutcome?,
    /** Counts after the attempt's last exchange. */
    val progress: SyncCounts?,
    /** Attempts recorded so far. */
    val finished: Int,
    /** When the last attempt ended (ms since the epoch), 0 before the first. */
    val at: Long,
) {
    /** The record as flat key/values (ints, longs and strings only). */
    fun encode(): Map<String, Any> = buildMap {
        put(FINISHED, finished)
        put(AT, at)
        progress?.let {
            put(PROGRESS_PUSHED, it.pushed)
            put(PROGRESS_PULLED, it.pulled)
            put(PROGRESS_REMAINING, it.remaining)
        }
        when (last) {
            null -> {}
            is SyncOutcome.Synced -> {
                put(OUTCOME, SYNCED)
                put(PUSHED, last.result.pushed)
                put(PULLED, last.result.pulled)
                put(CONFLICTS, last.result.conflicts)
                put(EXCHANGES, last.result.exchanges)
            }
            is SyncOutcome.Failed -> put(OUTCOME, last.failure.name)
        }
    }

    /** The record after [outcome], at [now]. */
    fun after(outcome: SyncOutcome, progress: SyncCounts?, now: Long) =
        SyncRecord(outcome, progress, finished + 1, now)

    companion object {
        val NONE = SyncRecord(null, null, 0, 0)

        /** Every key [encode] may write (to clear them all). */
        val KEYS = listOf(
            "sync.finished", "sync.at", "sync.outcome", "sync.pushed", "sync.pulled", "sync.conflicts",
            "sync.exchanges", "sync.progress.pushed", "sync.progress.pulled", "sync.progress.remaining",
        )
        private val FINISHED = KEYS[0]
        private val AT = KEYS[1]
        private val OUTCOME = KEYS[2]
        private val PUSHED = KEYS[3]
        private val PULLED = KEYS[4]
        private val CONFLICTS = KEYS[5]
        private val EXCHANGES = KEYS[6]
        private val PROGRESS_PUSHED = KEYS[7]
        private val PROGRESS_PULLED = KEYS[8]
        private val PROGRESS_REMAINING = KEYS[9]
        private const val SYNCED = "SYNCED"

        /** Reads what [encode] wrote; an unknown or damaged entry reads as no outcome. */
        fun decode(values: Map<String, *>): SyncRecord {
            fun int(key: String) = (values[key] as? Number)?.toInt()
            val outcome = when (val name = values[OUTCOME] as? String) {
                null -> null
                SYNCED -> SyncOutcome.Synced(
                    SyncResult(int(PUSHED) ?: 0, int(PULLED) ?: 0, int(CONFLICTS) ?: 0, int(EXCHANGES) ?: 0),
                )
                else -> SyncFailure.entries.firstOrNull { it.name == name }?.let { SyncOutcome.Failed(it) }
            }
            val pushed = int(PROGRESS_PUSHED)
            val progress = pushed?.let { SyncCounts(it, int(PROGRESS_PULLED) ?: 0, int(PROGRESS_REMAINING) ?: 0) }
            return SyncRecord(outcome, progress, int(FINISHED) ?: 0, (values[AT] as? Number)?.toLong() ?: 0)
        }
    }
}
