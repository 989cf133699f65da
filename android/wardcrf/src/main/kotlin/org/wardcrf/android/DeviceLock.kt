package org.wardcrf.android

import android.app.KeyguardManager
import android.app.admin.DevicePolicyManager
import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.provider.Settings

/**
 * Whether the tablet has a secure lock screen, and where to set one up. The case store's key
 * is bound to an unlocked device (see [KeystoreKeyProvider]), which Android allows only with a
 * PIN, pattern or password: without one the app explains that instead of opening the store.
 */
object DeviceLock {
    /** True when a PIN, pattern or password locks the tablet (a swipe does not count). */
    fun isSecure(context: Context): Boolean =
        context.getSystemService(KeyguardManager::class.java)?.isDeviceSecure == true

    /**
     * Opens the system screen that sets a screen lock, or the security settings when a device
     * policy or vendor build does not offer it.
     */
    fun openSetup(context: Context) {
        try {
            context.startActivity(Intent(DevicePolicyManager.ACTION_SET_NEW_PASSWORD))
        } catch (e: ActivityNotFoundException) {
            context.startActivity(Intent(Settings.ACTION_SECURITY_SETTINGS))
        }
    }
}
