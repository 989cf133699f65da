package org.wardcrf.ui.test

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.wardcrf.ui.staff.PinModel
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** The "Set PIN" dialog driven through [PinModel] against the real library. */
class PinTest {
    @Test
    fun `setting a PIN checks both entries and the password, then the PIN unlocks`(): Unit = runBlocking {
        TempStore("pin", "dr-pin").use { t ->
            val model = PinModel(t.crf, Lang.EN, this, Dispatchers.IO)
            val password = passwordOf("dr-pin")

            // Refused before the store is called: two different PINs, a PIN too short, not digits.
            model.setPin(password, "2468", "2469").join()
            assertEquals(MessageKey.PIN_MISMATCH, model.state.value.message?.key)
            assertTrue(model.state.value.message!!.isError)
            assertFalse(model.state.value.done, "the dialog stays for another try")
            model.setPin(password, "246", "246").join()
            assertEquals(MessageKey.BAD_PIN, model.state.value.message?.key)
            model.setPin(password, "24a8", "24a8").join()
            assertEquals(MessageKey.BAD_PIN, model.state.value.message?.key)
            // The store refuses such a PIN too.
            assertFailsWith<CrfError.BadPin> { t.crf.setPin(password, "246") }

            // The wrong password: refused by the store, shown, nothing set.
            model.setPin("not my password", "2468", "2468").join()
            assertEquals(MessageKey.WRONG_CREDENTIAL, model.state.value.message?.key)
            assertFalse(model.state.value.done)
            assertFalse(model.state.value.busy)
            t.crf.lock()
            assertFailsWith<CrfError.NoPin> { t.crf.unlockWithPin("dr-pin", "2468") }
            t.signIn()

            // Both entries equal, the right password: set; the PIN unlocks the locked tablet.
            model.open()
            model.setPin(password, "2468", "2468").join()
            assertEquals(MessageKey.PIN_SET, model.state.value.message?.key)
            assertFalse(model.state.value.message!!.isError)
            assertTrue(model.state.value.done)
            t.crf.lock()
            assertNull(t.crf.currentUser)
            assertEquals("dr-pin", t.crf.unlockWithPin("dr-pin", "2468").id)

            // Removed: from now on the password.
            model.removePin().join()
            assertEquals(MessageKey.PIN_REMOVED, model.state.value.message?.key)
            assertTrue(model.state.value.done)
            t.crf.lock()
            assertFailsWith<CrfError.NoPin> { t.crf.unlockWithPin("dr-pin", "2468") }
        }
    }

    @Test
    fun `PIN messages in Japanese and German, and the PIN field only for staff who signed in here`(): Unit = runBlocking {
        TempStore("pin-offer", "dr-here").use { t ->
            val ja = PinModel(t.crf, Lang.JA, this, Dispatchers.IO)
            ja.setPin(passwordOf("dr-here"), "1357", "1358").join()
            assertContains(ja.state.value.message!!.text, "一致しません")
            val de = PinModel(t.crf, Lang.DE, this, Dispatchers.IO)
            de.setPin(passwordOf("dr-here"), "12", "12").join()
            assertContains(de.state.value.message!!.text, "4 bis 12 Ziffern")

            t.crf.lock()
            // Who signed in here can be read while the tablet is locked (the sign-in screen).
            val local = t.crf.localStaff()
            assertTrue(PinModel.offersPin("dr-here", local))
            assertFalse(PinModel.offersPin("dr-elsewhere", local), "no password sign-in here: no PIN")
            assertTrue(PinModel.offersPin("dr-elsewhere", null), "unknown: offered, NoPin says what to do")
        }
    }
}
