package org.wardcrf.ui.test

import org.wardcrf.store.RustCrfStore
import java.io.File
import java.nio.file.Files

// The key provider and the server are the bindings' tests' own (bindings/kotlin/src/testing),
// compiled into this suite by android/test-jvm and core-ui/build.gradle.kts.
typealias SoftwareKeyProvider = org.wardcrf.testing.SoftwareKeyProvider
typealias RepositoryServer = org.wardcrf.testing.RepositoryServer

/** A real store (the Rust library through [RustCrfStore]) in its own temporary directory. */
class TempStore(name: String, user: String) : AutoCloseable {
    val dir: File = Files.createTempDirectory("wardcrf-ui-$name-").toFile()
    val crf: RustCrfStore = RustCrfStore.create(dir.absolutePath, SoftwareKeyProvider(), user)

    override fun close() {
        crf.close()
        dir.deleteRecursively()
    }
}
