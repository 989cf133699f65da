// Test support shared by the JVM test suites of the generated bindings (bindings/kotlin, run by
// bindings/test-kotlin) and of the Android shell's :core-ui (android/test-jvm and its Gradle
// build): a software key provider, temporary directories and a real wardcrf-server.
package org.wardcrf.testing

import org.wardcrf.KeyProvider
import org.wardcrf.KeyProviderException
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.URLEncoder
import java.nio.file.Files
import java.security.KeyStore
import java.security.cert.CertificateFactory
import java.security.SecureRandom
import java.time.Duration
import java.util.concurrent.TimeUnit
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory

/**
 * A key provider in plain Kotlin: AES-256-GCM with a key held in memory, as an app without a
 * hardware keystore would do (the Android shell wraps with the Android Keystore, the iOS shell
 * with the Keychain instead).
 * Wrapped form: 12-byte nonce, then ciphertext and tag.
 */
class SoftwareKeyProvider(private val key: ByteArray = randomBytes(32)) : KeyProvider {
    override fun kind(): String = "software-aes-gcm"

    override fun wrap(dataKey: ByteArray): ByteArray {
        val nonce = randomBytes(12)
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, nonce))
        return nonce + cipher.doFinal(dataKey)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray {
        if (wrapped.size < 12 + 16) throw KeyProviderException.WrongKey()
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(
            Cipher.DECRYPT_MODE,
            SecretKeySpec(key, "AES"),
            GCMParameterSpec(128, wrapped.copyOfRange(0, 12)),
        )
        return try {
            cipher.doFinal(wrapped.copyOfRange(12, wrapped.size))
        } catch (e: AEADBadTagException) {
            throw KeyProviderException.WrongKey()
        }
    }

    companion object {
        private val random = SecureRandom()
        fun randomBytes(n: Int) = ByteArray(n).also { random.nextBytes(it) }
    }
}

/** A temporary directory for a store, removed by [use]. */
class TempDir(prefix: String) : AutoCloseable {
    val file: File = Files.createTempDirectory("wardcrf-kt-$prefix-").toFile()
    val path: String get() = file.absolutePath
    fun sub(name: String) = File(file, name).absolutePath
    override fun close() {
        file.deleteRecursively()
    }
}

/**
 * What a server serving HTTPS is given (PEM): its certificate chain and key, and the CA that the
 * administration client (this test code) trusts.
 */
class Tls(val chainPem: String, val keyPem: String, val caPem: String)

/**
 * A test-only certificate authority ("the hospital's CA") and a server certificate it signed for
 * 127.0.0.1 and localhost (P-256, valid until 2126); the same as cli/tests/sync_cli.rs. The key
 * protects nothing.
 */
