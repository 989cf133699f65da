package org.wardcrf.app.sync

import android.content.Context
import android.content.SharedPreferences
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.sync.SyncOutcome
import org.wardcrf.ui.sync.SyncRecord

/**
 * The last sync attempt, kept across processes in the app's SharedPreferences (a
 * [SyncRecord]: counts, a failure's name, a time; no case value, no token): written by
 * [SyncWorker], read by the Sync screen through [WorkSyncRunner].
 */
class SyncStatusStore(context: Context) {
    private val prefs: SharedPreferences = context.getSharedPreferences("wardcrf-sync", Context.MODE_PRIVATE)
    private val _record = MutableStateFlow(read())
    val record: StateFlow<SyncRecord> = _record.asStateFlow()

    // Held here: SharedPreferences keeps only a weak reference to its listeners.
    private val listener = SharedPreferences.OnSharedPreferenceChangeListener { _, _ -> _record.value = read() }

    init {
        prefs.registerOnSharedPreferenceChangeListener(listener)
    }

    @Synchronized
    fun record(outcome: SyncOutcome, progress: SyncCounts?) {
        val next = read().after(outcome, progress, System.currentTimeMillis())
        prefs.edit().apply {
            SyncRecord.KEYS.forEach(::remove)
            next.encode().forEach { (key, value) ->
                when (value) {
                    is Int -> putInt(key, value)
                    is Long -> putLong(key, value)
                    is String -> putString(key, value)
                }
            }
        }.commit()
        _record.value = next
    }

    private fun read(): SyncRecord = SyncRecord.decode(prefs.all)
}
