package org.wardcrf.app.screens

import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.automirrored.filled.ArrowBack
import androidx.compose.material3.AssistChip
import androidx.compose.material3.AssistChipDefaults
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import org.wardcrf.app.R
import org.wardcrf.app.wardLang
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.text.UiMessage

@Composable
fun currentLang(): Lang = LocalContext.current.wardLang()

@Composable
fun BackButton(onBack: () -> Unit) {
    IconButton(onClick = onBack) {
        Icon(Icons.AutoMirrored.Filled.ArrowBack, contentDescription = stringResource(R.string.back))
    }
}

@Composable
fun statusText(status: Status): String = stringResource(
    when (status) {
        Status.DRAFT -> R.string.status_draft
        Status.COMPLETE -> R.string.status_complete
        Status.SIGNED -> R.string.status_signed
    },
)

/** The case status as a small chip; read out as "Status: Draft". */
@Composable
fun StatusBadge(status: Status, modifier: Modifier = Modifier) {
    val text = statusText(status)
    val description = stringResource(R.string.status_description, text)
    val color = when (status) {
        Status.DRAFT -> MaterialTheme.colorScheme.secondaryContainer
        Status.COMPLETE -> MaterialTheme.colorScheme.primaryContainer
        Status.SIGNED -> MaterialTheme.colorScheme.tertiaryContainer
    }
    AssistChip(
        onClick = {},
        label = { Text(text) },
        colors = AssistChipDefaults.assistChipColors(containerColor = color),
        modifier = modifier.semantics(mergeDescendants = true) { contentDescription = description },
    )
}

/** Shows a :core-ui message once in the snackbar, then clears it. */
@Composable
fun MessageSnackbar(message: UiMessage?, host: SnackbarHostState, clear: () -> Unit) {
    LaunchedEffect(message) {
        if (message != null) {
            host.showSnackbar(message.text, withDismissAction = true)
            clear()
        }
    }
}
