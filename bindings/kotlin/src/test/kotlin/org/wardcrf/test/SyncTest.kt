package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.SyncCancellation
import org.wardcrf.SyncProgress
import org.wardcrf.SyncProgressListener
import org.wardcrf.WardcrfException
import java.net.ServerSocket
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Collects progress reports; optionally cancels the sync after the first one. */
class Progress(private val cancelAfterFirst: SyncCancellation? = null) : SyncProgressListener {
    val seen = CopyOnWriteArrayList<SyncProgress>()
    override fun onProgress(progress: SyncProgress) {
        seen.add(progress)
        cancelAfterFirst?.cancel()
    }
}

/** Against a real wardcrf-server, started once for the class. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SyncTest {
    private lateinit var server: RepositoryServer
    private lateinit var ward: Ward

    @BeforeAll
    fun start() {
        server = RepositoryServer()
        ward = Ward(server)
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    private fun enrolled(name: String, user: String): TestStore {
        val t = TestStore(name)
        val enrolment = t.store.enroll(server.url, server.enrolmentCode("jp-tokyo-01"))
        assertEquals(t.store.deviceId(), enrolment.deviceId)
        assertEquals("jp-tokyo-01", enrolment.siteId)
        assertEquals(server.url, t.store.serverUrl())
        ward.signIn(t.store, user)
        return t
    }

    @Test
    fun `two enrolled devices sync through the repository with progress`() {
        enrolled("sync-a", "dr-a").use { a ->
            enrolled("sync-b", "dr-b").use { b ->
                val cases = (1..3).map { a.store.createCase("icrown-core") }
                a.store.setQuantity(cases[0], field("vs_temp"), 101.3, "[degF]")

                val progress = Progress()
                val pushed = a.store.sync(progress)
                assertEquals(3u, pushed.pushed)
                assertEquals(0u, pushed.conflicts)
                assertTrue(progress.seen.isNotEmpty(), "the progress listener heard the sync")
                assertEquals(3u, progress.seen.last().pushed)
                assertEquals(0u, progress.seen.last().remaining)

                val pulled = b.store.sync()
                assertEquals(3u, pulled.pulled)
                assertEquals(cases.toSet(), b.store.listCases().map { it.caseId }.toSet())
                assertTrue("\"value\":38.5" in b.store.viewCase(cases[0], org.wardcrf.Language.EN).valuesJson)

                // Edits of one field on both devices meet as a conflict on both.
                a.store.setValue(cases[1], field("vs_hr"), "70")
                b.store.setValue(cases[1], field("vs_hr"), "75")
                a.store.sync()
                assertEquals(1u, b.store.sync().conflicts)
                assertEquals(1u, a.store.sync().conflicts)
            }
        }
    }

    @Test
    fun `a sync can be cancelled and the next one completes it`() {
        enrolled("cancel", "n").use { t ->
            repeat(105) { t.store.createCase("icrown-core") }
            val before = SyncCancellation().apply { cancel() }
            assertFailsWith<WardcrfException.Cancelled> { t.store.sync(cancel = before) }

            // Cancelled from the listener after the first batch of 100: that batch is kept.
            val cancel = SyncCancellation()
            val progress = Progress(cancelAfterFirst = cancel)
            assertFailsWith<WardcrfException.Cancelled> { t.store.sync(progress, cancel) }
            assertEquals(1, progress.seen.size)
            assertEquals(100u, progress.seen.single().pushed)

            val rest = t.store.sync()
            assertEquals(5u, rest.pushed)
        }
    }

    @Test
    fun `refusals say what to do`() {
        TestStore("refusals").use { t ->
            assertNull(t.store.serverUrl())
            assertFailsWith<WardcrfException.NotEnrolled> { t.store.sync() }
            assertFailsWith<WardcrfException.Refused> { t.store.enroll(server.url, "not-a-real-code") }
            val closedPort = ServerSocket(0).use { it.localPort }
            assertFailsWith<WardcrfException.Network> {
                t.store.enroll("http://127.0.0.1:$closedPort", server.enrolmentCode("jp-tokyo-01"))
            }
            assertFailsWith<WardcrfException.Refused> {
                t.store.enroll("http://example.org", "code")
            }
        }
        enrolled("revoked", "n").use { t ->
            t.store.createCase("icrown-core")
            assertEquals(1u, t.store.sync().pushed)
            server.revoke(t.store.deviceId())
            assertFailsWith<WardcrfException.Revoked> { t.store.sync() }
        }
    }
}
