package org.wardcrf.test

import org.wardcrf.CaseStore
import org.wardcrf.FieldPath

// The key provider, temporary directories and the server are shared with the Android shell's
// tests: bindings/kotlin/src/testing.
typealias SoftwareKeyProvider = org.wardcrf.testing.SoftwareKeyProvider
typealias TempDir = org.wardcrf.testing.TempDir
typealias RepositoryServer = org.wardcrf.testing.RepositoryServer

fun field(id: String) = FieldPath(id)

/** A new store on a fresh software key in its own directory (nobody signed in), closed and removed together. */
class TestStore(name: String) : AutoCloseable {
    private val dir = TempDir(name)
    val key = SoftwareKeyProvider()
    val path: String get() = dir.path
    val store: CaseStore = CaseStore.create(dir.path, key)
    override fun close() {
        store.close()
        dir.close()
    }
}

/** The password of a test staff member. */
fun passwordOf(user: String) = "correct horse $user"

/** The printed name of a test staff member. */
fun nameOf(user: String) = "Dr. ${user.replaceFirstChar { it.uppercase() }}"

/**
 * A site of a real repository whose staff sign in on test stores: a staff member is added to the
 * site (a clinician, password [passwordOf], name [nameOf]) the first time a store signs them in.
 */
class Ward(val server: RepositoryServer, val site: String = "jp-tokyo-01") {
    private val staff = mutableSetOf<String>()

    init {
        server.addSite(site)
    }

    /** Adds [user] to the site's staff unless already there. */
    fun staffMember(user: String) {
        if (staff.add(user)) server.addStaff(user, site, passwordOf(user), nameOf(user))
    }

    /** Enrolls [t]'s store at the site. */
    fun enroll(t: TestStore): TestStore {
        t.store.enroll(server.url, server.enrolmentCode(site))
        return t
    }

    /** Signs [user] in on [store] with their password (online the first time on that store). */
    fun signIn(store: CaseStore, user: String) {
        staffMember(user)
        store.signIn(user, passwordOf(user))
    }

    /** A new store enrolled at the site with [user] signed in. */
    fun store(name: String, user: String): TestStore {
        val t = enroll(TestStore(name))
        signIn(t.store, user)
        return t
    }
}

/**
 * A sync progress listener that holds the sync after each exchange until the test lets it go on:
 * the test acts while the sync is provably in flight, without relying on timing.
 */
class HoldingProgress : org.wardcrf.SyncProgressListener {
    private val arrived = java.util.concurrent.LinkedBlockingQueue<org.wardcrf.SyncProgress>()
    private val release = java.util.concurrent.LinkedBlockingQueue<Unit>()

    override fun onProgress(progress: org.wardcrf.SyncProgress) {
        arrived.put(progress)
        check(release.poll(30, java.util.concurrent.TimeUnit.SECONDS) != null) {
            "the test did not let the sync go on"
        }
    }

    /** Waits until the sync has applied its next exchange and is held. */
    fun next(): org.wardcrf.SyncProgress =
        arrived.poll(30, java.util.concurrent.TimeUnit.SECONDS) ?: error("the sync made no progress")

    /** Lets the held sync go on. */
    fun goOn() = release.put(Unit)
}
