package org.wardcrf.app.screens

import androidx.compose.foundation.BorderStroke
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.IntrinsicSize
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxHeight
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.itemsIndexed
import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.selection.selectableGroup
import androidx.compose.material3.Button
import androidx.compose.material3.ElevatedCard
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedCard
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import org.wardcrf.app.R
import org.wardcrf.app.ui.rememberModel
import org.wardcrf.ui.conflicts.CandidateUi
import org.wardcrf.ui.conflicts.ConflictReviewModel
import org.wardcrf.ui.conflicts.ConflictUi
import org.wardcrf.ui.store.CrfStore

/**
 * Conflict review: each field edited on two tablets, its candidates side by side (value, who,
 * when, which tablet); the nurse picks the correct one and gives the reason.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun ConflictReviewScreen(store: CrfStore, caseId: String?, onBack: () -> Unit) {
    val lang = currentLang()
    val model = rememberModel("conflicts-${caseId ?: "all"}") { scope ->
        ConflictReviewModel(store, caseId, lang, scope, Dispatchers.IO)
    }
    val state by model.state.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    LaunchedEffect(caseId) { model.load() }
    MessageSnackbar(state.message, snackbar, model::clearMessage)

    Scaffold(
        topBar = { TopAppBar(navigationIcon = { BackButton(onBack) }, title = { Text(stringResource(R.string.conflicts_title)) }) },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        Column(Modifier.padding(padding).fillMaxSize()) {
            if (state.loading) LinearProgressIndicator(Modifier.fillMaxWidth())
            if (!state.loading && state.conflicts.isEmpty()) {
                Text(stringResource(R.string.conflicts_none), Modifier.padding(24.dp), style = MaterialTheme.typography.bodyLarge)
            }
            LazyColumn(Modifier.fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
                itemsIndexed(state.conflicts, key = { _, c -> c.caseId + "/" + c.ref }) { index, conflict ->
                    ConflictCard(
                        conflict,
                        onSelect = { model.select(index, it) },
                        onReason = { model.setReason(index, it) },
                        onResolve = { model.resolve(index) },
                    )
                }
            }
        }
    }
}

@Composable
private fun ConflictCard(conflict: ConflictUi, onSelect: (Int) -> Unit, onReason: (String) -> Unit, onResolve: () -> Unit) {
    ElevatedCard(Modifier.fillMaxWidth().padding(horizontal = 16.dp)) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            Text(conflict.fieldLabel, style = MaterialTheme.typography.titleMedium, modifier = Modifier.semantics { heading() })
            Text(
                listOfNotNull(stringResource(R.string.conflict_case, conflict.caseLabel), conflict.sectionLabel).joinToString(" · "),
                style = MaterialTheme.typography.bodySmall,
            )
            Text(stringResource(R.string.conflict_choose), style = MaterialTheme.typography.labelLarge)
            // Side by side: every candidate gets the same width and height.
            Row(
                Modifier.fillMaxWidth().height(IntrinsicSize.Min).selectableGroup(),
                horizontalArrangement = Arrangement.spacedBy(12.dp),
            ) {
                conflict.candidates.forEachIndexed { i, candidate ->
                    CandidateCard(
                        candidate,
                        selected = conflict.selected == i,
                        onClick = { onSelect(i) },
                        modifier = Modifier.weight(1f).fillMaxHeight(),
                    )
                }
            }
            OutlinedTextField(
                value = conflict.reason,
                onValueChange = onReason,
                label = { Text(stringResource(R.string.resolution_reason)) },
                enabled = !conflict.resolving,
                modifier = Modifier.fillMaxWidth(),
                minLines = 2,
            )
            Button(onClick = onResolve, enabled = conflict.canResolve, modifier = Modifier.align(Alignment.End)) {
                Text(stringResource(R.string.resolve))
            }
        }
    }
}

@Composable
private fun CandidateCard(candidate: CandidateUi, selected: Boolean, onClick: () -> Unit, modifier: Modifier) {
    OutlinedCard(
        modifier = modifier.selectable(selected = selected, role = Role.RadioButton, onClick = onClick),
        border = BorderStroke(
            if (selected) 3.dp else 1.dp,
            if (selected) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.outlineVariant,
        ),
    ) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                RadioButton(selected = selected, onClick = null)
                Text(candidate.value, style = MaterialTheme.typography.headlineSmall, modifier = Modifier.padding(start = 8.dp))
            }
            Text(stringResource(R.string.candidate_by, candidate.user), style = MaterialTheme.typography.bodyMedium)
            Text(stringResource(R.string.candidate_when, candidate.time), style = MaterialTheme.typography.bodyMedium)
            Text(
                if (candidate.thisDevice) stringResource(R.string.candidate_this_device)
                else stringResource(R.string.candidate_device, candidate.deviceShort),
                style = MaterialTheme.typography.bodySmall,
            )
            candidate.reason?.let { Text(stringResource(R.string.candidate_reason, it), style = MaterialTheme.typography.bodySmall) }
        }
    }
}
