package org.wardcrf.app.screens

import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.RadioButton
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import org.wardcrf.ui.form.SignPrompt
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.material3.CardDefaults
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.liveRegion
import org.wardcrf.ui.form.CompletePrompt
import org.wardcrf.ui.store.HiddenValue
import org.wardcrf.ui.store.Issue
import org.wardcrf.ui.text.MessageKey
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.automirrored.filled.NavigateBefore
import androidx.compose.material.icons.automirrored.filled.NavigateNext
import androidx.compose.material.icons.filled.Add
import androidx.compose.material.icons.filled.Delete
import androidx.compose.material.icons.filled.MoreVert
import androidx.compose.material.icons.filled.ReportProblem
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.BadgedBox
import androidx.compose.material3.Badge
import androidx.compose.material3.BottomAppBar
import androidx.compose.material3.Card
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.ScrollableTabRow
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Tab
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import org.wardcrf.app.R
import org.wardcrf.app.ui.SavedStateDraftKeeper
import org.wardcrf.app.ui.rememberSavingModel
import org.wardcrf.ui.form.EntryItem
import org.wardcrf.ui.form.FieldUi
import org.wardcrf.ui.form.FormEntryModel
import org.wardcrf.ui.form.ReasonKind
import org.wardcrf.ui.form.ReasonPrompt
import org.wardcrf.ui.form.SectionTab
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.Status

