package org.wardcrf.app.sync

import android.content.Context
import androidx.work.WorkInfo
import androidx.work.WorkManager
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.launch
import org.wardcrf.app.sync.SyncWorker.Companion.toCounts
import org.wardcrf.ui.sync.RunState
import org.wardcrf.ui.sync.SyncRun
import org.wardcrf.ui.sync.SyncRunner

/**
 * The app's [SyncRunner]: syncs are WorkManager work ([SyncWorker]), so they go on when the
 * Sync screen is left; the screen follows them through their WorkInfo (running, progress,
 * waiting for a retry) and [SyncStatusStore] (how the last attempt ended). [scope] is the
 * application's.
 */
class WorkSyncRunner(
    private val context: Context,
    status: SyncStatusStore,
    scope: CoroutineScope,
) : SyncRunner {
    private val work = WorkManager.getInstance(context)
    private val cancelling = MutableStateFlow(false)
    private val _run = MutableStateFlow(status.record.value.let { SyncRun(RunState.IDLE, it.progress, it.last, it.finished) })
    override val run: StateFlow<SyncRun> = _run.asStateFlow()

    init {
        scope.launch {
            combine(
                work.getWorkInfosForUniqueWorkFlow(SyncScheduler.NOW),
                work.getWorkInfosForUniqueWorkFlow(SyncScheduler.PERIODIC),
                status.record,
                cancelling,
            ) { now, periodic, record, stopping ->
                val running = (now + periodic).firstOrNull { it.state == WorkInfo.State.RUNNING }
                val state = when {
                    running != null && stopping -> RunState.CANCELLING
                    running != null -> RunState.RUNNING
                    // Waiting for a network, for its back-off, or for a sign-in.
                    now.any { it.state == WorkInfo.State.ENQUEUED } -> RunState.WAITING_TO_RETRY
                    else -> RunState.IDLE
                }
                val progress = if (running != null) running.progress.toCounts() else record.progress
                SyncRun(state, progress, record.last, record.finished)
            }.collect { r ->
                if (r.state != RunState.RUNNING && r.state != RunState.CANCELLING) cancelling.value = false
                _run.value = r
            }
        }
    }

    override fun start() {
        val now = _run.value.state
        if (now == RunState.RUNNING || now == RunState.CANCELLING) return
        SyncScheduler.syncNow(context)
    }

    override fun cancel() {
        if (_run.value.state != RunState.RUNNING) return
        if (SyncWorker.cancelRunning()) cancelling.value = true
    }
}
