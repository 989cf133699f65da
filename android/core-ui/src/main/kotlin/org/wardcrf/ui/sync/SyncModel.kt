package org.wardcrf.ui.sync

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.EnrolmentInfo
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage

enum class SyncPhase { IDLE, RUNNING, CANCELLING, DONE, CANCELLED, FAILED }

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
 * Sync with the central repository: progress after each exchange, cancellation between
 * exchanges (nothing exchanged is lost), and each failure as a message that says what to do.
 */
class SyncModel(
    private val store: CrfStore,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
) {
    private val _state = MutableStateFlow(SyncState())
    val state: StateFlow<SyncState> = _state.asStateFlow()
    private var cancel: CancelSignal? = null

    fun refresh(): Job = scope.launch {
        val url = try {
            withContext(io) { store.serverUrl() }
        } catch (e: CrfError) {
            null
        }
        _state.update { it.copy(serverUrl = url, needsEnrolment = url == null) }
    }

    fun start(): Job {
        if (_state.value.running) return Job().apply { complete() }
        val signal = CancelSignal().also { cancel = it }
        _state.update { it.copy(phase = SyncPhase.RUNNING, progress = null, result = null, message = null) }
        return scope.launch {
            try {
                val result = withContext(io) {
                    store.sync(onProgress = { p -> _state.update { it.copy(progress = p) } }, cancel = signal)
                }
                _state.update {
                    it.copy(
                        phase = SyncPhase.DONE,
                        result = result,
                        message = Messages.info(MessageKey.SYNC_DONE, lang, result.pushed, result.pulled, result.conflicts),
                    )
                }
            } catch (e: CancellationException) {
                signal.cancel()
                throw e
            } catch (e: Exception) {
                val phase = if (e is CrfError.Cancelled) SyncPhase.CANCELLED else SyncPhase.FAILED
                _state.update {
                    it.copy(
                        phase = phase,
                        message = Messages.forError(e, lang),
                        needsEnrolment = e is CrfError.NotEnrolled || e is CrfError.Revoked,
                        canRetry = e is CrfError.Network || e is CrfError.Cancelled,
                    )
                }
            }
        }
    }

    /** Stops the running sync after the exchange in flight. */
    fun cancel() {
        val signal = cancel ?: return
        if (_state.value.phase == SyncPhase.RUNNING) {
            _state.update { it.copy(phase = SyncPhase.CANCELLING) }
            signal.cancel()
        }
    }
}

data class EnrolmentState(
    val serverUrl: String = "",
    val code: String = "",
    val busy: Boolean = false,
    val enrolled: EnrolmentInfo? = null,
    val message: UiMessage? = null,
) {
    val canSubmit: Boolean get() = !busy && serverUrl.isNotBlank() && code.isNotBlank()
}

/**
 * Enrolment: the repository's address and the one-time code from the site administrator. The
 * device token stays sealed in the store; the code is cleared once used.
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

    fun submit(): Job = scope.launch {
        val s = _state.value
        if (!s.canSubmit) return@launch
        _state.update { it.copy(busy = true, message = null) }
        try {
            val info = withContext(io) { store.enroll(s.serverUrl.trim(), s.code.trim()) }
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
