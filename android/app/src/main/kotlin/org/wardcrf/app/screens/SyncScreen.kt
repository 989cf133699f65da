package org.wardcrf.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import org.wardcrf.app.R
import org.wardcrf.app.WardApplication
import org.wardcrf.app.ui.rememberModel
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.sync.SyncModel
import org.wardcrf.ui.sync.SyncPhase

/**
 * Sync with the repository: progress after each exchange, cancel, and what to do on failure.
 * The sync is background work (WardApplication.syncRunner): Back leaves it running, and the
 * screen opened again follows it.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SyncScreen(store: CrfStore, onBack: () -> Unit, onEnrol: () -> Unit) {
    val lang = currentLang()
    val runner = (LocalContext.current.applicationContext as WardApplication).syncRunner
    val model = rememberModel("sync") { scope -> SyncModel(runner, store, lang, scope, Dispatchers.IO) }
    val state by model.state.collectAsStateWithLifecycle()
    // Back from enrolment: the address may have changed.
    LaunchedEffect(Unit) { model.refresh() }

    Scaffold(topBar = { TopAppBar(navigationIcon = { BackButton(onBack) }, title = { Text(stringResource(R.string.sync_title)) }) }) { padding ->
        Column(
            Modifier.padding(padding).padding(24.dp).fillMaxSize(),
            verticalArrangement = Arrangement.spacedBy(16.dp),
        ) {
            Text(
                state.serverUrl?.let { stringResource(R.string.sync_server, it) } ?: stringResource(R.string.sync_not_enrolled),
                style = MaterialTheme.typography.titleMedium,
            )

            if (state.running) {
                val description = stringResource(R.string.sync_progress_description)
                val fraction = state.fraction
                if (fraction == null) {
                    LinearProgressIndicator(Modifier.fillMaxWidth().semantics { contentDescription = description })
                } else {
                    LinearProgressIndicator(progress = { fraction }, modifier = Modifier.fillMaxWidth().semantics { contentDescription = description })
                }
                Text(
                    stringResource(if (state.phase == SyncPhase.CANCELLING) R.string.sync_cancelling else R.string.sync_running),
                    modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite },
                )
            }
            if (state.phase == SyncPhase.WAITING) {
                Text(stringResource(R.string.sync_waiting), modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite })
            }
            state.progress?.let { p ->
                Text(stringResource(R.string.sync_progress, p.pushed, p.pulled, p.remaining), style = MaterialTheme.typography.bodyLarge)
            }

            state.message?.let { message ->
                Card(
                    colors = CardDefaults.cardColors(
                        containerColor = if (message.isError) MaterialTheme.colorScheme.errorContainer else MaterialTheme.colorScheme.secondaryContainer,
                    ),
                    modifier = Modifier.fillMaxWidth().semantics { liveRegion = LiveRegionMode.Assertive },
                ) {
                    Text(message.text, Modifier.padding(16.dp), style = MaterialTheme.typography.bodyLarge)
                }
            }

            Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
                if (state.running) {
                    OutlinedButton(onClick = model::cancel, enabled = state.phase == SyncPhase.RUNNING) {
                        Text(stringResource(R.string.sync_cancel))
                    }
                } else {
                    if (state.serverUrl != null && !state.needsEnrolment) {
                        Button(onClick = { model.start() }) {
                            Text(stringResource(if (state.phase == SyncPhase.IDLE) R.string.sync_start else R.string.sync_again))
                        }
                    }
                    if (state.needsEnrolment) {
                        Button(onClick = onEnrol) { Text(stringResource(R.string.enrol_action)) }
                    }
                }
            }
        }
    }
}
