package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.CaseStatus
import org.wardcrf.CaseStore
import org.wardcrf.Language
import org.wardcrf.StaffRole
import org.wardcrf.WardcrfException
import java.io.File
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Staff on the tablet through the generated bindings, against a real wardcrf-server: online
 * first sign-in, offline sign-in, PINs, locking, deactivation and electronic signatures.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StaffTest {
    private val server = RepositoryServer()
    private val ward = Ward(server, "jp-kyoto-03")

    @AfterAll
    fun stop() {
        server.close()
    }

    /** Every value of a complete icrown-core case (the core's fixture), entered one by one. */
    private fun fillComplete(store: CaseStore, case: String) {
        val fixture = File(System.getProperty("user.dir"), "core/tests/fixtures/complete-case.json")
        val entry = Regex("""^\s*"(\w+)":\s*(.+?),?\s*$""")
        for (line in fixture.readLines()) {
            val (id, json) = entry.find(line)?.destructured ?: continue
            store.setValue(case, field(id), json)
        }
    }

    @Test
    fun `a first sign-in is online, later ones offline, and a wrong password writes nothing`() {
        ward.enroll(TestStore("password")).use { t ->
            assertNull(t.store.currentUser())
            assertFailsWith<WardcrfException.NotSignedIn> { t.store.createCase("icrown-core") }
            ward.staffMember("dr-ito")
            // Online: the repository refuses a wrong password (typed); nothing is kept for the person.
            assertFailsWith<WardcrfException.WrongCredential> { t.store.signIn("dr-ito", "not her password") }
            assertTrue(t.store.localStaff().isEmpty())
            val user = t.store.signIn("dr-ito", passwordOf("dr-ito"))
            assertEquals("dr-ito", user.id)
            assertEquals(nameOf("dr-ito"), user.displayName)
            assertEquals(StaffRole.CLINICIAN, user.role)
            assertEquals(listOf("dr-ito"), t.store.localStaff())
            val case = t.store.createCase("icrown-core")

            t.store.signOut()
            assertNull(t.store.currentUser())
            assertFalse(t.store.isUnlocked())
            // Offline now (the person has a wrap on this device): a wrong password is refused.
            assertFailsWith<WardcrfException.WrongCredential> { t.store.signIn("dr-ito", "not her password") }
            assertFailsWith<WardcrfException.Locked> { t.store.history(case) }
            assertNull(t.store.currentUser())
            t.store.signIn("dr-ito", passwordOf("dr-ito"))
            val history = t.store.history(case)
            assertEquals(listOf("create"), history.map { it.op })
            assertEquals("dr-ito", history.single().user)
            assertEquals(nameOf("dr-ito"), history.single().userName)
        }
    }

    @Test
    fun `a PIN unlocks after a password sign-in and five wrong PINs end it`() {
        ward.store("pin", "nurse-mori").use { t ->
            val case = t.store.createCase("icrown-core")
            assertFailsWith<WardcrfException.WrongCredential> { t.store.setPin("not my password", "2468") }
            assertFailsWith<WardcrfException.BadPin> { t.store.setPin(passwordOf("nurse-mori"), "12") }
            t.store.setPin(passwordOf("nurse-mori"), "2468")
            t.store.lock()
            assertFailsWith<WardcrfException.WrongCredential> { t.store.unlockWithPin("nurse-mori", "1357") }
            assertEquals("nurse-mori", t.store.unlockWithPin("nurse-mori", "2468").id)
            assertEquals(1, t.store.history(case).size, "the wrong PIN wrote nothing")

            t.store.lock()
            repeat(4) {
                assertFailsWith<WardcrfException.WrongCredential> { t.store.unlockWithPin("nurse-mori", "0000") }
            }
            val locked = assertFailsWith<WardcrfException.PinLocked> { t.store.unlockWithPin("nurse-mori", "0000") }
            assertEquals("nurse-mori", locked.user)
            assertFailsWith<WardcrfException.NoPin> { t.store.unlockWithPin("nurse-mori", "2468") }
            assertFalse(t.store.isUnlocked())
            t.store.signIn("nurse-mori", passwordOf("nurse-mori"))
            assertTrue(t.store.isUnlocked())
        }
    }

    @Test
    fun `a locked store reads nothing and the site's inactivity lock is known`() {
        ward.store("lock", "dr-abe").use { t ->
            val case = t.store.createCase("icrown-core")
            assertEquals(5u, t.store.lockAfterMinutes())
            t.store.touch()
            t.store.lock()
            assertFailsWith<WardcrfException.Locked> { t.store.viewCase(case, Language.EN) }
            assertFailsWith<WardcrfException.Locked> { t.store.history(case) }
            assertFailsWith<WardcrfException.Locked> { t.store.sync() }
        }
    }

    @Test
    fun `a deactivated account cannot sign in after the device's next sync`() {
        ward.store("deactivated", "dr-ueda").use { t ->
            t.store.createCase("icrown-core")
            ward.staffMember("dr-kato")
            t.store.signIn("dr-kato", passwordOf("dr-kato"))
            server.setStaffActive("dr-ueda", false)
            t.store.sync()
            // The roster the sync brought ended dr-ueda's wrap here: only the repository could
            // sign them in, and it refuses a deactivated account.
            assertEquals(listOf("dr-kato"), t.store.localStaff())
            t.store.lock()
            assertFailsWith<WardcrfException.Refused> { t.store.signIn("dr-ueda", passwordOf("dr-ueda")) }
            assertFalse(t.store.isUnlocked())
        }
    }

    @Test
    fun `signing needs the password and a meaning, and the signature is listed`() {
        ward.store("sign", "nurse-sato").use { t ->
            val case = t.store.createCase("icrown-core")
            fillComplete(t.store, case)
            assertEquals(CaseStatus.COMPLETE, t.store.setStatus(case, CaseStatus.COMPLETE))
            val meanings = t.store.signatureMeanings()
            assertTrue(meanings.any { it.code == "author" && it.de.isNotEmpty() && it.ja.isNotEmpty() })
            assertFailsWith<WardcrfException.SignatureRequired> { t.store.setStatus(case, CaseStatus.SIGNED) }
            assertFailsWith<WardcrfException.WrongCredential> { t.store.sign(case, "a PIN is not enough", "author") }
            val unknown = assertFailsWith<WardcrfException.UnknownMeaning> {
                t.store.sign(case, passwordOf("nurse-sato"), "approval-by-boss")
            }
            assertEquals(meanings.map { it.code }, unknown.known)
            assertTrue(t.store.signatures(case).isEmpty())

            val signature = t.store.sign(case, passwordOf("nurse-sato"), "author")
            assertEquals("nurse-sato", signature.signerId)
            assertEquals(nameOf("nurse-sato"), signature.signerName)
            assertEquals("author", signature.meaning)
            assertFalse(signature.superseded)
            assertEquals(CaseStatus.SIGNED, t.store.viewCase(case, Language.EN).status)
            assertEquals(listOf(signature), t.store.signatures(case))
            assertEquals("sign", t.store.history(case).last().op)

            t.store.setValue(case, field("vs_hr"), "101", reason = "recounted")
            assertTrue(t.store.signatures(case).single().superseded)
            assertContains(t.store.signatures(case).single().meaningEn, "author")
        }
    }
}
