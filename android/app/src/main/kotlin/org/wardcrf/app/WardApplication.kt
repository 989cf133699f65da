package org.wardcrf.app

import android.app.Application
import android.content.Context
import org.wardcrf.android.DeviceLock
import org.wardcrf.android.KeystoreKeyProvider
import org.wardcrf.android.LogcatLogSink
import org.wardcrf.store.RustCrfStore
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.Lang
import java.io.File

/**
 * Holds the one open case store of the app. It lives in `noBackupFilesDir` (never backed up:
 * its key is in this tablet's Keystore anyway) and is opened, or created on first start, with
 * the Keystore key provider; a staff member then signs in (see `WardApp`). The core's log
 * records (sync counts and durations) go to Logcat.
 */
class WardApplication : Application() {
    override fun onCreate() {
        super.onCreate()
        LogcatLogSink.install()
    }

    @Volatile
    private var opened: CrfStore? = null

    /** Opens the store (blocking: call it off the main thread). Throws CrfError. */
    @Synchronized
    fun store(): CrfStore = opened ?: RustCrfStore.openOrCreate(
        File(noBackupFilesDir, "case-store").absolutePath,
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
