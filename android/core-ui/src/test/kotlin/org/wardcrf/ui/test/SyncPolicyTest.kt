package org.wardcrf.ui.test

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult
import org.wardcrf.ui.sync.InProcessSyncRunner
import org.wardcrf.ui.sync.RunState
import org.wardcrf.ui.sync.SyncAction
import org.wardcrf.ui.sync.SyncFailure
import org.wardcrf.ui.sync.SyncJob
import org.wardcrf.ui.sync.SyncModel
import org.wardcrf.ui.sync.SyncOutcome
import org.wardcrf.ui.sync.SyncPhase
import org.wardcrf.ui.sync.SyncPolicy
import org.wardcrf.ui.sync.SyncRecord
import org.wardcrf.ui.sync.SyncRun
import org.wardcrf.ui.sync.SyncRunner
import org.wardcrf.ui.text.MessageKey
import java.net.ServerSocket
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** A store whose sync reports its first exchange, then waits until the test lets it go on. */
private class Gated(private val inner: CrfStore) : CrfStore by inner {
    val firstExchange = CompletableDeferred<Unit>()
    val release = CountDownLatch(1)

    override fun sync(onProgress: (SyncCounts) -> Unit, cancel: CancelSignal): SyncResult {
        var first = true
        return inner.sync({ p ->
            onProgress(p)
            if (first) {
                first = false
                firstExchange.complete(Unit)
                check(release.await(30, TimeUnit.SECONDS)) { "the test never released the sync" }
            }
        }, cancel)
    }
}

/** What the background sync does with each failure, and a sync that outlives its screen. */
class SyncPolicyTest {
    @Test
    fun `each failure is retried, waits for a sign-in, or stops`() {
        fun action(e: CrfError) = SyncPolicy.actionFor(SyncPolicy.failureOf(e))
        assertEquals(SyncAction.RETRY_WITH_BACKOFF, action(CrfError.Network("connection refused")))
        assertEquals(SyncAction.RETRY_WITH_BACKOFF, action(CrfError.Storage("disk full")))
        assertEquals(SyncAction.WAIT_FOR_SIGN_IN, action(CrfError.Locked()))
        assertEquals(SyncAction.WAIT_FOR_SIGN_IN, action(CrfError.NotSignedIn()))
        assertEquals(SyncAction.WAIT_FOR_SIGN_IN, action(CrfError.KeyUnavailable("unlock the tablet first")))
        assertEquals(SyncAction.STOP, action(CrfError.Revoked()))
        assertEquals(SyncAction.STOP, action(CrfError.NotEnrolled()))
        assertEquals(SyncAction.STOP, action(CrfError.Refused("bad token")))
        assertEquals(SyncAction.STOP, action(CrfError.UpdateRequired(9)))
        assertEquals(SyncAction.STOP, action(CrfError.CertificateMismatch("https://crf.example.org")))
        assertEquals(
            MessageKey.CERTIFICATE_MISMATCH,
            SyncPolicy.message(SyncPolicy.failureOf(CrfError.CertificateMismatch("https://crf.example.org")), Lang.EN).key,
        )
        assertEquals(SyncAction.STOP, action(CrfError.Cancelled()))
        assertEquals(SyncAction.STOP, action(CrfError.Mismatch("c1")))
        assertEquals(SyncFailure.OTHER, SyncPolicy.failureOf(IllegalStateException("a bug")))

        assertTrue(SyncPolicy.needsEnrolment(SyncFailure.REVOKED))
        assertTrue(SyncPolicy.needsEnrolment(SyncFailure.NOT_ENROLLED))
        assertEquals(false, SyncPolicy.needsEnrolment(SyncFailure.NETWORK))
        // A failure's name is what the worker keeps: every one comes back, with its message.
        SyncFailure.entries.forEach { f ->
            assertEquals(f, SyncFailure.valueOf(f.name))
            assertTrue(SyncPolicy.message(f, Lang.JA).text.isNotBlank())
        }
        assertEquals(MessageKey.LOCKED, SyncPolicy.message(SyncFailure.LOCKED, Lang.EN).key)
    }

    /** A runner as WorkManager drives it: the test sets what its WorkInfo and record say. */
    private class ScriptedRunner : SyncRunner {
        override val run = MutableStateFlow(SyncRun())
        var started = 0
        override fun start() {
            started++
        }
        override fun cancel() {}
    }

