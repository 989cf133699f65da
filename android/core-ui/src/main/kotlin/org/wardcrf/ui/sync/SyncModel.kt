package org.wardcrf.ui.sync

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.transformWhile
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.EnrolmentInfo
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage

enum class SyncPhase {
    IDLE, RUNNING, CANCELLING, DONE, CANCELLED, FAILED,

    /** The last attempt failed; the app tries again by itself (back-off, network, sign-in). */
    WAITING,
}

data class SyncState(
    val serverUrl: String? = null,
    val phase: SyncPhase = SyncPhase.IDLE,
    val progress: SyncCounts? = null,
    val result: SyncResult? = null,
    val message: UiMessage? = null,
    /** Not enrolled, or revoked: the enrolment screen is the way on. */
    val needsEnrolment: Boolean = false,
    /** Trying again unchanged may work (network, cancelled). */
    val canRetry: Boolean = true,
) {
    val running: Boolean get() = phase == SyncPhase.RUNNING || phase == SyncPhase.CANCELLING

    /** Share of cases sent (0..1), or null before the first exchange reports. */
    val fraction: Float?
        get() = progress?.let { p ->
            val total = p.pushed + p.remaining
            if (total == 0) 1f else p.pushed.toFloat() / total
        }
}

/**
 * The Sync screen over the app's [SyncRunner]: progress after each exchange, cancellation
 * between exchanges (nothing exchanged is lost), and each failure as a message that says what
 * to do. The sync itself runs in the runner (WorkManager on Android), not in [scope]: leaving
 * the screen cancels only the following, and a screen opened later follows the same sync.
 */
class SyncModel(
    private val runner: SyncRunner,
    private val store: CrfStore,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
) {
    private val _state = MutableStateFlow(SyncState().following(runner.run.value))
    val state: StateFlow<SyncState> = _state.asStateFlow()

    /** Reads the enrolment, and follows a sync that runs already (started elsewhere) to its end. */
    fun refresh(): Job = scope.launch {
        val url = try {
            withContext(io) { store.serverUrl() }
        } catch (e: CrfError) {
            null
        }
        _state.update { it.copy(serverUrl = url, needsEnrolment = url == null) }
        follow(runner.run.value.finished, started = false)
    }

    /** Starts a sync (or joins the one running); the job ends when that attempt has ended. */
    fun start(): Job {
        val before = runner.run.value.finished
        runner.start()
        return scope.launch { follow(before, started = true) }
    }

    /** Stops the running sync after the exchange in flight. */
    fun cancel() = runner.cancel()

    private suspend fun follow(before: Int, started: Boolean) {
        runner.run
            .transformWhile { r ->
                emit(r)
                r.finished == before && (started || r.state == RunState.RUNNING || r.state == RunState.CANCELLING)
            }
            .collect { r -> _state.update { it.following(r) } }
    }

    private fun SyncState.following(r: SyncRun): SyncState {
        val last = r.last
        val phase = when (r.state) {
            RunState.RUNNING -> SyncPhase.RUNNING
            RunState.CANCELLING -> SyncPhase.CANCELLING
            RunState.WAITING_TO_RETRY -> SyncPhase.WAITING
            RunState.IDLE -> when {
                last == null -> SyncPhase.IDLE
                last is SyncOutcome.Synced -> SyncPhase.DONE
                (last as SyncOutcome.Failed).failure == SyncFailure.CANCELLED -> SyncPhase.CANCELLED
                else -> SyncPhase.FAILED
            }
        }
        if (phase == SyncPhase.RUNNING || phase == SyncPhase.CANCELLING) {
            return copy(phase = phase, progress = r.progress, result = null, message = null)
        }
        return when (last) {
            null -> copy(phase = phase, progress = r.progress)
            is SyncOutcome.Synced -> copy(
                phase = phase,
                progress = r.progress,
                result = last.result,
                message = Messages.info(MessageKey.SYNC_DONE, lang, last.result.pushed, last.result.pulled, last.result.conflicts),
                needsEnrolment = false,
                canRetry = true,
            )
            is SyncOutcome.Failed -> copy(
                phase = phase,
                progress = r.progress,
                result = null,
                message = SyncPolicy.message(last.failure, lang),
                needsEnrolment = SyncPolicy.needsEnrolment(last.failure),
                canRetry = SyncPolicy.canRetry(last.failure),
            )
        }
    }
}

/** How the tablet is enrolled: the console's QR code read by the camera, or the code typed. */
enum class EnrolmentMode { SCAN, TYPE }

data class EnrolmentState(
    val mode: EnrolmentMode = EnrolmentMode.SCAN,
    /** In [EnrolmentMode.SCAN]: the camera looks for a code (until one is read, and again on "scan again"). */
    val scanning: Boolean = true,
    val serverUrl: String = "",
    val code: String = "",
    val busy: Boolean = false,
    val enrolled: EnrolmentInfo? = null,
    val message: UiMessage? = null,
) {
    val canSubmit: Boolean get() = !busy && serverUrl.isNotBlank() && code.isNotBlank()

    /** A read code failed (or none was read yet): the camera may look again. */
    val canScanAgain: Boolean get() = mode == EnrolmentMode.SCAN && !scanning && !busy && enrolled == null
}

/**
 * Enrolment: the console's QR code read by the camera (address, one-time code and the
 * repository's certificate fingerprint, which the store pins), or the repository's address and
 * the one-time code from the site administrator typed. The device token stays sealed in the
 * store; the code is cleared once used, and a scanned code is never kept in the state.
 */
class EnrolmentModel(
    private val store: CrfStore,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
) {
    private val _state = MutableStateFlow(EnrolmentState())
    val state: StateFlow<EnrolmentState> = _state.asStateFlow()

    fun setServerUrl(url: String) = _state.update { it.copy(serverUrl = url, message = null) }
    fun setCode(code: String) = _state.update { it.copy(code = code, message = null) }

    /** The camera is refused or the code cannot be read: the address and code are typed. */
    fun typeInstead() = _state.update { it.copy(mode = EnrolmentMode.TYPE, scanning = false, message = null) }

    /** Back to the camera from the typed form. */
    fun scanInstead() = _state.update { it.copy(mode = EnrolmentMode.SCAN, scanning = true, message = null) }

    /** After a failed scan, the camera looks again (the message stays until a code is read). */
    fun scanAgain() = _state.update { if (it.canScanAgain) it.copy(scanning = true) else it }

    /** Enrols with the typed address and code. */
    fun submit(): Job = scope.launch {
        val s = _state.value
        if (!s.canSubmit) return@launch
        enrol { store.enroll(s.serverUrl.trim(), s.code.trim()) }
    }

    /**
     * Enrols with the text of a QR code the camera read (once: the camera stops looking until
     * [scanAgain]). Not an enrolment code, or a repository whose certificate is not the one the
     * code names: a message, and nothing is kept.
     */
    fun scanned(payload: String): Job = scope.launch {
        val s = _state.value
        if (s.mode != EnrolmentMode.SCAN || !s.scanning || s.busy) return@launch
        _state.update { it.copy(scanning = false) }
        enrol { store.enrollWithQr(payload.trim()) }
    }

    private suspend fun enrol(call: () -> EnrolmentInfo) {
        _state.update { it.copy(busy = true, message = null) }
        try {
            val info = withContext(io) { call() }
            _state.update {
                it.copy(busy = false, enrolled = info, code = "", serverUrl = info.serverUrl,
                    message = Messages.info(MessageKey.ENROLLED, lang, info.siteId))
            }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(busy = false, message = Messages.forError(e, lang)) }
        }
    }
}
