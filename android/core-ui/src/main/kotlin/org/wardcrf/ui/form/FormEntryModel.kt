package org.wardcrf.ui.form

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.ui.json.Json
import org.wardcrf.ui.store.CaseDetail
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.FieldSpec
import org.wardcrf.ui.store.FormSpec
import org.wardcrf.ui.store.GroupSpec
import org.wardcrf.ui.store.Issue
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Problem
import org.wardcrf.ui.store.Report
import org.wardcrf.ui.store.SectionItem
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage

/** One problem on one field, as the form shows it (message in the user's language). */
data class FieldIssue(val code: Problem, val message: String, val severity: Severity, val confirmed: String?)

enum class Severity { NONE, MISSING, WARNING, ERROR }

/** One field on screen: its spec, what is typed, what is stored, and its live validation. */
data class FieldUi(
    val ref: FieldRef,
    val spec: FieldSpec,
    /** What the input shows: the unsaved draft, or what was entered when it was saved. */
    val text: String,
    /** The unit chosen (UCUM code) among [FieldSpec.unit] and [FieldSpec.altUnits]. */
    val unit: String?,
    /** The value as stored, for a person (`38.5 °C (entered 101.3 °F)`); null when empty. */
    val stored: String?,
    val dirty: Boolean,
    val issues: List<FieldIssue>,
    /** The typed text is not a value of this kind (e.g. not a number). */
    val inputError: UiMessage?,
    /** Two devices edited this field: review it in conflict review. */
    val conflicted: Boolean,
) {
    val severity: Severity
        get() = when {
            inputError != null || issues.any { it.severity == Severity.ERROR } -> Severity.ERROR
            issues.any { it.severity == Severity.WARNING && it.confirmed == null } -> Severity.WARNING
            issues.any { it.severity == Severity.MISSING } -> Severity.MISSING
            else -> Severity.NONE
        }
}

data class RowUi(val rowId: String, val fields: List<FieldUi>)

sealed class EntryItem {
    data class Field(val field: FieldUi) : EntryItem()
    data class Group(val spec: GroupSpec, val rows: List<RowUi>, val canAddRow: Boolean) : EntryItem()
}

/** A section tab with what is left in it. */
data class SectionTab(val id: String, val label: String, val errors: Int, val warnings: Int, val missing: Int)

enum class ReasonKind {
    /** A value outside its expected range (a soft limit): the reason confirms it. */
    CONFIRM_WARNING,

