package org.wardcrf.ui.cases

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.ui.form.Values
import org.wardcrf.ui.store.Answer
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.answerOf
import org.wardcrf.ui.store.CaseQuery
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FormSummary
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage
import java.time.ZoneId

enum class CaseFilter { ALL, DRAFT, COMPLETE, SIGNED, CONFLICTS }

/** A case in the ward's list. */
data class CaseRow(
    val caseId: String,
    /** The study pseudonym (`case_id` field) when entered, else the start of the case id. */
    val label: String,
    val formTitle: String,
    val modules: List<String>,
    val status: Status,
    val hasConflicts: Boolean,
    val errors: Int,
    val missing: Int,
    val updated: String,
)

data class CaseListState(
    val loading: Boolean = true,
    val filter: CaseFilter = CaseFilter.ALL,
    val rows: List<CaseRow> = emptyList(),
    /** Core forms a new case can be created with. */
    val forms: List<FormSummary> = emptyList(),
    /** Disease modules, by the core form they extend. */
    val modules: Map<String, List<FormSummary>> = emptyMap(),
    val serverUrl: String? = null,
    val message: UiMessage? = null,
)

/**
 * The ward's case list: status and conflict badges, what is left per case, a filter, and new
 * cases. Opening a case decrypts it (for the pseudonym and the counts): fine for a ward's
 * tens of cases.
 */
class CaseListModel(
    private val store: CrfStore,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
    private val zone: ZoneId = ZoneId.systemDefault(),
) {
    private val _state = MutableStateFlow(CaseListState())
    val state: StateFlow<CaseListState> = _state.asStateFlow()

    fun refresh(): Job = scope.launch {
        _state.value = _state.value.copy(loading = true)
        try {
            val filter = _state.value.filter
            val loaded = withContext(io) { load(filter) }
            _state.value = loaded.copy(filter = filter, message = _state.value.message)
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.value = _state.value.copy(loading = false, message = Messages.forError(e, lang))
        }
    }

    fun setFilter(filter: CaseFilter): Job {
        _state.value = _state.value.copy(filter = filter)
        return refresh()
    }

    /** Creates a case and hands its id to [onCreated] (to open form entry). */
    fun create(formId: String, modules: List<String> = emptyList(), onCreated: (String) -> Unit = {}): Job = scope.launch {
        try {
            val id = withContext(io) { store.createCase(formId, modules) }
            refresh().join()
            onCreated(id)
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            _state.value = _state.value.copy(message = Messages.forError(e, lang))
        }
    }

    fun clearMessage() {
        _state.value = _state.value.copy(message = null)
    }

    private fun load(filter: CaseFilter): CaseListState {
        val all = store.forms(lang)
        val titles = all.associate { it.formId to it.title }
        val query = when (filter) {
            CaseFilter.ALL -> CaseQuery()
            CaseFilter.DRAFT -> CaseQuery(status = Status.DRAFT)
            CaseFilter.COMPLETE -> CaseQuery(status = Status.COMPLETE)
            CaseFilter.SIGNED -> CaseQuery(status = Status.SIGNED)
            CaseFilter.CONFLICTS -> CaseQuery(withConflicts = true)
        }
        val rows = store.listCases(query).map { c ->
            val detail = store.viewCase(c.caseId, lang)
            val pseudonym = (store.formSession(c.caseId, lang).answerOf(FieldRef(PSEUDONYM)) as? Answer.Text)?.text
            CaseRow(
                caseId = c.caseId,
                label = pseudonym ?: c.caseId.take(8),
                formTitle = titles[c.formId] ?: c.formId,
                modules = detail.modules.map { titles[it] ?: it },
                status = c.status,
                hasConflicts = c.hasConflicts,
                errors = detail.report.errors.size,
                missing = detail.report.missing.size,
                updated = Values.time(c.updatedAt, lang, zone),
            )
        }
        return CaseListState(
            loading = false,
            rows = rows,
            forms = all.filter { it.extends == null },
            modules = all.filter { it.extends != null }.groupBy { it.extends!! },
            serverUrl = store.serverUrl(),
        )
    }

    private companion object {
        /** The form field that holds the study pseudonym. */
        const val PSEUDONYM = "case_id"
    }
}
