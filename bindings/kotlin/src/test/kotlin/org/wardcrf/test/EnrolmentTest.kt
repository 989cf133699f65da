package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.WardcrfException
import org.wardcrf.testing.TestHospital
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull

/**
 * Enrolment from the console's QR code against a real wardcrf-server serving HTTPS with a
 * certificate of a private CA (the chain file lists the CA, whose fingerprint the QR code
 * carries): the app passes no CA at all.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EnrolmentTest {
    private lateinit var server: RepositoryServer
    private lateinit var ward: Ward

    @BeforeAll
    fun start() {
        server = RepositoryServer(TestHospital.tls())
        ward = Ward(server)
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    @Test
    fun `QR enrolment with a pinned private CA works over HTTPS`() {
        assertNotNull(server.enrolmentPin, "the server advertises its CA's fingerprint")
        TestStore("qr-ok").use { t ->
            val enrolment = t.store.enrollWithQr(server.enrolmentPayload(ward.site))
            assertEquals(ward.site, enrolment.siteId)
            assertEquals(server.url, t.store.serverUrl())
            // The online sign-in and the sync trust the pinned CA without being given it.
            ward.signIn(t.store, "dr-qr")
            val case = t.store.createCase("icrown-core")
            t.store.setValue(case, field("vs_hr"), "72")
            assertEquals(1u, t.store.sync().pushed)
        }
    }

    @Test
    fun `a wrong pin is refused and nothing is kept`() {
        val pin = server.enrolmentPin!!
        val wrong = pin.dropLast(1) + (if (pin.last() == '0') '1' else '0')
        TestStore("qr-wrong").use { t ->
            assertFailsWith<WardcrfException.CertificateMismatch> {
                t.store.enrollWithQr(server.enrolmentPayload(ward.site, pin = wrong))
            }
            assertNull(t.store.serverUrl(), "not enrolled")
            assertFailsWith<WardcrfException.NotEnrolled> { t.store.sync() }
            // Without the pin, the private CA is not trusted either (the app passes no CA).
            assertFailsWith<WardcrfException.Refused> {
                t.store.enrollWithQr(server.enrolmentPayload(ward.site, pin = null))
            }
            assertNull(t.store.serverUrl())
        }
    }

    @Test
    fun `a text that is not an enrolment code is refused before any connection`() {
        TestStore("qr-bad").use { t ->
            for (text in listOf("https://crf.example.org", "wardcrf://enroll?v=2&server=https%3A%2F%2Fa&code=x")) {
                assertFailsWith<WardcrfException.BadEnrolmentCode> { t.store.enrollWithQr(text) }
            }
            assertNull(t.store.serverUrl())
        }
    }
}
