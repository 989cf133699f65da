package org.wardcrf.ui.form

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
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.FieldState
import org.wardcrf.ui.store.FormSession
import org.wardcrf.ui.store.HiddenChoice
import org.wardcrf.ui.store.HiddenValue
import org.wardcrf.ui.store.Issue
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.SectionProgress
import org.wardcrf.ui.store.SessionField
import org.wardcrf.ui.store.SessionGroup
import org.wardcrf.ui.store.SessionItem
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.store.field
import org.wardcrf.ui.store.sectionOf
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage

enum class Severity { NONE, MISSING, WARNING, ERROR }

/**
 * One field on screen: the core's [field] (label, kind, units, answer, state, messages) and
 * what the input shows: the unsaved draft, or the answer as entered.
 */
data class FieldUi(
    val field: SessionField,
    /** What the input shows: the draft, or the stored answer as it was entered. */
    val text: String,
    /** The unit a number is entered in (UCUM code), among [SessionField.units]. */
    val unit: String?,
    val dirty: Boolean,
    /** The typed text is not a value of this kind, or the core refused it. */
    val inputError: UiMessage?,
    /** The stored value for a person (`38.5 °C (entered 101.3 °F)`); null when empty. */
    val stored: String?,
) {
    val ref: FieldRef get() = this.field.ref

    /** Two devices entered different values: review it in conflict review. */
    val conflicted: Boolean get() = this.field.state == FieldState.CONFLICT

    val severity: Severity
        get() = when {
            inputError != null || this.field.state == FieldState.ERROR -> Severity.ERROR
            this.field.state == FieldState.NEEDS_REASON -> Severity.WARNING
            // Missing until something is typed (a draft is on its way to be saved).
            this.field.required && this.field.state == FieldState.EMPTY && !dirty -> Severity.MISSING
            else -> Severity.NONE
        }
}

data class RowUi(val rowId: String, val fields: List<FieldUi>)

sealed class EntryItem {
    data class Field(val field: FieldUi) : EntryItem()
    data class Group(val group: SessionGroup, val rows: List<RowUi>) : EntryItem() {
        val canAddRow: Boolean get() = group.canAddRow
    }
}

/** A section tab with its progress (from the core). */
data class SectionTab(val id: String, val label: String, val progress: SectionProgress) {
    val missing: Int get() = progress.required - progress.requiredAnswered
    val problems: Int get() = progress.problems
}

enum class ReasonKind {
    /** A value outside its expected range (a soft limit): the reason confirms it. */
    CONFIRM_WARNING,

    /** A change of an earlier entry, or any edit of a complete or signed case. */
    CHANGE,
    REMOVE_ROW,
    REOPEN,

    /** Clearing the values left in fields the answers now hide. */
    CLEAR_HIDDEN,
}

/** The reason dialog: what it is for, and the warnings it confirms (in the user's language). */
data class ReasonPrompt(
    val kind: ReasonKind,
    val ref: FieldRef?,
    val fieldLabel: String?,
    val warnings: List<String>,
    val reason: String = "",
    /** Submitted empty: the dialog says a reason is needed. */
    val blankRejected: Boolean = false,
)

/** A meaning a signer may choose, labelled in the model's language. */
data class MeaningChoice(val code: String, val label: String)

/**
 * The sign dialog: the signer types their password again (a PIN is not enough) and chooses
 * what the signature means.
 */
data class SignPrompt(val meanings: List<MeaningChoice>)

/**
 * The completion dialog when fields the answers now hide still hold values: keep them, or
 * clear them with a reason (one audited change), then complete.
 */
data class CompletePrompt(val hidden: List<HiddenValue>, val reason: String = "", val blankRejected: Boolean = false)

data class FormEntryState(
    val caseId: String,
    val loading: Boolean = true,
    val title: String = "",
    val status: Status = Status.DRAFT,
    /** The visible sections (a section the answers hide is not there). */
    val sections: List<SectionTab> = emptyList(),
    val current: Int = 0,
    val items: List<EntryItem> = emptyList(),
    /** Values left in fields the answers now hide, offered for clearing. */
    val hiddenValues: List<HiddenValue> = emptyList(),
    /** The first required field still empty, for "next missing field". */
    val nextMissing: FieldRef? = null,
    /** The field the screen should bring into view (after a "next missing" jump). */
    val focus: FieldRef? = null,
    /** What blocks completion, in the user's language. */
    val completionProblems: List<Issue> = emptyList(),
    val canComplete: Boolean = false,
    val conflicts: Int = 0,
    val reasonPrompt: ReasonPrompt? = null,
    val signPrompt: SignPrompt? = null,
    val completePrompt: CompletePrompt? = null,
    val busy: Boolean = false,
    val message: UiMessage? = null,
)

