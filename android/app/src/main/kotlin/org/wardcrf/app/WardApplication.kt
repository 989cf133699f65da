package org.wardcrf.app

import android.app.Application
import android.content.Context
import org.wardcrf.android.DeviceLock
import org.wardcrf.android.KeystoreKeyProvider
import org.wardcrf.android.LogcatLogSink
import org.wardcrf.store.RustCrfStore
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.Lang
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import org.wardcrf.app.sync.SyncScheduler
import org.wardcrf.app.sync.SyncStatusStore
import org.wardcrf.app.sync.WorkSyncRunner
import org.wardcrf.ui.sync.SyncRunner
import java.io.File

/**
 * Holds the one open case store of the app. It lives in `noBackupFilesDir` (never backed up:
 * its key is in this tablet's Keystore anyway) and is opened, or created on first start, with
 * the Keystore key provider; a staff member then signs in (see `WardApp`). The core's log
 * records (sync counts and durations) go to Logcat. It schedules the background sync
 * (WorkManager, see `sync/SyncScheduler`) and holds the runner the Sync screen follows.
 */
class WardApplication : Application() {
    /** Work that outlives every screen (following background syncs). */
    val appScope: CoroutineScope = CoroutineScope(SupervisorJob() + Dispatchers.Main.immediate)

    /** How the last sync ended (written by the worker, read by the Sync screen). */
    val syncStatus: SyncStatusStore by lazy { SyncStatusStore(this) }

    /** Syncs as WorkManager work: they go on when the Sync screen is left. */
    val syncRunner: SyncRunner by lazy { WorkSyncRunner(this, syncStatus, appScope) }

    override fun onCreate() {
        super.onCreate()
        LogcatLogSink.install()
        // The tablet syncs on its own: periodically, and whenever a network comes up.
        SyncScheduler.schedulePeriodic(this)
        SyncScheduler.watchConnectivity(this)
    }

    private val storeDir: File get() = File(noBackupFilesDir, "case-store")

    /** Whether a store was created on this tablet (a background sync never creates one). */
    fun storeExists(): Boolean = storeDir.isDirectory && !storeDir.list().isNullOrEmpty()

    @Volatile
    private var opened: CrfStore? = null

    /** Opens the store (blocking: call it off the main thread). Throws CrfError. */
    @Synchronized
    fun store(): CrfStore = opened ?: RustCrfStore.openOrCreate(
        storeDir.absolutePath,
        KeystoreKeyProvider(deviceSecure = { DeviceLock.isSecure(this) }),
    ).also { opened = it }

    /** Whether the tablet has the secure lock screen the store's key needs. */
    fun hasSecureLock(): Boolean = DeviceLock.isSecure(this)

    /** Drops the data key from memory (the app left the screen); a sign-in unlocks again. */
    fun lockStore() {
        opened?.lock()
    }
}

/** The language of labels, validation messages and the app's messages: the app's locale. */
fun Context.wardLang(): Lang = when (resources.configuration.locales[0].language) {
    "ja" -> Lang.JA
    "de" -> Lang.DE
    else -> Lang.EN
}