/**
 * Form entry of one case, rendered from the core's form session: the sections and fields the
 * answers show (a section or field the answers hide is not there), each field's state and
 * messages after every save, section progress, "next missing field", values left in hidden
 * fields with a "clear" action, a reason dialog for unusual values and changes, repeating rows,
 * completion (asking keep or clear for hidden values) and the signature.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun FormEntryScreen(store: CrfStore, caseId: String, onBack: () -> Unit, onConflicts: () -> Unit) {
    val lang = currentLang()
    // Typed-but-unsaved input is kept in the screen's saved state: it survives the process.
    val model = rememberSavingModel("case-$caseId") { scope, saved ->
        FormEntryModel(store, caseId, lang, scope, Dispatchers.IO, keeper = SavedStateDraftKeeper(saved))
    }
    val state by model.state.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    var menu by remember { mutableStateOf(false) }
    LaunchedEffect(caseId) { model.load() }
    // After a completion that something blocked, what is left shows above the fields.
    var showProblems by rememberSaveable { mutableStateOf(false) }
    LaunchedEffect(state.message) { if (state.message?.key == MessageKey.NOT_COMPLETE) showProblems = true }
    MessageSnackbar(state.message, snackbar, model::clearMessage)
    // "Next missing field" opens its section and scrolls to it.
    val list = rememberLazyListState()
    LaunchedEffect(state.focus, state.items) {
        val focus = state.focus ?: return@LaunchedEffect
        val index = state.items.indexOfFirst { item ->
            when (item) {
                is EntryItem.Field -> item.field.ref == focus
                is EntryItem.Group -> item.rows.any { r -> r.fields.any { it.ref == focus } }
            }
        }
        if (index >= 0) list.animateScrollToItem(index)
    }
    val editable = state.status == Status.DRAFT

    Scaffold(
        topBar = {
            TopAppBar(
                navigationIcon = { BackButton(onBack) },
                title = {
                    Column {
                        Text(state.title, maxLines = 1)
                        Text(statusText(state.status), style = MaterialTheme.typography.labelMedium)
                    }
                },
                actions = {
                    if (state.conflicts > 0) {
                        val text = stringResource(R.string.review_conflicts, state.conflicts)
                        IconButton(onClick = onConflicts, modifier = Modifier.semantics { contentDescription = text }) {
                            BadgedBox(badge = { Badge { Text(state.conflicts.toString()) } }) {
                                Icon(Icons.Default.ReportProblem, contentDescription = null)
                            }
                        }
                    }
                    IconButton(onClick = { menu = true }) {
                        Icon(Icons.Default.MoreVert, contentDescription = stringResource(R.string.status_menu))
                    }
                    DropdownMenu(expanded = menu, onDismissRequest = { menu = false }) {
                        if (state.status == Status.DRAFT) {
                            DropdownMenuItem(text = { Text(stringResource(R.string.mark_complete)) }, onClick = {
                                menu = false
                                model.markComplete()
                            })
                        }
                        if (state.status == Status.COMPLETE) {
                            DropdownMenuItem(text = { Text(stringResource(R.string.sign)) }, onClick = { menu = false; model.askToSign() })
                        }
                        if (state.status != Status.DRAFT) {
                            DropdownMenuItem(text = { Text(stringResource(R.string.reopen)) }, onClick = { menu = false; model.reopen() })
                        }
                    }
                },
            )
        },
        bottomBar = {
            BottomAppBar {
                TextButton(onClick = model::previousSection, enabled = state.current > 0) {
                    Icon(Icons.AutoMirrored.Filled.NavigateBefore, contentDescription = null)
                    Text(stringResource(R.string.section_previous))
                }
                Row(Modifier.weight(1f), horizontalArrangement = Arrangement.Center) {
                    if (state.nextMissing != null && editable) {
                        TextButton(onClick = model::goToNextMissing) { Text(stringResource(R.string.next_missing)) }
                    }
                }
                TextButton(onClick = model::nextSection, enabled = state.current < state.sections.size - 1) {
                    Text(stringResource(R.string.section_next))
                    Icon(Icons.AutoMirrored.Filled.NavigateNext, contentDescription = null)
                }
            }
        },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        Column(Modifier.padding(padding).fillMaxSize()) {
            if (state.sections.isNotEmpty()) {
                ScrollableTabRow(selectedTabIndex = state.current, edgePadding = 8.dp) {
                    state.sections.forEachIndexed { i, tab ->
                        SectionTabItem(tab, selected = i == state.current) { model.selectSection(i) }
                    }
                }
            }
            if (state.loading || state.busy) LinearProgressIndicator(Modifier.fillMaxWidth())
            state.sections.getOrNull(state.current)?.let {
                Text(
                    it.label,
                    style = MaterialTheme.typography.titleLarge,
                    modifier = Modifier.padding(start = 16.dp, top = 12.dp, end = 16.dp).semantics { heading() },
                )
            }
            // Values left in fields the answers now hide: shown, and offered for clearing.
            if (state.hiddenValues.isNotEmpty() && editable) {
                HiddenValuesCard(state.hiddenValues, onClear = model::askToClearHidden)
            }
            if (showProblems && state.completionProblems.isNotEmpty()) {
                CompletionProblemsCard(state.completionProblems, onDismiss = { showProblems = false })
            }
            LazyColumn(Modifier.fillMaxSize().padding(horizontal = 16.dp), state = list) {
                items(state.items, key = { item ->
                    when (item) {
                        is EntryItem.Field -> "f-" + item.field.field.id
                        is EntryItem.Group -> "g-" + item.group.id
                    }
                }) { item ->
                    when (item) {
                        is EntryItem.Field -> FieldInput(item.field, actionsFor(model, item.field, onConflicts), enabled = !state.busy)
                        is EntryItem.Group -> GroupCard(item, model, onConflicts, enabled = !state.busy && editable)
                    }
                }
            }
        }
    }

    state.completePrompt?.let { prompt ->
        CompleteDialog(
            prompt,
            busy = state.busy,
            onReason = model::setCompleteReason,
            onKeep = { model.completeKeepingHidden() },
            onClear = { model.completeClearingHidden() },
            onDismiss = model::dismissComplete,
        )
    }
    state.reasonPrompt?.let { prompt ->
        ReasonDialog(prompt, onReason = model::setReason, onSubmit = { model.submitReason() }, onDismiss = model::dismissReason)
    }
    state.signPrompt?.let { prompt ->
        SignDialog(prompt, busy = state.busy, onSign = { password, meaning -> model.sign(password, meaning) }, onDismiss = model::dismissSign)
    }
}

/**
 * The electronic signature: the signer types their password again (a PIN is not enough) and
 * chooses what the signature means from the site's meanings.
 */
