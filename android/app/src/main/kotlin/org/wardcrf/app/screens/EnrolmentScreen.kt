package org.wardcrf.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardCapitalization
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import org.wardcrf.app.R
import org.wardcrf.app.ui.rememberModel
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.sync.EnrolmentMode
import org.wardcrf.ui.sync.EnrolmentModel
import org.wardcrf.ui.sync.EnrolmentState
import org.wardcrf.ui.text.UiMessage

/**
 * Enrolment with the repository: the console's QR code read by the camera (the address, the
 * one-time code and the repository's certificate fingerprint, which the store pins), or the
 * address and the one-time code from the site administrator typed.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun EnrolmentScreen(store: CrfStore, onBack: () -> Unit, onEnrolled: () -> Unit) {
    val lang = currentLang()
    val model = rememberModel("enrol") { scope -> EnrolmentModel(store, lang, scope, Dispatchers.IO) }
    val state by model.state.collectAsStateWithLifecycle()
    LaunchedEffect(state.enrolled) {
        if (state.enrolled != null) {
            delay(1500) // long enough to read "Enrolled with site …"
            onEnrolled()
        }
    }

    Scaffold(topBar = { TopAppBar(navigationIcon = { BackButton(onBack) }, title = { Text(stringResource(R.string.enrol_title)) }) }) { padding ->
        Column(
            Modifier.padding(padding).padding(24.dp).fillMaxSize().verticalScroll(rememberScrollState()),
            verticalArrangement = Arrangement.spacedBy(16.dp),
        ) {
            when (state.mode) {
                EnrolmentMode.SCAN -> ScanCode(state, model)
                EnrolmentMode.TYPE -> TypeCode(state, model)
            }
            state.message?.let { EnrolmentMessage(it) }
        }
    }
}

@Composable
private fun ScanCode(state: EnrolmentState, model: EnrolmentModel) {
    Text(stringResource(R.string.enrol_scan_explain), style = MaterialTheme.typography.bodyLarge)
    when {
        // One code read at a time: the scanner stops at the first and hands it over.
        state.scanning -> QrScanner(onScanned = { model.scanned(it) }, onTypeInstead = model::typeInstead)
        state.busy -> CircularProgressIndicator()
        state.enrolled != null -> Unit
        else -> {
            if (state.canScanAgain) Button(onClick = model::scanAgain) { Text(stringResource(R.string.enrol_scan_again)) }
            OutlinedButton(onClick = model::typeInstead) { Text(stringResource(R.string.enrol_type_instead)) }
        }
    }
}

@Composable
private fun TypeCode(state: EnrolmentState, model: EnrolmentModel) {
    Text(stringResource(R.string.enrol_explain), style = MaterialTheme.typography.bodyLarge)
    OutlinedTextField(
        value = state.serverUrl,
        onValueChange = model::setServerUrl,
        label = { Text(stringResource(R.string.enrol_server)) },
        placeholder = { Text(stringResource(R.string.enrol_server_hint)) },
        singleLine = true,
        enabled = !state.busy,
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri, imeAction = ImeAction.Next, autoCorrectEnabled = false),
        modifier = Modifier.fillMaxWidth(),
    )
    OutlinedTextField(
        value = state.code,
        onValueChange = model::setCode,
        label = { Text(stringResource(R.string.enrol_code)) },
        singleLine = true,
        enabled = !state.busy,
        keyboardOptions = KeyboardOptions(
            keyboardType = KeyboardType.Ascii,
            capitalization = KeyboardCapitalization.None,
            autoCorrectEnabled = false,
            imeAction = ImeAction.Done,
        ),
        keyboardActions = KeyboardActions(onDone = { model.submit() }),
        modifier = Modifier.fillMaxWidth(),
    )
    Button(onClick = { model.submit() }, enabled = state.canSubmit) {
        if (state.busy) CircularProgressIndicator(Modifier.padding(end = 8.dp))
        Text(stringResource(R.string.enrol_submit))
    }
    OutlinedButton(onClick = model::scanInstead, enabled = !state.busy) { Text(stringResource(R.string.enrol_scan)) }
}

@Composable
private fun EnrolmentMessage(message: UiMessage) {
    Text(
        message.text,
        color = if (message.isError) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.primary,
        style = MaterialTheme.typography.bodyLarge,
        modifier = Modifier.semantics { liveRegion = LiveRegionMode.Assertive },
    )
}