/**
 * Form entry of one case over the core's form session: the visible sections, fields with their
 * state and messages, rows, hidden values, progress and the next missing field all come from
 * the core ([CrfStore.formSession]); every save returns the new session. This model keeps only
 * what the clinician typed but has not saved (drafts, handed to [keeper] so that they survive
 * process death) and the dialogs: a reason for a soft warning, a change of an earlier entry, a
 * row removal, a reopening and clearing hidden values; keep or clear hidden values on
 * completion; the signature.
 *
 * [scope] must run on one thread (Android's main dispatcher, or a test's `runBlocking`); store
 * calls run on [io]. Actions return their [Job] so that callers and tests can wait for them.
 */
class FormEntryModel(
    private val store: CrfStore,
    val caseId: String,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
    /** Keeps unsaved drafts across process death (the screen's saved state). */
    private val keeper: DraftKeeper = DraftKeeper.NONE,
) {
    private val _state = MutableStateFlow(FormEntryState(caseId))
    val state: StateFlow<FormEntryState> = _state.asStateFlow()

    private var session: FormSession? = null
    private val drafts = LinkedHashMap<FieldRef, Draft>()
    private val inputErrors = HashMap<FieldRef, UiMessage>()

    /** The section on screen, by id: an answer that shows or hides a section keeps it there. */
    private var currentId: String? = null

    fun load(): Job = scope.launch {
        _state.update { it.copy(loading = true) }
        try {
            session = withContext(io) { store.formSession(caseId, lang) }
            restoreDrafts()
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(message = Messages.forError(e, lang)) }
        } finally {
            _state.update { it.copy(loading = false) }
            render()
        }
    }

    /** Drafts typed before the app was killed, back in their (still visible) fields. */
    private fun restoreDrafts() {
        for (k in keeper.restore()) {
            val ref = k.ref ?: continue
            val field = field(ref) ?: continue
            val draft = Draft(k.text, k.unit)
            drafts[ref] = draft
            checkInput(field, draft)
        }
    }

    private fun keepDrafts() {
        keeper.keep(drafts.map { (ref, d) -> KeptDraft(KeptDraft.keyOf(ref), d.text, d.unit) })
    }

    fun selectSection(index: Int) {
        val sections = session?.sections.orEmpty()
        val i = index.coerceIn(0, (sections.size - 1).coerceAtLeast(0))
        currentId = sections.getOrNull(i)?.id
        _state.update { it.copy(current = i, focus = null) }
        render()
    }

    fun nextSection() = selectSection(_state.value.current + 1)
    fun previousSection() = selectSection(_state.value.current - 1)

    /** Opens the section of the next required field still empty and brings it into view. */
    fun goToNextMissing() {
        val s = session ?: return
        val ref = s.nextMissing ?: return
        val index = s.sections.indexOf(s.sectionOf(ref))
        if (index < 0) return
        currentId = s.sections[index].id
        _state.update { it.copy(current = index) }
        render()
        _state.update { it.copy(focus = ref) }
    }

    /** The user typed into a field: kept as a draft (the number kinds are checked as typed). */
    fun edit(ref: FieldRef, text: String): Job {
        val field = field(ref) ?: return done()
        val draft = (drafts[ref] ?: Drafts.of(field)).copy(text = text)
        drafts[ref] = draft
        checkInput(field, draft)
        keepDrafts()
        render()
        return done()
    }

    /** The user picked the unit a number is entered in. */
    fun selectUnit(ref: FieldRef, unit: String): Job {
        val field = field(ref) ?: return done()
        drafts[ref] = (drafts[ref] ?: Drafts.of(field)).copy(unit = unit)
        keepDrafts()
        render()
        return done()
    }

    /** Forgets a draft, showing the stored answer again. */
    fun discard(ref: FieldRef) {
        drafts.remove(ref)
        inputErrors.remove(ref)
        keepDrafts()
        render()
    }

    private fun checkInput(field: SessionField, draft: Draft) {
        val input = Drafts.read(field, draft)
        if (input is Input.Invalid) inputErrors[field.ref] = Messages.error(input.key, lang) else inputErrors.remove(field.ref)
    }

    /** Saves a field's draft; a warning or a change asks for a reason first. */
    fun commit(ref: FieldRef): Job = scope.launch { save(ref, reason = null) }

    /** Saves every draft, one by one, stopping at the first prompt or refusal. */
    fun commitAll(): Job = scope.launch {
        for (ref in drafts.keys.toList()) {
            save(ref, reason = null)
            if (_state.value.reasonPrompt != null || drafts.containsKey(ref)) break
        }
    }

    private suspend fun save(ref: FieldRef, reason: String?) {
        val field = field(ref) ?: return
        val draft = drafts[ref] ?: return
        val input = Drafts.read(field, draft)
        if (input is Input.Invalid) {
            inputErrors[ref] = Messages.error(input.key, lang)
            render()
            return
        }
        val value = input as? Input.Value
        busy(true)
        try {
            session = withContext(io) { store.setAnswer(caseId, ref, value?.answer, lang, value?.unit, reason) }
            drafts.remove(ref)
            inputErrors.remove(ref)
            keepDrafts()
            _state.update { it.copy(reasonPrompt = null, message = null) }
        } catch (e: CrfError.NeedsConfirmation) {
            prompt(ReasonKind.CONFIRM_WARNING, ref, field.label, Drafts.warnings(field, e.codes, lang), reason)
        } catch (e: CrfError.ReasonRequired) {
            prompt(ReasonKind.CHANGE, ref, field.label, emptyList(), reason)
        } catch (e: CrfError.Rejected) {
            val message = Messages.forError(e, lang)
            inputErrors[ref] = message
            _state.update { it.copy(message = message) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(message = Messages.forError(e, lang)) }
        } finally {
            busy(false)
            render()
        }
    }

    private fun prompt(kind: ReasonKind, ref: FieldRef?, label: String?, warnings: List<String>, tried: String?) {
        _state.update { it.copy(reasonPrompt = ReasonPrompt(kind, ref, label, warnings, reason = tried ?: "")) }
    }

    fun setReason(text: String) {
        _state.update { s -> s.copy(reasonPrompt = s.reasonPrompt?.copy(reason = text, blankRejected = false)) }
    }

    /** Carries out what the reason dialog was for, with its reason. */
    fun submitReason(): Job = scope.launch {
        val p = _state.value.reasonPrompt ?: return@launch
        val reason = p.reason.trim()
        if (reason.isEmpty()) {
            _state.update { it.copy(reasonPrompt = p.copy(blankRejected = true)) }
            return@launch
        }
        when (p.kind) {
            ReasonKind.CONFIRM_WARNING, ReasonKind.CHANGE -> save(p.ref!!, reason)
            ReasonKind.REMOVE_ROW -> act {
                store.removeRow(caseId, p.ref!!.group!!, p.ref.rowId!!, reason)
                store.formSession(caseId, lang) to null
            }
            ReasonKind.REOPEN -> act {
                store.setStatus(caseId, Status.DRAFT, reason)
                store.formSession(caseId, lang) to Messages.info(MessageKey.STATUS_CHANGED, lang)
            }
            ReasonKind.CLEAR_HIDDEN -> act { store.clearHidden(caseId, reason, lang) to null }
        }
    }

    fun dismissReason() {
        _state.update { it.copy(reasonPrompt = null) }
    }

    fun addRow(group: String): Job = scope.launch {
        act { store.addSessionRow(caseId, group, lang) to null }
    }

    /** Asks for the reason a row is removed (kept in the history). */
    fun removeRow(group: String, rowId: String) {
        val label = session?.sections?.flatMap { it.items }?.filterIsInstance<SessionItem.Group>()
            ?.firstOrNull { it.group.id == group }?.group?.label
        prompt(ReasonKind.REMOVE_ROW, FieldRef(group, group, rowId), label, emptyList(), null)
    }

    /** Asks for the reason the values left in hidden fields are cleared. */
    fun askToClearHidden() {
        if (_state.value.hiddenValues.isEmpty()) return
        prompt(ReasonKind.CLEAR_HIDDEN, null, null, emptyList(), null)
    }

    /**
     * Marks the case complete. With values left in hidden fields, the completion dialog asks
     * first whether to keep or clear them; when something is left the message counts it and
     * the state lists it ([FormEntryState.completionProblems]).
     */
    fun markComplete(): Job = scope.launch {
        val hidden = _state.value.hiddenValues
        // Asked only when nothing else blocks completion (else the problems come first).
        if (hidden.isNotEmpty() && _state.value.canComplete) {
            _state.update { it.copy(completePrompt = CompletePrompt(hidden)) }
            return@launch
        }
        complete(HiddenChoice.NoHiddenValues)
    }

    fun setCompleteReason(text: String) {
        _state.update { s -> s.copy(completePrompt = s.completePrompt?.copy(reason = text, blankRejected = false)) }
    }

    /** Completes keeping the values in hidden fields (they stay in the record, unseen). */
    fun completeKeepingHidden(): Job = scope.launch { complete(HiddenChoice.Keep) }

    /** Clears the values in hidden fields with the dialog's reason, then completes. */
    fun completeClearingHidden(): Job = scope.launch {
        val p = _state.value.completePrompt ?: return@launch
        val reason = p.reason.trim()
        if (reason.isEmpty()) {
            _state.update { it.copy(completePrompt = p.copy(blankRejected = true)) }
            return@launch
        }
        complete(HiddenChoice.Clear(reason))
    }

    fun dismissComplete() {
        _state.update { it.copy(completePrompt = null) }
    }

    private suspend fun complete(choice: HiddenChoice) {
        _state.update { it.copy(completePrompt = null) }
        act { store.complete(caseId, choice, lang) to Messages.info(MessageKey.STATUS_CHANGED, lang) }
    }

    /** Opens the sign dialog with the site's signature meanings. */
    fun askToSign(): Job = scope.launch {
        try {
            val meanings = withContext(io) { store.signatureMeanings() }
            _state.update { it.copy(signPrompt = SignPrompt(meanings.map { m -> MeaningChoice(m.code, m.label(lang)) })) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(message = Messages.forError(e, lang)) }
        }
    }

    fun dismissSign() {
        _state.update { it.copy(signPrompt = null) }
    }

    /**
     * Signs the case as the signed-in staff member with their [password] and a [meaning] code
     * from the dialog. A wrong password leaves the dialog open with the message.
     */
    fun sign(password: String, meaning: String): Job = scope.launch {
        act {
            store.sign(caseId, password, meaning)
            store.formSession(caseId, lang) to Messages.info(MessageKey.SIGNED, lang)
        }
        if (_state.value.status == Status.SIGNED) _state.update { it.copy(signPrompt = null) }
    }

    /** Asks for the reason a complete or signed case goes back to draft. */
    fun reopen() {
        prompt(ReasonKind.REOPEN, null, null, emptyList(), null)
    }

    fun clearMessage() {
        _state.update { it.copy(message = null) }
    }

    /** Runs a store call that returns the new session (and a message), on [io]. */
    private suspend fun act(call: () -> Pair<FormSession, UiMessage?>) {
        busy(true)
        try {
            val (next, message) = withContext(io) { call() }
            session = next
            _state.update { it.copy(reasonPrompt = null, message = message) }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(message = Messages.forError(e, lang)) }
            // What blocks completion is in the session: show the current one.
            if (e is CrfError.NotComplete || e is CrfError.HiddenValuesPending) {
                runCatching { withContext(io) { store.formSession(caseId, lang) } }.getOrNull()?.let { session = it }
            }
            // Hidden values the screen did not know of: ask about them now.
            if (e is CrfError.HiddenValuesPending) {
                val hidden = session?.hiddenValues.orEmpty()
                if (hidden.isNotEmpty()) _state.update { it.copy(completePrompt = CompletePrompt(hidden), message = null) }
            }
        } finally {
            busy(false)
            render()
        }
    }

    private fun busy(on: Boolean) {
        _state.update { it.copy(busy = on) }
    }

    private fun done(): Job = Job().apply { complete() }

    // ---- the session as the screen shows it ----

    /** A visible field of the session. */
    private fun field(ref: FieldRef): SessionField? = session?.field(ref)

    private fun fieldUi(f: SessionField): FieldUi {
        val draft = drafts[f.ref]
        val shown = draft ?: Drafts.of(f)
        return FieldUi(
            f, shown.text, shown.unit,
            dirty = draft != null, inputError = inputErrors[f.ref], stored = Drafts.stored(f, lang),
        )
    }

    private fun render() {
        val s = session ?: return
        val current = s.sections.indexOfFirst { it.id == currentId }.takeIf { it >= 0 }
            ?: _state.value.current.coerceIn(0, (s.sections.size - 1).coerceAtLeast(0))
        currentId = s.sections.getOrNull(current)?.id
        val items = s.sections.getOrNull(current)?.items.orEmpty().map { item ->
            when (item) {
                is SessionItem.Field -> EntryItem.Field(fieldUi(item.field))
                is SessionItem.Group -> EntryItem.Group(
                    item.group,
                    item.group.rows.map { row -> RowUi(row.rowId, row.fields.map(::fieldUi)) },
                )
            }
        }
        _state.update {
            it.copy(
                title = s.title,
                status = s.status,
                sections = s.sections.map { sec -> SectionTab(sec.id, sec.label, sec.progress) },
                current = current,
                items = items,
                hiddenValues = s.hiddenValues,
                nextMissing = s.nextMissing,
                completionProblems = s.completionProblems,
                canComplete = s.canComplete,
                conflicts = s.conflicts,
            )
        }
    }
}
