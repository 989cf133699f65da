package org.wardcrf.app

import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assume.assumeTrue

/**
 * The repository the instrumented tests talk to, from the instrumentation arguments that
 * `android/scripts/instrumented-tests.sh` passes (a wardcrf-server on the host, reached from
 * the emulator through `adb reverse`): its address, a one-time enrolment code of its site, and
 * a staff member of that site. Without them the tests that need a repository are skipped.
 */
object TestRepository {
    private val args get() = InstrumentationRegistry.getArguments()

    val url: String get() = required("wardcrf.server")
    val enrolmentCode: String get() = required("wardcrf.code")
    val user: String get() = required("wardcrf.user")
    val password: String get() = required("wardcrf.password")

    /** Skips the calling test unless the repository was given. */
    fun assumeGiven() {
        assumeTrue("run android/scripts/instrumented-tests.sh (it passes the repository)", args.getString("wardcrf.server") != null)
    }

    private fun required(name: String): String =
        args.getString(name) ?: error("instrumentation argument $name is missing: see android/README.md")
}
