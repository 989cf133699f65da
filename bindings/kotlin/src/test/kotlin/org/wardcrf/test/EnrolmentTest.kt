package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.WardcrfException
import org.wardcrf.testing.Tls
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull

// A test-only certificate authority ("the hospital's CA") and a server certificate it signed for
// 127.0.0.1 and localhost (P-256, valid until 2126); the same as cli/tests/sync_cli.rs. The key
// protects nothing.
private val HOSPITAL_CA = """
-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIUVX96n3ZPD+q09/XFfGlAKzbfJ4cwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYV2FyZENSRiBUZXN0IEhvc3BpdGFsIENBMCAXDTI2MTEyNDE0
MDI1OFoYDzIxMjYxMDMxMTQwMjU4WjAjMSEwHwYDVQQDDBhXYXJkQ1JGIFRlc3Qg
SG9zcGl0YWwgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATzFSGZ/5pBnHaA
ZzBoWMQwTHOvJs+1iOcW3pmpl4ZwfWT4bkIHIKrDKplVljQuCnUQ/BNSzO1teXaq
s9m0cO/eo2MwYTAdBgNVHQ4EFgQUAjNkRadziX51nisM8pAeLW4tiR4wHwYDVR0j
BBgwFoAUAjNkRadziX51nisM8pAeLW4tiR4wDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIgP9desRvr1sw26Y23C9zC1bAO
7gzgusWoh/6t6zilpEsCIQCE3wBJNi7qQv2LMN1w8cBS4bXP8ZHTIGeEbiKcplkB
sw==
-----END CERTIFICATE-----
""".trimIndent() + "\n"
private val SERVER_CERT = """
-----BEGIN CERTIFICATE-----
MIIByjCCAXGgAwIBAgIUWLdtrFjtnKElZ9BIIPu/rf8wiIIwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYV2FyZENSRiBUZXN0IEhvc3BpdGFsIENBMCAXDTI2MTEyNDE0
MDI1OFoYDzIxMjYxMDMxMTQwMjU4WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAAQL5NxTrfCmU1ehoH1nMPZCcHsOA6ozmlmW
N8UapyYKUe0qazWyEgf4dClX5151ReE5qPcq9gg15VJ1qroH+Sq/o4GPMIGMMBoG
A1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAJBgNVHRMEAjAAMA4GA1UdDwEB/wQE
AwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUNJzywVk1ox0jCSnb
u2Q8RmkXFEAwHwYDVR0jBBgwFoAUAjNkRadziX51nisM8pAeLW4tiR4wCgYIKoZI
zj0EAwIDRwAwRAIgTyEWgMv26oa0p+0eBATTGHuOcVU3ZHatgnO8cqRrAZoCIE2O
o5a1Yl1+l2LwWZFDnKWKT3XN91rdU+YBN13JeV2Y
-----END CERTIFICATE-----
""".trimIndent() + "\n"
private val SERVER_KEY = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdsD2MJVOQCIMstuN
Qvv/0jTfKZQHCk4K80HkwE8jQM6hRANCAAQL5NxTrfCmU1ehoH1nMPZCcHsOA6oz
mlmWN8UapyYKUe0qazWyEgf4dClX5151ReE5qPcq9gg15VJ1qroH+Sq/
-----END PRIVATE KEY-----
""".trimIndent() + "\n"

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
        server = RepositoryServer(Tls(SERVER_CERT + HOSPITAL_CA, SERVER_KEY, HOSPITAL_CA))
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