    /** A change of an earlier entry, or any edit of a complete or signed case. */
    CHANGE,
    REMOVE_ROW,
    REOPEN,
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

data class FormEntryState(
    val caseId: String,
    val loading: Boolean = true,
    val title: String = "",
    val status: Status = Status.DRAFT,
    val sections: List<SectionTab> = emptyList(),
    val current: Int = 0,
    val items: List<EntryItem> = emptyList(),
    val conflicts: Int = 0,
    val complete: Boolean = false,
    val reasonPrompt: ReasonPrompt? = null,
    val signPrompt: SignPrompt? = null,
    val busy: Boolean = false,
    val message: UiMessage? = null,
)

/**
 * Form entry of one case, section by section: drafts validated live against the form (the
 * core's own validation, messages in [lang]), saved field by field, with the reason dialog
 * for a soft warning, a change of an earlier entry, a row removal and a reopening.
 *
 * Unsaved drafts are handed to [keeper] as they change, and a model created again after the
 * app was killed (same case, same keeper) shows them again, unsaved.
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
    private val liveDelayMillis: Long = 250,
    /** Keeps unsaved drafts across process death (the screen's saved state). */
    private val keeper: DraftKeeper = DraftKeeper.NONE,
) {
    private val _state = MutableStateFlow(FormEntryState(caseId))
    val state: StateFlow<FormEntryState> = _state.asStateFlow()

    private var form: FormSpec? = null
    private var detail: CaseDetail? = null
    private var stored: Json.Obj = Json.Obj(emptyMap())
    private val drafts = LinkedHashMap<FieldRef, Draft>()
    private val inputErrors = HashMap<FieldRef, UiMessage>()
    private var live: Report? = null
    private var liveJob: Job? = null

    fun load(): Job = scope.launch {
        _state.value = _state.value.copy(loading = true)
        try {
            val (d, f) = withContext(io) {
                val d = store.viewCase(caseId, lang)
                d to store.formLayout(d.formId, d.modules, lang)
            }
            form = f
            accept(d)
            restoreDrafts()
        } catch (e: CrfError) {
            _state.value = _state.value.copy(message = Messages.forError(e, lang))
        } finally {
            _state.value = _state.value.copy(loading = false)
            render()
        }
    }

    /** Drafts typed before the app was killed, back in their fields, validated live again. */
    private suspend fun restoreDrafts() {
        val kept = keeper.restore().mapNotNull { k -> k.ref?.takeIf { spec(it) != null }?.let { it to Draft(k.text, k.unit) } }
        if (kept.isEmpty()) return
        for ((ref, draft) in kept) {
            drafts[ref] = draft
            val input = Values.read(spec(ref)!!, draft)
            if (input is Input.Invalid) inputErrors[ref] = Messages.error(input.key, lang)
        }
        validateNow()
    }

    private fun keepDrafts() {
        keeper.keep(drafts.map { (ref, d) -> KeptDraft(KeptDraft.keyOf(ref), d.text, d.unit) })
    }

    fun selectSection(index: Int) {
        _state.value = _state.value.copy(current = index.coerceIn(0, (form?.sections?.size ?: 1) - 1))
        render()
    }

    fun nextSection() = selectSection(_state.value.current + 1)
    fun previousSection() = selectSection(_state.value.current - 1)

    /** The user typed into a field: keep the draft and validate the case with it, live. */
    fun edit(ref: FieldRef, text: String): Job {
        val spec = spec(ref) ?: return Job().apply { complete() }
        val old = drafts[ref] ?: Values.draftOf(spec, storedValue(ref))
        drafts[ref] = old.copy(text = text)
        return changed(ref, spec)
    }

    /** The user picked the unit a number is entered in. */
    fun selectUnit(ref: FieldRef, unit: String): Job {
        val spec = spec(ref) ?: return Job().apply { complete() }
        val old = drafts[ref] ?: Values.draftOf(spec, storedValue(ref))
        drafts[ref] = old.copy(unit = unit)
        return changed(ref, spec)
    }

    /** Forgets a draft, showing the stored value again. */
    fun discard(ref: FieldRef) {
        drafts.remove(ref)
        inputErrors.remove(ref)
        keepDrafts()
        live = null
        render()
    }

    private fun changed(ref: FieldRef, spec: FieldSpec): Job {
        keepDrafts()
        val input = Values.read(spec, drafts.getValue(ref))
        if (input is Input.Invalid) inputErrors[ref] = Messages.error(input.key, lang) else inputErrors.remove(ref)
        render()
        liveJob?.cancel()
        return scope.launch {
            if (liveDelayMillis > 0) delay(liveDelayMillis)
            validateNow()
        }.also { liveJob = it }
    }

    private suspend fun validateNow() {
        val d = detail ?: return
        val values = withDrafts().toString()
        live = try {
            withContext(io) { store.validate(d.formId, d.modules, values, lang) }
        } catch (e: CrfError) {
            null
        }
        render()
    }

    /** Saves a field's draft; a warning or a change asks for a reason first. */
    fun commit(ref: FieldRef): Job = scope.launch { save(ref, reason = null) }

    /** Saves every draft of the current screen, one by one, stopping at the first prompt. */
    fun commitAll(): Job = scope.launch {
        for (ref in drafts.keys.toList()) {
            save(ref, reason = null)
            if (_state.value.reasonPrompt != null || drafts.containsKey(ref)) break
        }
    }

    private suspend fun save(ref: FieldRef, reason: String?) {
        val spec = spec(ref) ?: return
        val draft = drafts[ref] ?: return
        val input = Values.read(spec, draft)
        if (input is Input.Invalid) {
            inputErrors[ref] = Messages.error(input.key, lang)
            render()
            return
        }
        busy(true)
        try {
            withContext(io) {
                when (input) {
                    is Input.Value -> input.quantity?.let { (value, unit) ->
                        store.setQuantity(caseId, ref, value, unit, reason)
                    } ?: store.setValue(caseId, ref, input.json.toString(), reason)
                    else -> store.setValue(caseId, ref, "null", reason)
                }
            }
            drafts.remove(ref)
            inputErrors.remove(ref)
            keepDrafts()
            _state.value = _state.value.copy(reasonPrompt = null, message = null)
            reload()
        } catch (e: CrfError.NeedsConfirmation) {
            if (live == null) validateNow()
            val warnings = issuesOf(ref, live ?: detail?.report)
                .filter { it.severity == Severity.WARNING }.map { it.message }
            prompt(ReasonKind.CONFIRM_WARNING, ref, spec, warnings, reason)
        } catch (e: CrfError.ReasonRequired) {
            prompt(ReasonKind.CHANGE, ref, spec, emptyList(), reason)
        } catch (e: CrfError.Rejected) {
            validateNow()
            _state.value = _state.value.copy(message = Messages.forError(e, lang))
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.value = _state.value.copy(message = Messages.forError(e, lang))
        } finally {
            busy(false)
            render()
        }
    }

    private fun prompt(kind: ReasonKind, ref: FieldRef?, spec: FieldSpec?, warnings: List<String>, tried: String?) {
        _state.value = _state.value.copy(
            reasonPrompt = ReasonPrompt(kind, ref, spec?.label, warnings, reason = tried ?: ""),
        )
    }

    fun setReason(text: String) {
        val p = _state.value.reasonPrompt ?: return
        _state.value = _state.value.copy(reasonPrompt = p.copy(reason = text, blankRejected = false))
    }

    /** Carries out what the reason dialog was for, with its reason. */
    fun submitReason(): Job = scope.launch {
        val p = _state.value.reasonPrompt ?: return@launch
        val reason = p.reason.trim()
        if (reason.isEmpty()) {
            _state.value = _state.value.copy(reasonPrompt = p.copy(blankRejected = true))
            return@launch
        }
        when (p.kind) {
            ReasonKind.CONFIRM_WARNING, ReasonKind.CHANGE -> save(p.ref!!, reason)
            ReasonKind.REMOVE_ROW -> act {
                store.removeRow(caseId, p.ref!!.group!!, p.ref.rowId!!, reason)
                null
            }
            ReasonKind.REOPEN -> act {
                store.setStatus(caseId, Status.DRAFT, reason)
                Messages.info(MessageKey.STATUS_CHANGED, lang)
            }
        }
    }

    fun dismissReason() {
        _state.value = _state.value.copy(reasonPrompt = null)
    }

    fun addRow(group: String): Job = scope.launch {
        act {
            store.addRow(caseId, group)
            null
        }
    }

    /** Asks for the reason a row is removed (kept in the history). */
    fun removeRow(group: String, rowId: String) {
        _state.value = _state.value.copy(
            reasonPrompt = ReasonPrompt(ReasonKind.REMOVE_ROW, FieldRef(group, group, rowId), form?.let { groupLabel(it, group) }, emptyList()),
        )
    }

    /** Marks the case complete; when something is left the message counts it. */
    fun markComplete(): Job = scope.launch {
        act {
            store.setStatus(caseId, Status.COMPLETE)
            Messages.info(MessageKey.STATUS_CHANGED, lang)
        }
    }

    /** Opens the sign dialog with the site's signature meanings. */
    fun askToSign(): Job = scope.launch {
        try {
            val meanings = withContext(io) { store.signatureMeanings() }
            _state.value = _state.value.copy(signPrompt = SignPrompt(meanings.map { MeaningChoice(it.code, it.label(lang)) }))
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.value = _state.value.copy(message = Messages.forError(e, lang))
        }
    }

    fun dismissSign() {
        _state.value = _state.value.copy(signPrompt = null)
    }

    /**
     * Signs the case as the signed-in staff member with their [password] and a [meaning] code
     * from the dialog. A wrong password leaves the dialog open with the message.
     */
    fun sign(password: String, meaning: String): Job = scope.launch {
        act {
            store.sign(caseId, password, meaning)
            Messages.info(MessageKey.SIGNED, lang)
        }
        if (_state.value.status == Status.SIGNED) _state.value = _state.value.copy(signPrompt = null)
    }

    /** Asks for the reason a complete or signed case goes back to draft. */
    fun reopen() {
        _state.value = _state.value.copy(reasonPrompt = ReasonPrompt(ReasonKind.REOPEN, null, null, emptyList()))
    }

    fun clearMessage() {
        _state.value = _state.value.copy(message = null)
    }

    private suspend fun act(call: () -> UiMessage?) {
        busy(true)
        try {
            val message = withContext(io) { call() }
            _state.value = _state.value.copy(reasonPrompt = null, message = message)
            reload()
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.value = _state.value.copy(message = Messages.forError(e, lang))
        } finally {
            busy(false)
            render()
        }
    }

    private suspend fun reload() {
        accept(withContext(io) { store.viewCase(caseId, lang) })
    }

    private fun accept(d: CaseDetail) {
        detail = d
        stored = runCatching { Json.parse(d.valuesJson) as? Json.Obj }.getOrNull() ?: Json.Obj(emptyMap())
        live = null
        render()
    }

    private fun busy(on: Boolean) {
        _state.value = _state.value.copy(busy = on)
    }

    // ---- reading the form and the values ----

    private fun spec(ref: FieldRef): FieldSpec? = form?.fieldsById?.get(ref.field)

    private fun rows(group: String): List<Json.Obj> =
        (stored[group] as? Json.Arr)?.items?.filterIsInstance<Json.Obj>().orEmpty()

    private fun storedValue(ref: FieldRef): Json? =
        if (ref.group == null) stored[ref.field]
        else rows(ref.group).firstOrNull { (it["row_id"] as? Json.Str)?.value == ref.rowId }?.get(ref.field)

    /** The stored values with every readable draft applied: what the case would be. */
    private fun withDrafts(): Json.Obj {
        var values = stored
        for ((ref, draft) in drafts) {
            val spec = spec(ref) ?: continue
            val json = when (val input = Values.read(spec, draft)) {
                is Input.Value -> input.json
                Input.Empty -> null
                is Input.Invalid -> continue
            }
            values = if (ref.group == null) {
                values.with(ref.field, json)
            } else {
                val updated = rows(ref.group).map { row ->
                    if ((row["row_id"] as? Json.Str)?.value == ref.rowId) row.with(ref.field, json) else row
                }
                values.with(ref.group, Json.Arr(updated))
            }
        }
        return values
    }

    private fun issuesOf(ref: FieldRef, report: Report?): List<FieldIssue> {
        if (report == null) return emptyList()
        fun List<Issue>.at(sev: Severity) =
            filter { it.field == ref.field && it.group == ref.group && it.rowId == ref.rowId }
                .map { FieldIssue(it.code, it.message, sev, it.confirmed) }
        return report.errors.at(Severity.ERROR) + report.warnings.at(Severity.WARNING) + report.missing.at(Severity.MISSING)
    }

    private fun groupLabel(f: FormSpec, group: String) = f.sections.flatMap { it.items }
        .filterIsInstance<SectionItem.GroupItem>().firstOrNull { it.group.id == group }?.group?.label

    private fun fieldUi(ref: FieldRef, spec: FieldSpec, report: Report?, conflicted: Set<FieldRef>): FieldUi {
        val value = storedValue(ref)
        val draft = drafts[ref]
        val shown = draft ?: Values.draftOf(spec, value)
        return FieldUi(
            ref = ref,
            spec = spec,
            text = shown.text,
            unit = shown.unit,
            stored = if (value == null || value == Json.Null) null else Values.display(spec, value, lang),
            dirty = draft != null,
            issues = issuesOf(ref, report),
            inputError = inputErrors[ref],
            conflicted = ref in conflicted,
        )
    }

    private fun render() {
        val f = form ?: return
        val d = detail ?: return
        val report = live ?: d.report
        val conflicted = d.conflicts.map { it.path }.toSet()
        val current = _state.value.current.coerceIn(0, (f.sections.size - 1).coerceAtLeast(0))
        val tabs = f.sections.map { s ->
            fun count(issues: List<Issue>) = issues.count { f.sectionOf(it.group ?: it.field)?.id == s.id }
            SectionTab(
                s.id, s.label,
                errors = count(report.errors),
                warnings = count(report.warnings.filter { it.confirmed == null }),
                missing = count(report.missing),
            )
        }
        val items = f.sections.getOrNull(current)?.items.orEmpty().map { item ->
            when (item) {
                is SectionItem.FieldItem -> EntryItem.Field(fieldUi(FieldRef(item.field.id), item.field, report, conflicted))
                is SectionItem.GroupItem -> {
                    val g = item.group
                    val rows = rows(g.id).mapNotNull { row ->
                        val rowId = (row["row_id"] as? Json.Str)?.value ?: return@mapNotNull null
                        RowUi(rowId, g.fields.map { fieldUi(FieldRef(it.id, g.id, rowId), it, report, conflicted) })
                    }
                    val editable = d.status == Status.DRAFT
                    EntryItem.Group(g, rows, canAddRow = editable && (g.maxRows == null || rows.size < g.maxRows))
                }
            }
        }
        _state.value = _state.value.copy(
            title = f.title,
            status = d.status,
            sections = tabs,
            current = current,
            items = items,
            conflicts = d.conflicts.size,
            complete = d.report.complete && d.conflicts.isEmpty(),
        )
    }
}