@Composable
private fun SignDialog(prompt: SignPrompt, busy: Boolean, onSign: (String, String) -> Unit, onDismiss: () -> Unit) {
    var password by remember { mutableStateOf("") }
    var meaning by remember { mutableStateOf(prompt.meanings.firstOrNull()?.code) }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.sign_title)) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text(stringResource(R.string.sign_explain))
                prompt.meanings.forEach { m ->
                    Row(
                        Modifier.fillMaxWidth().selectable(selected = meaning == m.code, onClick = { meaning = m.code }, role = Role.RadioButton),
                        verticalAlignment = Alignment.CenterVertically,
                    ) {
                        RadioButton(selected = meaning == m.code, onClick = null)
                        Text(m.label, Modifier.padding(start = 8.dp))
                    }
                }
                OutlinedTextField(
                    value = password,
                    onValueChange = { password = it },
                    label = { Text(stringResource(R.string.signin_password)) },
                    singleLine = true,
                    visualTransformation = PasswordVisualTransformation(),
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
                )
            }
        },
        confirmButton = {
            TextButton(
                onClick = { meaning?.let { onSign(password, it) }; password = "" },
                enabled = !busy && password.isNotEmpty() && meaning != null,
            ) { Text(stringResource(R.string.sign)) }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } },
    )
}

private fun actionsFor(model: FormEntryModel, field: FieldUi, onConflicts: () -> Unit) = FieldActions(
    edit = { model.edit(field.ref, it) },
    selectUnit = { model.selectUnit(field.ref, it) },
    commit = { model.commit(field.ref) },
    discard = { model.discard(field.ref) },
    reviewConflict = onConflicts,
)

@Composable
private fun SectionTabItem(tab: SectionTab, selected: Boolean, onClick: () -> Unit) {
    val p = tab.progress
    val description = stringResource(R.string.section_progress, tab.label, p.requiredAnswered, p.required, tab.problems)
    Tab(
        selected = selected,
        onClick = onClick,
        modifier = Modifier.semantics { contentDescription = description },
        text = {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(6.dp)) {
                Text(tab.label, maxLines = 1)
                when {
                    tab.problems > 0 -> Badge(containerColor = MaterialTheme.colorScheme.error) { Text(tab.problems.toString()) }
                    tab.missing > 0 -> Badge(containerColor = MaterialTheme.colorScheme.secondaryContainer) { Text(tab.missing.toString()) }
                }
            }
        },
    )
}

@Composable
private fun GroupCard(group: EntryItem.Group, model: FormEntryModel, onConflicts: () -> Unit, enabled: Boolean) {
    Column(Modifier.fillMaxWidth().padding(vertical = 8.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(group.group.label, style = MaterialTheme.typography.titleMedium, modifier = Modifier.semantics { heading() })
        group.group.help?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
        if (group.rows.isEmpty()) Text(stringResource(R.string.no_rows), style = MaterialTheme.typography.bodyMedium)
        group.rows.forEachIndexed { index, row ->
            Card(Modifier.fillMaxWidth()) {
                Column(Modifier.padding(12.dp)) {
                    Row(verticalAlignment = Alignment.CenterVertically) {
                        Text(stringResource(R.string.row_title, index + 1), style = MaterialTheme.typography.titleSmall, modifier = Modifier.weight(1f))
                        IconButton(onClick = { model.removeRow(group.group.id, row.rowId) }, enabled = enabled) {
                            Icon(Icons.Default.Delete, contentDescription = stringResource(R.string.remove_row, index + 1))
                        }
                    }
                    row.fields.forEach { f -> FieldInput(f, actionsFor(model, f, onConflicts), enabled = enabled) }
                }
            }
        }
        if (group.canAddRow) {
            OutlinedButton(onClick = { model.addRow(group.group.id) }, enabled = enabled) {
                Icon(Icons.Default.Add, contentDescription = null)
                Text(stringResource(R.string.add_row, group.group.label), Modifier.padding(start = 8.dp))
            }
        }
    }
}

/** Asks the reason that confirms an unusual value, or explains a change, a removal, a reopening. */
@Composable
private fun ReasonDialog(prompt: ReasonPrompt, onReason: (String) -> Unit, onSubmit: () -> Unit, onDismiss: () -> Unit) {
    val title = stringResource(
        when (prompt.kind) {
            ReasonKind.CONFIRM_WARNING -> R.string.reason_title_warning
            ReasonKind.CHANGE -> R.string.reason_title_change
            ReasonKind.REMOVE_ROW -> R.string.reason_title_remove
            ReasonKind.REOPEN -> R.string.reason_title_reopen
            ReasonKind.CLEAR_HIDDEN -> R.string.reason_title_clear_hidden
        },
    )
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(title) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                prompt.fieldLabel?.let { Text(it, style = MaterialTheme.typography.titleSmall) }
                prompt.warnings.forEach { Text(it, color = MaterialTheme.colorScheme.tertiary) }
                if (prompt.kind == ReasonKind.CHANGE && prompt.fieldLabel != null) {
                    Text(stringResource(R.string.reason_explain_change, prompt.fieldLabel!!), style = MaterialTheme.typography.bodySmall)
                }
                OutlinedTextField(
                    value = prompt.reason,
                    onValueChange = onReason,
                    label = { Text(stringResource(R.string.reason_label)) },
                    isError = prompt.blankRejected,
                    supportingText = if (prompt.blankRejected) {
                        { Text(stringResource(R.string.reason_needed)) }
                    } else null,
                    minLines = 2,
                )
            }
        },
        confirmButton = { TextButton(onClick = onSubmit) { Text(stringResource(R.string.confirm)) } },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } },
    )
}

