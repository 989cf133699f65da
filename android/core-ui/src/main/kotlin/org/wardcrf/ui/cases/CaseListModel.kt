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
    /**
     * The case's label from the fields its form designates (study case ID, hospital record
     * number, admission date) when one is answered, else the start of the case id.
     */
    val label: String,
    /** Whether [label] is the start of the case id (no designated field answered yet). */
    val unlabelled: Boolean,
    val formTitle: String,
    val status: Status,
    val hasConflicts: Boolean,
    val conflicts: Int,
    /** Not yet synced: the repository does not hold the case as it is here. */
    val pendingSync: Boolean,
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
    /** Cases not yet synced, on the whole tablet (whatever the filter): the sync button's count. */
    val pendingSync: Int = 0,
    val message: UiMessage? = null,
)

/**
 * The ward's case list: each case's label, status, conflict and "not yet synced" badges, the
 * count of cases not yet synced, a filter, and new cases. No case is opened for the list: the
 * store keeps each case's label sealed beside it.
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
            CaseRow(
                caseId = c.caseId,
                label = c.label.ifEmpty { c.caseId.take(8) },
                unlabelled = c.label.isEmpty(),
                formTitle = titles[c.formId] ?: c.formId,
                status = c.status,
                hasConflicts = c.hasConflicts,
                conflicts = c.conflicts,
                pendingSync = c.pendingSync,
                updated = Values.time(c.updatedAt, lang, zone),
            )
        }
        return CaseListState(
            loading = false,
            rows = rows,
            forms = all.filter { it.extends == null },
            modules = all.filter { it.extends != null }.groupBy { it.extends!! },
            serverUrl = store.serverUrl(),
            pendingSync = store.pendingSyncCount(),
        )
    }
}
