package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.SyncCancellation
import org.wardcrf.SyncProgress
import org.wardcrf.SyncProgressListener
import org.wardcrf.WardcrfException
import java.net.ServerSocket
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
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

    @Test
    fun `a sync in a background worker runs while the ward edits, and an edit made during it goes with the next`() {
        enrolled("worker-a", "dr-w").use { a ->
            enrolled("worker-b", "dr-v").use { b ->
                val other = a.store.createCase("icrown-core")
                a.store.setValue(other, field("vs_hr"), "80")
                assertEquals(1u, a.store.sync().pushed)
                b.store.sync()
                assertTrue(b.store.listCases().any { it.caseId == other })
                // Two batches to send, so the sync makes two exchanges.
                repeat(105) { a.store.createCase("icrown-core") }
                val held = a.store.listCases().size

                // An executor stands in for WorkManager.
                val worker = Executors.newSingleThreadExecutor()
                try {
                    val progress = HoldingProgress()
                    val sync = worker.submit<org.wardcrf.SyncSummary> { a.store.sync(progress) }

                    // After the first exchange the sync is in flight: the ward edits another
                    // case through the same store, from this thread, and the calls return.
                    assertEquals(100u, progress.next().pushed)
                    a.store.setValue(other, field("vs_hr"), "91", reason = "recount")
                    assertTrue("91" in a.store.viewCase(other, org.wardcrf.Language.EN).valuesJson)
                    assertEquals(held, a.store.listCases().size)
                    assertFalse(sync.isDone, "the sync is still in flight")
                    progress.goOn()

                    // After the last exchange, again: this edit is after the last push.
                    val last = progress.next()
                    assertEquals(0u, last.remaining)
                    a.store.setValue(other, field("vs_rr"), "22")
                    assertFalse(sync.isDone, "the sync is still in flight")
                    progress.goOn()

                    val summary = sync.get(60, TimeUnit.SECONDS)
                    // The first edit went with the sync's second exchange; the second did not.
                    assertEquals(106u, summary.pushed)
                } finally {
                    worker.shutdown()
                }

                b.store.sync()
                val seen = b.store.viewCase(other, org.wardcrf.Language.EN).valuesJson
                assertTrue("\"value\":91" in seen, seen)
                assertFalse("vs_rr" in seen, seen)

                // The next sync pushes the edit made during the last one; the other tablet gets it.
                assertEquals(1u, a.store.sync().pushed)
                b.store.sync()
                assertTrue("\"value\":22" in b.store.viewCase(other, org.wardcrf.Language.EN).valuesJson)
            }
        }
    }

    @Test
    fun `a locked store does not start a sync`() {
        enrolled("locked-sync", "dr-l").use { t ->
            t.store.createCase("icrown-core")
            t.store.lock()
            assertFailsWith<WardcrfException.Locked> { t.store.sync() }
            ward.signIn(t.store, "dr-l")
            assertEquals(1u, t.store.sync().pushed)
        }
    }
}
