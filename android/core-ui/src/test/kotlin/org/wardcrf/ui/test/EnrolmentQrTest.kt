package org.wardcrf.ui.test

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.testing.TestHospital
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.sync.EnrolmentMode
import org.wardcrf.ui.sync.EnrolmentModel
import org.wardcrf.ui.sync.SyncPhase
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Enrolment from the console's QR code through the enrolment screen's model, against a real
 * wardcrf-server serving HTTPS with a certificate of a private CA whose fingerprint the code
 * carries: the app passes no CA, the store pins the fingerprint.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EnrolmentQrTest {
    private lateinit var server: RepositoryServer
    private val site = "jp-osaka-02"

    @BeforeAll
    fun start() {
        server = RepositoryServer(TestHospital.tls())
        server.addSite(site)
    }

    @AfterAll
    fun stop() = server.close()

    @Test
    fun `a scanned code enrols, a wrong fingerprint or a text that is no code is told and nothing is kept`() = runBlocking {
        val pin = assertNotNull(server.enrolmentPin, "the server advertises its CA's fingerprint")
        TempStore("qr", "dr-qr", enrolled = false).use { t ->
            val enrol = EnrolmentModel(t.crf, Lang.EN, this, Dispatchers.IO)
            assertEquals(EnrolmentMode.SCAN, enrol.state.value.mode, "the camera comes first")
            assertTrue(enrol.state.value.scanning)

            // A QR code that is not an enrolment code: told, before any connection.
            enrol.scanned("https://crf.example.org").join()
            assertEquals(MessageKey.BAD_ENROLMENT_CODE, enrol.state.value.message?.key)
            assertNull(enrol.state.value.enrolled)
            assertFalse(enrol.state.value.scanning, "the camera stops at the code it read")
            assertTrue(enrol.state.value.canScanAgain)
            assertNull(t.crf.serverUrl())

            // The repository presents another certificate than the code's fingerprint names.
            val wrong = pin.dropLast(1) + (if (pin.last() == '0') '1' else '0')
            enrol.scanAgain()
            enrol.scanned(server.enrolmentPayload(site, pin = wrong)).join()
            val mismatch = enrol.state.value.message
            assertEquals(MessageKey.CERTIFICATE_MISMATCH, mismatch?.key)
            assertEquals(Messages.text(MessageKey.CERTIFICATE_MISMATCH, Lang.EN), mismatch?.text)
            assertTrue(mismatch!!.isError)
            assertNull(enrol.state.value.enrolled)
            assertNull(t.crf.serverUrl(), "nothing is kept")

            // A code read while the camera is not looking is ignored (the scanner reads on).
            enrol.scanned(server.enrolmentPayload(site)).join()
            assertNull(enrol.state.value.enrolled)
            assertEquals(MessageKey.CERTIFICATE_MISMATCH, enrol.state.value.message?.key)

            enrol.scanAgain()
            enrol.scanned(server.enrolmentPayload(site)).join()
            val enrolled = assertNotNull(enrol.state.value.enrolled)
            assertEquals(site, enrolled.siteId)
            assertEquals(server.url, enrol.state.value.serverUrl)
            assertEquals(server.url, t.crf.serverUrl())
            assertEquals(MessageKey.ENROLLED, enrol.state.value.message?.key)
            assertFalse(enrol.state.value.canScanAgain)

            // The online sign-in and the sync trust the pinned certificate without a CA.
            t.signIn(server = server, site = site)
            t.crf.createCase("icrown-core")
            val sync = syncModel(t.crf, Lang.EN, this)
            sync.start().join()
            assertEquals(SyncPhase.DONE, sync.state.value.phase)
            assertEquals(1, sync.state.value.result?.pushed)
        }
    }

    @Test
    fun `the typed code stays the way when the camera cannot be used`() = runBlocking {
        TempStore("qr-typed", "dr-qt", enrolled = false).use { t ->
            val enrol = EnrolmentModel(t.crf, Lang.DE, this, Dispatchers.IO)
            enrol.typeInstead()
            assertEquals(EnrolmentMode.TYPE, enrol.state.value.mode)
            assertFalse(enrol.state.value.scanning)
            // A code the scanner still delivers is not used in the typed form.
            enrol.scanned(server.enrolmentPayload(site)).join()
            assertNull(enrol.state.value.enrolled)

            enrol.scanInstead()
            assertTrue(enrol.state.value.scanning)
            enrol.scanned("wardcrf://enroll?v=2&server=https%3A%2F%2Fa&code=x").join()
            assertEquals(MessageKey.BAD_ENROLMENT_CODE, enrol.state.value.message?.key)
            assertEquals(Messages.text(MessageKey.BAD_ENROLMENT_CODE, Lang.DE), enrol.state.value.message?.text)
            assertNull(t.crf.serverUrl())
        }
    }
}