/** Values left in fields the current answers hide, with the action that clears them (with a reason). */
@Composable
private fun HiddenValuesCard(hidden: List<HiddenValue>, onClear: () -> Unit) {
    Card(
        colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.tertiaryContainer),
        modifier = Modifier.fillMaxWidth().padding(horizontal = 16.dp, vertical = 8.dp),
    ) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(stringResource(R.string.hidden_title, hidden.size), style = MaterialTheme.typography.titleSmall)
            Text(stringResource(R.string.hidden_explain), style = MaterialTheme.typography.bodySmall)
            hidden.forEach { Text("${it.label}: ${it.shown}", style = MaterialTheme.typography.bodyMedium) }
            TextButton(onClick = onClear) { Text(stringResource(R.string.hidden_clear)) }
        }
    }
}

/** What blocks completion, in the user's language (from the core's session). */
@Composable
private fun CompletionProblemsCard(problems: List<Issue>, onDismiss: () -> Unit) {
    Card(
        colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer),
        modifier = Modifier.fillMaxWidth().padding(horizontal = 16.dp, vertical = 8.dp)
            .semantics { liveRegion = LiveRegionMode.Polite },
    ) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(stringResource(R.string.complete_problems, problems.size), style = MaterialTheme.typography.titleSmall)
            problems.take(MAX_PROBLEMS_SHOWN).forEach { Text("• ${it.message}", style = MaterialTheme.typography.bodySmall) }
            if (problems.size > MAX_PROBLEMS_SHOWN) {
                Text(stringResource(R.string.complete_problems_more, problems.size - MAX_PROBLEMS_SHOWN), style = MaterialTheme.typography.bodySmall)
            }
            TextButton(onClick = onDismiss) { Text(stringResource(R.string.dismiss)) }
        }
    }
}

private const val MAX_PROBLEMS_SHOWN = 8

/**
 * Completing a case while fields the answers hide still hold values: keep them (they stay in
 * the record) or clear them with a reason, as one audited change, then complete.
 */
@Composable
private fun CompleteDialog(
    prompt: CompletePrompt,
    busy: Boolean,
    onReason: (String) -> Unit,
    onKeep: () -> Unit,
    onClear: () -> Unit,
    onDismiss: () -> Unit,
) {
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.complete_hidden_title)) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text(stringResource(R.string.complete_hidden_explain))
                prompt.hidden.forEach { Text("${it.label}: ${it.shown}", style = MaterialTheme.typography.bodyMedium) }
                OutlinedTextField(
                    value = prompt.reason,
                    onValueChange = onReason,
                    label = { Text(stringResource(R.string.complete_hidden_reason)) },
                    isError = prompt.blankRejected,
                    supportingText = if (prompt.blankRejected) {
                        { Text(stringResource(R.string.reason_needed)) }
                    } else null,
                    minLines = 2,
                )
            }
        },
        confirmButton = {
            TextButton(onClick = onClear, enabled = !busy) { Text(stringResource(R.string.complete_hidden_clear)) }
        },
        dismissButton = {
            Row {
                TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) }
                TextButton(onClick = onKeep, enabled = !busy) { Text(stringResource(R.string.complete_hidden_keep)) }
            }
        },
    )
}