    @Test
    fun `the Sync screen shows a background sync waiting to retry, then its outcome`() = runBlocking {
        TempStore("scripted", "nurse-w", enrolled = false).use { t ->
            val runner = ScriptedRunner()
            // A background attempt failed on the network and waits for its back-off.
            runner.run.value = SyncRun(RunState.WAITING_TO_RETRY, last = SyncOutcome.Failed(SyncFailure.NETWORK), finished = 1)
            val model = SyncModel(runner, t.crf, Lang.DE, this, Dispatchers.IO)
            model.refresh().join()
            assertEquals(SyncPhase.WAITING, model.state.value.phase)
            assertEquals(MessageKey.NETWORK, model.state.value.message?.key)
            assertFalse(model.state.value.running)

            // "Sync now" hands it to the runner and follows it until that attempt is recorded.
            val following = model.start()
            assertEquals(1, runner.started)
            runner.run.value = SyncRun(RunState.RUNNING, progress = SyncCounts(100, 0, 5), last = runner.run.value.last, finished = 1)
            withTimeout(5_000) { model.state.first { it.phase == SyncPhase.RUNNING } }
            assertEquals(100, model.state.value.progress?.pushed)
            assertFalse(following.isCompleted)
            runner.run.value = SyncRun(
                RunState.IDLE, SyncCounts(105, 0, 0), SyncOutcome.Synced(SyncResult(105, 0, 0, 2)), finished = 2,
            )
            following.join()
            assertEquals(SyncPhase.DONE, model.state.value.phase)
            assertEquals("Synchronisiert: 105 gesendet, 0 empfangen, 0 offene Konflikte.", model.state.value.message?.text)
        }
    }

    @Test
    fun `the worker's record of the last attempt reads back`() {
        val synced = SyncRecord.NONE.after(SyncOutcome.Synced(SyncResult(5, 2, 1, 3)), SyncCounts(5, 2, 0), now = 1_700_000_000_000)
        assertEquals(synced, SyncRecord.decode(synced.encode()))
        val failed = synced.after(SyncOutcome.Failed(SyncFailure.REVOKED), null, now = 1_700_000_060_000)
        assertEquals(2, failed.finished)
        assertEquals(failed, SyncRecord.decode(failed.encode()))
        assertTrue(failed.encode().keys.all { it in SyncRecord.KEYS })
        assertEquals(SyncRecord.NONE, SyncRecord.decode(emptyMap<String, Any>()))
        // A name this version does not know (written by a newer one): no outcome, no crash.
        assertEquals(null, SyncRecord.decode(mapOf("sync.outcome" to "SOMETHING_NEW", "sync.finished" to 4)).last)
    }

    @Test
    fun `the real store's failures take the policy's way`() {
        // Not enrolled: stop (enrolment is the way on).
        TempStore("policy-new", "nurse-a", enrolled = false).use { t ->
            val outcome = assertIs<SyncOutcome.Failed>(SyncJob.run(t.crf, CancelSignal()) {})
            assertEquals(SyncFailure.NOT_ENROLLED, outcome.failure)
            assertEquals(SyncAction.STOP, outcome.action)
        }
        TempStore("policy-locked", "nurse-b").use { t ->
            // Locked (the app went to the background): wait for a sign-in, then it syncs.
            t.crf.lock()
            val locked = assertIs<SyncOutcome.Failed>(SyncJob.run(t.crf, CancelSignal()) {})
            assertEquals(SyncAction.WAIT_FOR_SIGN_IN, locked.action)
            t.signIn()
            assertIs<SyncOutcome.Synced>(SyncJob.run(t.crf, CancelSignal()) {})
        }
        // The repository unreachable: back off and retry.
        TempStore("policy-offline", "nurse-c", enrolled = false).use { t ->
            val server = RepositoryServer()
            server.addSite("fr-lyon-01")
            t.crf.enroll(server.url, server.enrolmentCode("fr-lyon-01"))
            t.signIn(server = server, site = "fr-lyon-01")
            server.close()
            val offline = assertIs<SyncOutcome.Failed>(SyncJob.run(t.crf, CancelSignal()) {})
            assertEquals(SyncFailure.NETWORK, offline.failure)
            assertEquals(SyncAction.RETRY_WITH_BACKOFF, offline.action)
        }
    }

    @Test
    fun `a sync goes on when its screen is left, and the next screen follows it to the end`() = runBlocking {
        TempStore("survives", "dr-sato").use { t ->
            repeat(105) { t.crf.createCase("icrown-core") }
            val gated = Gated(t.crf)
            val app = CoroutineScope(SupervisorJob() + Dispatchers.IO)
            try {
                val runner = InProcessSyncRunner(gated, app, Dispatchers.IO)
                // The Sync screen starts it, then the user presses Back: its scope ends.
                val screen = CoroutineScope(Job() + Dispatchers.Default)
                val first = SyncModel(runner, t.crf, Lang.EN, screen, Dispatchers.IO)
                first.start()
                gated.firstExchange.await()
                screen.cancel()
                gated.release.countDown()

                // Opened again: the same sync, followed to its end, all 105 cases sent.
                val again = SyncModel(runner, t.crf, Lang.EN, this, Dispatchers.IO)
                again.refresh().join()
                if (again.state.value.running) again.start().join()
                val done = again.state.value
                assertEquals(SyncPhase.DONE, done.phase, "${done.message?.text}")
                assertEquals(105, done.result?.pushed)
                assertEquals(MessageKey.SYNC_DONE, done.message?.key)
            } finally {
                app.cancel()
            }
        }
    }
}
