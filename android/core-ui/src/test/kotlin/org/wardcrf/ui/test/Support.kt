package org.wardcrf.ui.test

import org.wardcrf.store.RustCrfStore
import java.io.File
import java.nio.file.Files

// The key provider and the server are the bindings' tests' own (bindings/kotlin/src/testing),
// compiled into this suite by android/test-jvm and core-ui/build.gradle.kts.
typealias SoftwareKeyProvider = org.wardcrf.testing.SoftwareKeyProvider
typealias RepositoryServer = org.wardcrf.testing.RepositoryServer

/** The password of a test staff member. */
fun passwordOf(user: String) = "correct horse $user"

/**
 * The repository most tests' tablets are enrolled with (one site), started on first use and
 * stopped with the JVM. Staff are added to a repository's site the first time they sign in.
 */
object Wards {
    const val SITE = "jp-tokyo-01"
    val server: RepositoryServer by lazy {
        RepositoryServer().also { server ->
            server.addSite(SITE)
            Runtime.getRuntime().addShutdownHook(Thread { server.close() })
        }
    }
    private val staff = mutableSetOf<String>()

    /** Adds [user] as a clinician of [site] at [server] unless already there. */
    @Synchronized
    fun staffMember(server: RepositoryServer, site: String, user: String) {
        if (staff.add("${server.url} $site $user")) server.addStaff(user, site, passwordOf(user), "Dr. $user")
    }
}

/**
 * A real store (the Rust library through [RustCrfStore]) in its own temporary directory. When
 * [enrolled], it is enrolled at [Wards]' site and [user] is signed in (online, as on a ward
 * tablet); else nobody is signed in until [signIn].
 */
class TempStore(name: String, val user: String, enrolled: Boolean = true) : AutoCloseable {
    val dir: File = Files.createTempDirectory("wardcrf-ui-$name-").toFile()
    val crf: RustCrfStore = RustCrfStore.create(dir.absolutePath, SoftwareKeyProvider())

    init {
        if (enrolled) {
            crf.enroll(Wards.server.url, Wards.server.enrolmentCode(Wards.SITE))
            signIn(user)
        }
    }

    /** Signs [who] in with their password; a staff member of [site] at [server]. */
    fun signIn(who: String = user, server: RepositoryServer = Wards.server, site: String = Wards.SITE) {
        Wards.staffMember(server, site, who)
        crf.signIn(who, passwordOf(who))
    }

    override fun close() {
        crf.close()
        dir.deleteRecursively()
    }
}
