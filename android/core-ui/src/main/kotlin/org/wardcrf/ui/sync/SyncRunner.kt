package org.wardcrf.ui.sync

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult

/** How one sync attempt ended. */
sealed interface SyncOutcome {
    data class Synced(val result: SyncResult) : SyncOutcome
    data class Failed(val failure: SyncFailure) : SyncOutcome {
        val action: SyncAction get() = SyncPolicy.actionFor(failure)
    }
}

enum class RunState {
    IDLE,
    RUNNING,

    /** Asked to stop: it stops after the exchange in flight. */
    CANCELLING,

    /** The last attempt failed and another is scheduled (back-off, network, sign-in). */
    WAITING_TO_RETRY,
}

/** The app's sync as a screen follows it, wherever it runs. */
data class SyncRun(
    val state: RunState = RunState.IDLE,
    /** Counts after the last exchange of the current (or last) attempt. */
    val progress: SyncCounts? = null,
    /** How the last finished attempt ended; null before the first. */
    val last: SyncOutcome? = null,
    /** How many attempts have finished: a screen waits for it to grow. */
    val finished: Int = 0,
)

/**
 * Runs the app's sync outside any screen. On Android it is WorkManager (`SyncWorker`, periodic
 * and on demand); [InProcessSyncRunner] runs it in a long-lived scope. A screen starts, cancels
 * and follows it; leaving the screen does not stop it.
 */
interface SyncRunner {
    val run: StateFlow<SyncRun>

    /** Starts a sync now, unless one runs already. */
    fun start()

    /** Asks the running sync to stop after the exchange in flight. */
    fun cancel()
}

/**
 * One sync attempt, as every runner does it: the store's sync, its failure classified (an
 * unexpected exception is [SyncFailure.OTHER]: a background sync never crashes the app).
 */
object SyncJob {
    fun run(store: CrfStore, cancel: CancelSignal, onProgress: (SyncCounts) -> Unit): SyncOutcome = try {
        SyncOutcome.Synced(store.sync(onProgress, cancel))
    } catch (e: Exception) {
        SyncOutcome.Failed(SyncPolicy.failureOf(e))
    }
}

/**
 * Runs syncs on [io] in [scope], a scope that outlives the screens (the application's): the
 * runner a JVM test or a process without WorkManager uses.
 */
class InProcessSyncRunner(
    private val store: CrfStore,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
) : SyncRunner {
    private val _run = MutableStateFlow(SyncRun())
    override val run: StateFlow<SyncRun> = _run.asStateFlow()

    @Volatile
    private var signal: CancelSignal? = null

    @Synchronized
    override fun start() {
        val now = _run.value.state
        if (now == RunState.RUNNING || now == RunState.CANCELLING) return
        val cancel = CancelSignal().also { signal = it }
        _run.update { it.copy(state = RunState.RUNNING, progress = null) }
        scope.launch(io) {
            val outcome = SyncJob.run(store, cancel) { p -> _run.update { it.copy(progress = p) } }
            _run.update { it.copy(state = RunState.IDLE, last = outcome, finished = it.finished + 1) }
        }
    }

    override fun cancel() {
        val cancel = signal ?: return
        var asked = false
        _run.update {
            asked = it.state == RunState.RUNNING
            if (asked) it.copy(state = RunState.CANCELLING) else it
        }
        if (asked) cancel.cancel()
    }
}
