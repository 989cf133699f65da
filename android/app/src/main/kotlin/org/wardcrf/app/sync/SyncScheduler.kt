package org.wardcrf.app.sync

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.OutOfQuotaPolicy
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import java.util.concurrent.TimeUnit

/**
 * When the tablet syncs on its own: every 15 minutes while connected and the battery is not
 * low, once at once when a network comes up, on "sync now", and right after a sign-in. Every
 * request backs off exponentially from 30 s when [SyncWorker] asks to retry.
 */
object SyncScheduler {
    /** The periodic sync. */
    const val PERIODIC = "wardcrf-sync-periodic"

    /** The one-off sync (sync now, sign-in, network back): one at a time. */
    const val NOW = "wardcrf-sync-now"

    private const val BACKOFF_SECONDS = 30L

    private val connected: Constraints
        get() = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

    /** Schedules the periodic sync (kept as it is when already scheduled). */
    fun schedulePeriodic(context: Context) {
        val request = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
            .setConstraints(
                Constraints.Builder()
                    .setRequiredNetworkType(NetworkType.CONNECTED)
                    .setRequiresBatteryNotLow(true)
                    .build(),
            )
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, BACKOFF_SECONDS, TimeUnit.SECONDS)
            .build()
        WorkManager.getInstance(context).enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, request)
    }

    /**
     * A sync as soon as there is a network, expedited (a normal one when the app's expedited
     * quota is spent). [policy]: REPLACE starts over a request waiting in back-off (sign-in,
     * "sync now"); KEEP leaves a pending or running one alone (network back).
     */
    fun syncNow(context: Context, policy: ExistingWorkPolicy = ExistingWorkPolicy.REPLACE) {
        val request = OneTimeWorkRequestBuilder<SyncWorker>()
            .setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST)
            .setConstraints(connected)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, BACKOFF_SECONDS, TimeUnit.SECONDS)
            .build()
        WorkManager.getInstance(context).enqueueUniqueWork(NOW, policy, request)
    }

    /**
     * A sync whenever the default network comes (back) up while the app process lives: ward
     * Wi-Fi regained after a round. Android calls it once at registration when a network is
     * up, which syncs at start as well.
     */
    fun watchConnectivity(context: Context) {
        val app = context.applicationContext
        app.getSystemService(ConnectivityManager::class.java).registerDefaultNetworkCallback(
            object : ConnectivityManager.NetworkCallback() {
                override fun onAvailable(network: Network) = syncNow(app, ExistingWorkPolicy.KEEP)
            },
        )
    }
}
