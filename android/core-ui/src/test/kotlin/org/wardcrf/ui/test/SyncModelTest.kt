package org.wardcrf.ui.test

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult
import org.wardcrf.ui.sync.EnrolmentModel
import org.wardcrf.ui.sync.InProcessSyncRunner
import org.wardcrf.ui.sync.SyncModel
import org.wardcrf.ui.sync.SyncPhase
import org.wardcrf.ui.text.MessageKey
import java.net.ServerSocket
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** A store that calls [onFirstProgress] when the first exchange reports (to cancel from the UI). */
private class Intercepting(private val inner: CrfStore, val onFirstProgress: () -> Unit) : CrfStore by inner {
    override fun sync(onProgress: (SyncCounts) -> Unit, cancel: CancelSignal): SyncResult {
        var first = true
        return inner.sync({ p ->
            onProgress(p)
            if (first) onFirstProgress()
            first = false
        }, cancel)
    }
}

/** The Sync screen's model over a runner of its own in [scope] (the app's runner is WorkManager). */
fun syncModel(store: CrfStore, lang: Lang, scope: CoroutineScope) =
    SyncModel(InProcessSyncRunner(store, scope, Dispatchers.IO), store, lang, scope, Dispatchers.IO)

/** Enrolment and sync through the view models, against a real wardcrf-server. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SyncModelTest {
    private lateinit var server: RepositoryServer

    @BeforeAll
    fun start() {
        server = RepositoryServer()
        server.addSite("de-berlin-01")
    }

    @AfterAll
    fun stop() = server.close()

    @Test
    fun `enrolment then sync with progress, and a sync cancelled from the screen`() = runBlocking {
        TempStore("sync", "dr-weber", enrolled = false).use { t ->
            val sync = syncModel(t.crf, Lang.DE, this)
            sync.refresh().join()
            assertTrue(sync.state.value.needsEnrolment)

            val enrol = EnrolmentModel(t.crf, Lang.DE, this, Dispatchers.IO)
            assertFalse(enrol.state.value.canSubmit)
            enrol.setServerUrl(" ${server.url} ")
            enrol.setCode(server.enrolmentCode("de-berlin-01"))
            enrol.submit().join()
            val enrolled = assertNotNull(enrol.state.value.enrolled)
            assertEquals("de-berlin-01", enrolled.siteId)
            assertEquals("", enrol.state.value.code, "the one-time code is cleared")
            assertContains(enrol.state.value.message!!.text, "de-berlin-01")
            // Entering cases needs a staff member of the site signed in (online the first time).
            t.signIn(server = server, site = "de-berlin-01")

            repeat(105) { t.crf.createCase("icrown-core") }
            // Cancelled from the screen after the first batch of 100: that batch is kept.
            lateinit var cancelling: SyncModel
            cancelling = syncModel(Intercepting(t.crf) { cancelling.cancel() }, Lang.DE, this)
            cancelling.start().join()
            assertEquals(SyncPhase.CANCELLED, cancelling.state.value.phase)
            assertEquals(MessageKey.SYNC_CANCELLED, cancelling.state.value.message?.key)
            assertEquals(100, cancelling.state.value.progress?.pushed)
            assertTrue(cancelling.state.value.canRetry)

            sync.refresh().join()
            assertFalse(sync.state.value.needsEnrolment)
            sync.start().join()
            val done = sync.state.value
            assertEquals(SyncPhase.DONE, done.phase)
            assertEquals(5, done.result?.pushed)
            assertEquals(1f, done.fraction)
            assertEquals("Synchronisiert: 5 gesendet, 0 empfangen, 0 offene Konflikte.", done.message?.text)
        }
    }

    @Test
    fun `each failure becomes a message that says what to do`() = runBlocking {
        TempStore("not-enrolled", "n", enrolled = false).use { t ->
            val sync = syncModel(t.crf, Lang.JA, this)
            sync.start().join()
            val s = sync.state.value
            assertEquals(SyncPhase.FAILED, s.phase)
            assertEquals(MessageKey.NOT_ENROLLED, s.message?.key)
            assertContains(s.message!!.text, "登録されていません")
            assertTrue(s.needsEnrolment)
            assertFalse(s.canRetry)

            val enrol = EnrolmentModel(t.crf, Lang.EN, this, Dispatchers.IO)
            val closedPort = ServerSocket(0).use { it.localPort }
            enrol.setServerUrl("http://127.0.0.1:$closedPort")
            enrol.setCode(server.enrolmentCode("de-berlin-01"))
            enrol.submit().join()
            assertEquals(MessageKey.NETWORK, enrol.state.value.message?.key)
            assertNull(enrol.state.value.enrolled)

            enrol.setServerUrl(server.url)
            enrol.setCode("not-a-real-code")
            enrol.submit().join()
            assertEquals(MessageKey.REFUSED, enrol.state.value.message?.key)

            enrol.setCode(server.enrolmentCode("de-berlin-01"))
            enrol.submit().join()
            assertNotNull(enrol.state.value.enrolled)
            t.signIn(server = server, site = "de-berlin-01")
            t.crf.createCase("icrown-core")
            sync.start().join()
            assertEquals(SyncPhase.DONE, sync.state.value.phase)

            server.revoke(t.crf.deviceId)
            sync.start().join()
            assertEquals(SyncPhase.FAILED, sync.state.value.phase)
            assertEquals(MessageKey.REVOKED, sync.state.value.message?.key)
            assertTrue(sync.state.value.needsEnrolment, "a revoked tablet goes back to enrolment")
        }
    }
}
