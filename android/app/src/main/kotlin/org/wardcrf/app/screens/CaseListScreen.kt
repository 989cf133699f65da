package org.wardcrf.app.screens

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.horizontalScroll
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.selection.toggleable
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.Add
import androidx.compose.material.icons.filled.MoreVert
import androidx.compose.material.icons.filled.ReportProblem
import androidx.compose.material.icons.filled.Person
import androidx.compose.material.icons.filled.Sync
import androidx.compose.material.icons.filled.CloudUpload
import androidx.compose.material.icons.filled.Warning
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Badge
import androidx.compose.material3.BadgedBox
import androidx.compose.material3.Checkbox
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ExtendedFloatingActionButton
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.wardcrf.app.WardApplication
import org.wardcrf.ui.sync.RunState
import kotlinx.coroutines.Dispatchers
import org.wardcrf.app.R
import org.wardcrf.app.ui.rememberModel
import org.wardcrf.ui.cases.CaseFilter
import org.wardcrf.ui.cases.CaseListModel
import org.wardcrf.ui.cases.CaseRow
import org.wardcrf.ui.staff.PinModel
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FormSummary

/** The ward's cases with status and conflict badges; new cases; ways to sync and review. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun CaseListScreen(
    store: CrfStore,
    user: String,
    onOpen: (String) -> Unit,
    onSync: () -> Unit,
    onConflicts: () -> Unit,
    onUser: () -> Unit,
) {
    val lang = currentLang()
    val model = rememberModel("cases") { scope -> CaseListModel(store, lang, scope, Dispatchers.IO) }
    val state by model.state.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    val syncRun by (LocalContext.current.applicationContext as WardApplication).syncRunner.run.collectAsStateWithLifecycle()
    val syncing = syncRun.state == RunState.RUNNING || syncRun.state == RunState.CANCELLING
    var creating by rememberSaveable { mutableStateOf(false) }
    // Back from form entry, sync or review, and after each background sync (which may have
    // brought cases): counts and badges may have changed.
    LaunchedEffect(syncRun.finished) { model.refresh() }
    MessageSnackbar(state.message, snackbar, model::clearMessage)
    // Set PIN / Remove PIN (overflow menu): errors show in the dialog, outcomes in the snackbar.
    val pinModel = rememberModel("pin") { scope -> PinModel(store, lang, scope, Dispatchers.IO) }
    val pinState by pinModel.state.collectAsStateWithLifecycle()
    var settingPin by rememberSaveable { mutableStateOf(false) }
    var menu by remember { mutableStateOf(false) }
    LaunchedEffect(pinState.done) { if (pinState.done) settingPin = false }
    if (!settingPin) MessageSnackbar(pinState.message, snackbar, pinModel::clearMessage)
    if (settingPin) {
        PinDialog(
            state = pinState,
            onSet = { password, pin, repeat -> pinModel.setPin(password, pin, repeat) },
            onDismiss = { settingPin = false; pinModel.clearMessage() },
        )
    }

    Scaffold(
        topBar = {
            TopAppBar(
                title = {
                    Column {
                        Text(stringResource(R.string.cases_title))
                        Text(stringResource(R.string.user_current, user), style = MaterialTheme.typography.labelMedium)
                    }
                },
                actions = {
                    IconButton(onClick = onUser) {
                        Icon(Icons.Default.Person, contentDescription = stringResource(R.string.action_user))
                    }
                    IconButton(onClick = onConflicts) {
                        Icon(Icons.Default.ReportProblem, contentDescription = stringResource(R.string.action_conflicts))
                    }
                    IconButton(onClick = onSync) {
                        // A sync running in the background (WorkManager) shows on the sync
                        // button; otherwise the count of cases not yet synced does.
                        val pending = state.pendingSync
                        when {
                            syncing -> BadgedBox(badge = { Badge() }) {
                                Icon(Icons.Default.Sync, contentDescription = stringResource(R.string.action_sync_running))
                            }
                            pending > 0 -> BadgedBox(badge = { Badge { Text(if (pending > 99) "99+" else pending.toString()) } }) {
                                Icon(Icons.Default.Sync, contentDescription = stringResource(R.string.action_sync_pending, pending))
                            }
                            else -> Icon(Icons.Default.Sync, contentDescription = stringResource(R.string.action_sync))
                        }
                    }
                    IconButton(onClick = { menu = true }) {
                        Icon(Icons.Default.MoreVert, contentDescription = stringResource(R.string.action_more))
                    }
                    DropdownMenu(expanded = menu, onDismissRequest = { menu = false }) {
                        DropdownMenuItem(
                            text = { Text(stringResource(R.string.pin_set_action)) },
                            onClick = { menu = false; pinModel.open(); settingPin = true },
                        )
                        DropdownMenuItem(
                            text = { Text(stringResource(R.string.pin_remove_action)) },
                            onClick = { menu = false; pinModel.removePin() },
                        )
                    }
                },
            )
        },
        floatingActionButton = {
            ExtendedFloatingActionButton(
                onClick = { creating = true },
                icon = { Icon(Icons.Default.Add, contentDescription = null) },
                text = { Text(stringResource(R.string.new_case)) },
            )
        },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        Column(Modifier.padding(padding).fillMaxSize()) {
            Row(
                Modifier.horizontalScroll(rememberScrollState()).padding(horizontal = 16.dp),
                horizontalArrangement = Arrangement.spacedBy(8.dp),
            ) {
                CaseFilter.entries.forEach { f ->
                    FilterChip(
                        selected = state.filter == f,
                        onClick = { model.setFilter(f) },
                        label = { Text(filterLabel(f)) },
                    )
                }
            }
            if (state.loading) LinearProgressIndicator(Modifier.fillMaxWidth())
            if (!state.loading && state.rows.isEmpty()) {
                Text(stringResource(R.string.no_cases), Modifier.padding(24.dp), style = MaterialTheme.typography.bodyLarge)
            }
            LazyColumn(Modifier.fillMaxSize()) {
                items(state.rows, key = { it.caseId }) { row ->
                    CaseListItem(row, onClick = { onOpen(row.caseId) })
                    HorizontalDivider()
                }
            }
        }
    }

    if (creating) {
        NewCaseDialog(
            forms = state.forms,
            modules = state.modules,
            onDismiss = { creating = false },
            onCreate = { form, modules ->
                creating = false
                model.create(form, modules, onCreated = onOpen)
            },
        )
    }
}

@Composable
private fun filterLabel(f: CaseFilter) = stringResource(
    when (f) {
        CaseFilter.ALL -> R.string.filter_all
        CaseFilter.DRAFT -> R.string.filter_draft
        CaseFilter.COMPLETE -> R.string.filter_complete
        CaseFilter.SIGNED -> R.string.filter_signed
        CaseFilter.CONFLICTS -> R.string.filter_conflicts
    },
)

@Composable
private fun CaseListItem(row: CaseRow, onClick: () -> Unit) {
    val conflictText = stringResource(R.string.badge_conflicts)
    val pendingText = stringResource(R.string.badge_not_synced)
    ListItem(
        modifier = Modifier.clickable(onClick = onClick),
        headlineContent = {
            Text(
                if (row.unlabelled) stringResource(R.string.case_unlabelled, row.label) else row.label,
                style = MaterialTheme.typography.titleMedium,
            )
        },
        supportingContent = {
            Column {
                Text(row.formTitle)
                Text(stringResource(R.string.case_updated, row.updated), style = MaterialTheme.typography.bodySmall)
                if (row.pendingSync) {
                    Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                        Icon(Icons.Default.CloudUpload, contentDescription = null, tint = MaterialTheme.colorScheme.onSurfaceVariant)
                        Text(pendingText, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.onSurfaceVariant)
                    }
                }
            }
        },
        trailingContent = {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                if (row.hasConflicts) {
                    Badge(
                        containerColor = MaterialTheme.colorScheme.tertiary,
                        modifier = Modifier.semantics { contentDescription = conflictText },
                    ) { Icon(Icons.Default.Warning, contentDescription = null) }
                }
                StatusBadge(row.status)
            }
        },
    )
}

@Composable
private fun NewCaseDialog(
    forms: List<FormSummary>,
    modules: Map<String, List<FormSummary>>,
    onDismiss: () -> Unit,
    onCreate: (String, List<String>) -> Unit,
) {
    var form by rememberSaveable { mutableStateOf(forms.firstOrNull()?.formId) }
    val chosen = remember { mutableStateListOf<String>() }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.new_case)) },
        text = {
            LazyColumn {
                item { Text(stringResource(R.string.new_case_form), style = MaterialTheme.typography.titleSmall) }
                items(forms, key = { it.formId }) { f ->
                    Row(
                        Modifier.fillMaxWidth()
                            .selectable(selected = form == f.formId, role = Role.RadioButton, onClick = {
                                form = f.formId
                                chosen.clear()
                            })
                            .padding(vertical = 4.dp),
                        verticalAlignment = Alignment.CenterVertically,
                    ) {
                        RadioButton(selected = form == f.formId, onClick = null)
                        Text(f.title, Modifier.padding(start = 8.dp))
                    }
                }
                val available = modules[form].orEmpty()
                if (available.isNotEmpty()) {
                    item {
                        Text(stringResource(R.string.new_case_modules), style = MaterialTheme.typography.titleSmall,
                            modifier = Modifier.padding(top = 12.dp))
                    }
                    items(available, key = { "m-" + it.formId }) { m ->
                        val on = m.formId in chosen
                        Row(
                            Modifier.fillMaxWidth()
                                .toggleable(value = on, role = Role.Checkbox, onValueChange = {
                                    if (it) chosen.add(m.formId) else chosen.remove(m.formId)
                                })
                                .padding(vertical = 4.dp),
                            verticalAlignment = Alignment.CenterVertically,
                        ) {
                            Checkbox(checked = on, onCheckedChange = null)
                            Text(m.title, Modifier.padding(start = 8.dp))
                        }
                    }
                }
            }
        },
        confirmButton = {
            TextButton(onClick = { form?.let { onCreate(it, chosen.toList()) } }, enabled = form != null) {
                Text(stringResource(R.string.create))
            }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } },
    )
}
