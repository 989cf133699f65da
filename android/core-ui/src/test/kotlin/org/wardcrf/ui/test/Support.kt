package org.wardcrf.ui.test

import org.wardcrf.KeyProvider
import org.wardcrf.KeyProviderException
import org.wardcrf.store.RustCrfStore
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.security.SecureRandom
import java.time.Duration
import java.util.concurrent.TimeUnit
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec

/**
 * A software AES-256-GCM key provider (the app uses the Android Keystore or the iOS Keychain
 * instead). Wrapped form: 12-byte nonce, then ciphertext and tag.
 */
class SoftwareKeyProvider(private val key: ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }) : KeyProvider {
    override fun kind() = "software-aes-gcm"

    override fun wrap(dataKey: ByteArray): ByteArray {
        val nonce = ByteArray(12).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, nonce))
        return nonce + cipher.doFinal(dataKey)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray {
        if (wrapped.size < 28) throw KeyProviderException.WrongKey()
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, wrapped.copyOfRange(0, 12)))
        return try {
            cipher.doFinal(wrapped.copyOfRange(12, wrapped.size))
        } catch (e: AEADBadTagException) {
            throw KeyProviderException.WrongKey()
        }
    }
}

/** A real store (the Rust library through [RustCrfStore]) in its own temporary directory. */
class TempStore(name: String, user: String) : AutoCloseable {
    val dir: File = Files.createTempDirectory("wardcrf-ui-$name-").toFile()
    val crf: RustCrfStore = RustCrfStore.create(dir.absolutePath, SoftwareKeyProvider(), user)

    override fun close() {
        crf.close()
        dir.deleteRecursively()
    }
}

/**
 * A real `wardcrf-server` (`-Dwardcrf.server=PATH`) on a free loopback port, administered over
 * HTTP with its admin token, as in bindings/kotlin's tests.
 */
class RepositoryServer : AutoCloseable {
    private val data: File = Files.createTempDirectory("wardcrf-ui-server-").toFile()
    private val process: Process
    val url: String
    private val adminToken: String
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    init {
        val binary = System.getProperty("wardcrf.server") ?: error("set -Dwardcrf.server=PATH to wardcrf-server")
        process = ProcessBuilder(binary, "--data", data.absolutePath, "--listen", "127.0.0.1:0")
            .redirectErrorStream(true).start()
        val lines = process.inputStream.bufferedReader()
        var found: String? = null
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (found == null && System.nanoTime() < deadline) {
            val line = lines.readLine() ?: break
            if (line.startsWith("listening on ")) found = line.removePrefix("listening on ").trim()
        }
        if (found == null) {
            process.destroy()
            error("wardcrf-server did not start")
        }
        url = found
        Thread { lines.forEachLine { } }.apply { isDaemon = true }.start()
        adminToken = File(data, "admin-token").readText().trim()
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

    fun enrolmentCode(siteId: String): String =
        Regex(""""code"\s*:\s*"([^"]+)"""").find(admin("POST", "/api/admin/enroll-codes", """{"site_id": "$siteId"}"""))
            ?.groupValues?.get(1) ?: error("no code in the answer")

    fun revoke(deviceId: String) {
        admin("POST", "/api/admin/devices/$deviceId/revoke", null)
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        data.deleteRecursively()
    }
}
