package org.wardcrf.test

import org.wardcrf.CaseStore
import org.wardcrf.FieldPath

// The key provider, temporary directories and the server are shared with the Android shell's
// tests: bindings/kotlin/src/testing.
typealias SoftwareKeyProvider = org.wardcrf.testing.SoftwareKeyProvider
typealias TempDir = org.wardcrf.testing.TempDir
typealias RepositoryServer = org.wardcrf.testing.RepositoryServer

fun field(id: String) = FieldPath(id)

/** A store on a fresh software key in its own directory, closed and removed together. */
class TestStore(name: String, user: String) : AutoCloseable {
    private val dir = TempDir(name)
    val key = SoftwareKeyProvider()
    val path: String get() = dir.path
    val store: CaseStore = CaseStore.create(dir.path, key, user)
    override fun close() {
        store.close()
        dir.close()
    }
}