object TestHospital {
    val CA = """
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
    val SERVER_CERT = """
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
    val SERVER_KEY = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdsD2MJVOQCIMstuN
Qvv/0jTfKZQHCk4K80HkwE8jQM6hRANCAAQL5NxTrfCmU1ehoH1nMPZCcHsOA6oz
mlmWN8UapyYKUe0qazWyEgf4dClX5151ReE5qPcq9gg15VJ1qroH+Sq/
-----END PRIVATE KEY-----
""".trimIndent() + "\n"

    /** The server's certificate with the CA after it, its key, and the CA to trust. */
    fun tls() = Tls(SERVER_CERT + CA, SERVER_KEY, CA)
}

/**
 * A real `wardcrf-server` (the binary given by the system property `wardcrf.server`) on a free
 * loopback port with its own data directory; administered over HTTP (HTTPS with [tls]) with
 * its admin token.
 */
class RepositoryServer(tls: Tls? = null) : AutoCloseable {
    private val data = TempDir("server")
    private val process: Process
    val url: String
    /** The certificate fingerprint its enrolment QR codes carry (`sha256:…`), over HTTPS. */
    val enrolmentPin: String?
    private val adminToken: String
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5))
        .apply { if (tls != null) sslContext(trusting(tls.caPem)) }
        .build()

    init {
        val binary = System.getProperty("wardcrf.server")
            ?: error("set -Dwardcrf.server=PATH to the wardcrf-server binary")
        val args = mutableListOf(binary, "--data", data.path, "--listen", "127.0.0.1:0")
        if (tls != null) {
            val chain = File(data.file, "chain.pem").apply { writeText(tls.chainPem) }
            val key = File(data.file, "key.pem").apply { writeText(tls.keyPem) }
            args += listOf("--tls-cert", chain.path, "--tls-key", key.path)
        }
        process = ProcessBuilder(args).redirectErrorStream(true).start()
        val lines = process.inputStream.bufferedReader()
        var found: String? = null
        var pin: String? = null
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (found == null && System.nanoTime() < deadline) {
            val line = lines.readLine() ?: break
            if (line.startsWith("enrolment QR codes pin ")) pin = line.removePrefix("enrolment QR codes pin ").trim()
            if (line.startsWith("listening on ")) found = line.removePrefix("listening on ").trim()
        }
        enrolmentPin = pin
        if (found == null) {
            process.destroy()
            error("wardcrf-server did not start")
        }
        url = found
        // Keep reading its output so that it never blocks on a full pipe.
        Thread { lines.forEachLine { } }.apply { isDaemon = true }.start()
        adminToken = File(data.file, "admin-token").readText().trim()
    }

    private fun admin(method: String, path: String, body: String?): String {
        val request = HttpRequest.newBuilder(URI.create(url + path))
            .header("Authorization", "Bearer $adminToken")
            .header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(30))
            .method(method, body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $path: HTTP ${response.statusCode()}" }
        return response.body()
    }

    fun addSite(siteId: String) {
        admin("POST", "/api/admin/sites", """{"site_id": "$siteId", "name": "Site $siteId"}""")
    }

    /**
     * The enrolment QR code's text for a new code of [siteId], as the console shows it, with
     * [pin] (the server's own by default).
     */
    fun enrolmentPayload(siteId: String, pin: String? = enrolmentPin): String {
        val server = URLEncoder.encode(url, Charsets.UTF_8)
        val code = enrolmentCode(siteId)
        return "wardcrf://enroll?v=1&server=$server&code=$code" + (pin?.let { "&pin=$it" } ?: "")
    }

    fun enrolmentCode(siteId: String): String {
        val answer = admin("POST", "/api/admin/enroll-codes", """{"site_id": "$siteId"}""")
        return Regex(""""code"\s*:\s*"([^"]+)"""").find(answer)?.groupValues?.get(1)
            ?: error("no code in the enrolment-code answer")
    }

    /**
     * Adds a staff user of [siteId] (role `clinician` unless told) who signs in on that site's
     * tablets with [password] (10 characters or more).
     */
    fun addStaff(username: String, siteId: String, password: String, displayName: String? = null, role: String = "clinician") {
        val name = displayName?.let { ""","display_name": "$it"""" } ?: ""
        admin(
            "POST",
            "/api/admin/staff",
            """{"username": "$username", "role": "$role", "site_id": "$siteId", "password": "$password"$name}""",
        )
    }

    /** Deactivates (or reactivates) a staff user; nothing of theirs is deleted. */
    fun setStaffActive(username: String, active: Boolean) {
        admin("PUT", "/api/admin/staff/$username/active", """{"active": $active}""")
    }

    fun revoke(deviceId: String) {
        admin("POST", "/api/admin/devices/$deviceId/revoke", null)
    }

    private companion object {
        /** An SSL context trusting only the CA certificate [caPem]. */
        fun trusting(caPem: String): SSLContext {
            val ca = CertificateFactory.getInstance("X.509")
                .generateCertificate(caPem.byteInputStream())
            val store = KeyStore.getInstance(KeyStore.getDefaultType()).apply {
                load(null, null)
                setCertificateEntry("ca", ca)
            }
            val trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
                .apply { init(store) }
            return SSLContext.getInstance("TLS").apply { init(null, trust.trustManagers, null) }
        }
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        data.close()
    }
}
