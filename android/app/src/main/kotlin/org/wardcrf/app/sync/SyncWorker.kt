package org.wardcrf.app.sync

import android.app.NotificationChannel
import android.app.NotificationManager
import android.content.Context
import android.content.pm.ServiceInfo
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.work.CoroutineWorker
import androidx.work.Data
import androidx.work.ForegroundInfo
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.app.R
import org.wardcrf.app.WardApplication
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.sync.SyncAction
import org.wardcrf.ui.sync.SyncJob
import org.wardcrf.ui.sync.SyncOutcome
import org.wardcrf.ui.sync.SyncPolicy
import java.util.concurrent.atomic.AtomicReference

/**
 * One sync with the repository, run by WorkManager (periodically, on connectivity, on "sync
 * now" and after a sign-in: see [SyncScheduler]). What happens after a failure is
 * [SyncPolicy]'s: a network failure is retried with exponential back-off, a locked store waits
 * for the next sign-in (which starts a sync at once), a revoked or unenrolled tablet stops.
 * Progress after each exchange is published as the work's progress; the outcome is recorded
 * in [SyncStatusStore] for the Sync screen. Counts only: no case value leaves the store here.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as WardApplication
        // Nothing to sync before the first start made a store (a worker never creates one).
        if (!app.storeExists()) return Result.success()
        val store = try {
            withContext(Dispatchers.IO) { app.store() }
        } catch (e: Exception) {
            return finish(app, SyncOutcome.Failed(SyncPolicy.failureOf(e)), null)
        }

        val signal = CancelSignal()
        var progress: SyncCounts? = null
        val outcome = coroutineScope {
            // WorkManager stopping the work (constraints lost, cancelled) stops the sync
            // between two exchanges; so does the Sync screen's cancel button (through [running]).
            val watcher = launch {
                try {
                    awaitCancellation()
                } finally {
                    signal.cancel()
                }
            }
            running.set(signal)
            try {
                withContext(Dispatchers.IO) {
                    SyncJob.run(store, signal) { p ->
                        progress = p
                        setProgressAsync(p.toData())
                    }
                }
            } finally {
                running.compareAndSet(signal, null)
                watcher.cancel()
            }
        }
        return finish(app, outcome, progress)
    }

    private fun finish(app: WardApplication, outcome: SyncOutcome, progress: SyncCounts?): Result {
        app.syncStatus.record(outcome, progress)
        return when (outcome) {
            is SyncOutcome.Synced -> Result.success()
            is SyncOutcome.Failed -> when (outcome.action) {
                SyncAction.RETRY_WITH_BACKOFF, SyncAction.WAIT_FOR_SIGN_IN -> Result.retry()
                SyncAction.STOP -> Result.failure(workDataOf(KEY_FAILURE to outcome.failure.name))
            }
        }
    }

    /** An expedited sync on Android 11 and older runs as a short foreground service. */
    override suspend fun getForegroundInfo(): ForegroundInfo {
        val manager = applicationContext.getSystemService(NotificationManager::class.java)
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.O) {
            manager.createNotificationChannel(
                NotificationChannel(
                    CHANNEL,
                    applicationContext.getString(R.string.sync_channel),
                    NotificationManager.IMPORTANCE_LOW,
                ),
            )
        }
        val notification = NotificationCompat.Builder(applicationContext, CHANNEL)
            .setSmallIcon(android.R.drawable.stat_notify_sync)
            .setContentTitle(applicationContext.getString(R.string.sync_running))
            .setOngoing(true)
            .setSilent(true)
            .build()
        return if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            ForegroundInfo(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC)
        } else {
            ForegroundInfo(NOTIFICATION_ID, notification)
        }
    }

    companion object {
        const val KEY_FAILURE = "failure"
        private const val KEY_PUSHED = "pushed"
        private const val KEY_PULLED = "pulled"
        private const val KEY_REMAINING = "remaining"
        private const val CHANNEL = "sync"
        private const val NOTIFICATION_ID = 1001

        /** The cancel signal of the sync running in this process, if any. */
        private val running = AtomicReference<CancelSignal?>(null)

        /** Stops the sync running in this process after the exchange in flight. */
        fun cancelRunning(): Boolean = running.get()?.let { it.cancel(); true } ?: false

        fun SyncCounts.toData(): Data =
            workDataOf(KEY_PUSHED to pushed, KEY_PULLED to pulled, KEY_REMAINING to remaining)

        /** The progress a running worker published, or null before its first exchange. */
        fun Data.toCounts(): SyncCounts? =
            if (keyValueMap.containsKey(KEY_PUSHED)) {
                SyncCounts(getInt(KEY_PUSHED, 0), getInt(KEY_PULLED, 0), getInt(KEY_REMAINING, 0))
            } else {
                null
            }
    }
}
