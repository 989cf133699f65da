package org.wardcrf.ui.test

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.wardcrf.ui.form.FormEntryModel
import org.wardcrf.ui.form.ReasonKind
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult
import org.wardcrf.ui.store.field
import org.wardcrf.ui.sync.InProcessSyncRunner
import org.wardcrf.ui.sync.RunState
import org.wardcrf.ui.sync.SyncOutcome
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull

/**
 * A store whose sync, while [holds], stops after each exchange until the test lets it go on: a
 * background sync caught in the middle, so that the test can work with the store meanwhile.
 */
private class Holding(private val inner: CrfStore) : CrfStore by inner {
    @Volatile
    var holds = true
    private val arrived = LinkedBlockingQueue<SyncCounts>()
    private val release = LinkedBlockingQueue<Unit>()

    override fun sync(onProgress: (SyncCounts) -> Unit, cancel: CancelSignal): SyncResult = inner.sync({ p ->
        onProgress(p)
        if (holds) {
            arrived.put(p)
            check(release.poll(30, TimeUnit.SECONDS) != null) { "the test did not let the sync go on" }
        }
    }, cancel)

    /** Waits until the sync has made its next exchange and is held. */
    fun next(): SyncCounts = arrived.poll(30, TimeUnit.SECONDS) ?: error("the sync made no progress")

    /** Lets the held sync go on. */
    fun goOn() = release.put(Unit)
}

/** The app's sync runner on a background thread while a clinician enters data, on the real library. */
class BackgroundSyncTest {
    @Test
    fun `a background sync goes on while the form saves another case, and an edit made during it goes with the next`() = runBlocking {
        TempStore("bg-a", "dr-bg").use { a ->
            TempStore("bg-b", "dr-bh").use { b ->
                val other = a.crf.createCase("icrown-core")
                a.crf.setValue(other, FieldRef("vs_hr"), "80")
                a.crf.sync({}, CancelSignal())
                b.crf.sync({}, CancelSignal())
                // Two batches to send (100 cases an exchange), so the sync makes two exchanges.
                repeat(105) { a.crf.createCase("icrown-core") }

                val holding = Holding(a.crf)
                val runner = InProcessSyncRunner(holding, this, Dispatchers.IO)
                val form = FormEntryModel(a.crf, other, Lang.EN, this, Dispatchers.IO)
                runner.start()

                // After the first exchange the sync is in flight on its thread: the form opens
                // and saves another case through the same store, and its calls return.
                assertEquals(100, holding.next().pushed)
                withTimeout(30_000) { form.load().join() }
                val hr = FieldRef("vs_hr")
                form.edit(hr, "91")
                withTimeout(30_000) { form.commit(hr).join() }
                assertEquals(ReasonKind.CHANGE, form.state.value.reasonPrompt?.kind, "a change of an earlier entry asks why")
                form.setReason("recount")
                withTimeout(30_000) { form.submitReason().join() }
                assertNull(form.state.value.reasonPrompt)
                assertNull(form.state.value.message)
                assertEquals(91.0, (a.crf.formSession(other, Lang.EN).field(hr)?.answer as? org.wardcrf.ui.store.Answer.Number)?.value)
                assertEquals(RunState.RUNNING, runner.run.value.state, "the sync is still in flight")
                holding.goOn()

                // After the last exchange, again: this edit comes after the sync's last push.
                assertEquals(0, holding.next().remaining)
                val rr = FieldRef("vs_rr")
                form.edit(rr, "22")
                withTimeout(30_000) { form.commit(rr).join() }
                assertNull(form.state.value.message)
                assertEquals(RunState.RUNNING, runner.run.value.state, "the sync is still in flight")
                holding.goOn()

                val first = withTimeout(60_000) { runner.run.first { it.finished == 1 } }
                val synced = first.last as SyncOutcome.Synced
                assertEquals(106, synced.result.pushed, "the first edit went with the sync's second exchange")
                assertEquals(1, a.crf.pendingSyncCount(), "the case edited after the last push waits for the next sync")

                b.crf.sync({}, CancelSignal())
                val seen = b.crf.viewCase(other, Lang.EN).valuesJson
                assertContains(seen, "\"value\":91")
                assertFalse("vs_rr" in seen, seen)

                // The next sync through the runner pushes the edit made during the last one.
                holding.holds = false
                runner.start()
                val second = withTimeout(60_000) { runner.run.first { it.finished == 2 } }
                assertEquals(1, (second.last as SyncOutcome.Synced).result.pushed)
                assertEquals(0, a.crf.pendingSyncCount())
                b.crf.sync({}, CancelSignal())
                assertContains(b.crf.viewCase(other, Lang.EN).valuesJson, "\"value\":22")
            }
        }
    }
}
