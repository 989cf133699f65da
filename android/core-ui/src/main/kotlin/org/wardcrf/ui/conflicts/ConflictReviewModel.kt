package org.wardcrf.ui.conflicts

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
import org.wardcrf.ui.form.Values
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Answer
import org.wardcrf.ui.store.FormSession
import org.wardcrf.ui.store.answerOf
import org.wardcrf.ui.store.field
import org.wardcrf.ui.store.sectionOf
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage
import java.time.ZoneId

/** One candidate value: what, who, when, on which device, and why. */
data class CandidateUi(
    /** The value as the store gave it, handed back unchanged to resolve with it. */
    val valueJson: String,
    /** The value as a person reads it (the core's wording, choice labels in the user's language). */
    val value: String,
    /** The reason given with this value, if any. */
    val reason: String?,
    val user: String,
    val time: String,
    val device: String,
    /** The first 8 hex digits of the device id, as tablets are labelled. */
    val deviceShort: String,
    val thisDevice: Boolean,
)

data class ConflictUi(
    val caseId: String,
    val caseLabel: String,
    val ref: FieldRef,
    val fieldLabel: String,
    val sectionLabel: String?,
    /** Side by side, oldest first. */
    val candidates: List<CandidateUi>,
    val selected: Int? = null,
    val reason: String = "",
    val resolving: Boolean = false,
) {
    val canResolve: Boolean get() = selected != null && reason.isNotBlank() && !resolving
}

data class ConflictReviewState(
    val loading: Boolean = true,
    val conflicts: List<ConflictUi> = emptyList(),
    val message: UiMessage? = null,
)

/**
 * Conflict review for a research nurse: every field edited on two devices, candidates side by
 * side with who entered them where and when, resolved with a chosen value and a reason. The
 * resolution settles the conflict on every device at its next sync.
 */
class ConflictReviewModel(
    private val store: CrfStore,
    /** One case, or every case when null. */
    private val caseId: String?,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
    private val zone: ZoneId = ZoneId.systemDefault(),
) {
    private val _state = MutableStateFlow(ConflictReviewState())
    val state: StateFlow<ConflictReviewState> = _state.asStateFlow()

    fun load(): Job = scope.launch {
        _state.update { it.copy(loading = true) }
        try {
            val items = withContext(io) { read() }
            _state.update { it.copy(loading = false, conflicts = items) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(loading = false, message = Messages.forError(e, lang)) }
        }
    }

    fun select(conflict: Int, candidate: Int) = edit(conflict) { it.copy(selected = candidate) }
    fun setReason(conflict: Int, reason: String) = edit(conflict) { it.copy(reason = reason) }

    private fun edit(index: Int, change: (ConflictUi) -> ConflictUi) {
        _state.update { s ->
            s.copy(conflicts = s.conflicts.mapIndexed { i, c -> if (i == index) change(c) else c })
        }
    }

    /** Resolves a conflict with the selected candidate and the reason given. */
    fun resolve(index: Int): Job = scope.launch {
        val c = _state.value.conflicts.getOrNull(index) ?: return@launch
        val chosen = c.selected?.let { c.candidates.getOrNull(it) } ?: return@launch
        if (c.reason.isBlank()) return@launch
        edit(index) { it.copy(resolving = true) }
        try {
            withContext(io) { store.resolve(c.caseId, c.ref, chosen.valueJson, c.reason.trim()) }
            val items = withContext(io) { read() }
            _state.update { it.copy(conflicts = items, message = Messages.info(MessageKey.RESOLVED, lang)) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            edit(index) { it.copy(resolving = false) }
            _state.update { it.copy(message = Messages.forError(e, lang)) }
        }
    }

    fun clearMessage() = _state.update { it.copy(message = null) }

    private fun read(): List<ConflictUi> {
        val me = store.deviceId
        val sessions = HashMap<String, FormSession>()
        return store.conflicts(caseId).map { conflict ->
            val session = sessions.getOrPut(conflict.caseId) { store.formSession(conflict.caseId, lang) }
            val field = session.field(conflict.path)
            val pseudonym = (session.answerOf(FieldRef(PSEUDONYM)) as? Answer.Text)?.text
            ConflictUi(
                caseId = conflict.caseId,
                caseLabel = pseudonym ?: conflict.caseId.take(8),
                ref = conflict.path,
                fieldLabel = field?.label ?: conflict.path.field,
                sectionLabel = session.sectionOf(conflict.path)?.label,
                candidates = conflict.candidates.sortedBy { it.time }.map { c ->
                    // The session words each candidate; a field the answers now hide is not
                    // in it, and its candidates show as stored.
                    val worded = field?.candidates?.firstOrNull { it.device == c.device && it.time == c.time }
                    CandidateUi(
                        valueJson = c.valueJson,
                        value = worded?.shown ?: c.valueJson,
                        reason = worded?.reason ?: c.reason,
                        user = c.user,
                        time = Values.time(c.time, lang, zone),
                        device = c.device,
                        deviceShort = c.device.take(8),
                        thisDevice = c.device == me,
                    )
                },
            )
        }
    }

    private companion object {
        /** The form field that holds the study pseudonym. */
        const val PSEUDONYM = "case_id"
    }
}
