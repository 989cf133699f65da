package org.wardcrf.app

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.wardcrf.android.DeviceLock

/** The secure-lock check the app makes before it opens the store agrees with the system. */
@RunWith(AndroidJUnit4::class)
class ScreenLockTest {
    @Test
    fun theAppSeesTheSystemsScreenLock() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val keyguard = context.getSystemService(android.app.KeyguardManager::class.java)
        assertEquals(keyguard.isDeviceSecure, DeviceLock.isSecure(context))
        assertEquals(keyguard.isDeviceSecure, (context.applicationContext as WardApplication).hasSecureLock())
    }
}
