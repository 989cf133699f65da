package org.wardcrf.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.navigation.NavType
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import androidx.navigation.navArgument
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.wardcrf.app.R
import org.wardcrf.app.WardApplication
import org.wardcrf.app.screens.CaseListScreen
import org.wardcrf.app.screens.ConflictReviewScreen
import org.wardcrf.app.screens.EnrolmentScreen
import org.wardcrf.app.screens.FormEntryScreen
import org.wardcrf.app.screens.SyncScreen
import org.wardcrf.app.wardLang
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.text.Messages

/** Opens the store (Keystore-wrapped key), asks who is entering data, then the screens. */
@Composable
fun WardApp(app: WardApplication) {
    val lang = LocalContext.current.wardLang()
    var store by remember { mutableStateOf<CrfStore?>(null) }
    var failure by remember { mutableStateOf<String?>(null) }
    var attempt by remember { mutableIntStateOf(0) }
    var user by rememberSaveable { mutableStateOf(app.userName) }

    LaunchedEffect(attempt) {
        failure = null
        try {
            store = withContext(Dispatchers.IO) { app.store() }
        } catch (e: Exception) {
            failure = Messages.forError(e, lang).text
        }
    }

    val opened = store
    val error = failure
    val who = user
    when {
        error != null -> StoreError(error) { attempt++ }
        opened == null -> Column(Modifier.fillMaxSize(), verticalArrangement = Arrangement.Center, horizontalAlignment = Alignment.CenterHorizontally) {
            CircularProgressIndicator()
            Text(stringResource(R.string.loading), Modifier.padding(top = 16.dp))
        }
        who.isNullOrBlank() -> UserDialog(current = null, onDismiss = null) {
            app.userName = it
            user = it
        }
        else -> WardNavigation(opened, who) {
            app.userName = it
            user = it
        }
    }
}

@Composable
private fun WardNavigation(store: CrfStore, user: String, onUser: (String) -> Unit) {
    val nav = rememberNavController()
    var askUser by remember { mutableStateOf(false) }
    if (askUser) UserDialog(current = user, onDismiss = { askUser = false }) {
        onUser(it)
        askUser = false
    }
    NavHost(nav, startDestination = "cases") {
        composable("cases") {
            CaseListScreen(
                store = store,
                user = user,
                onOpen = { nav.navigate("case/$it") },
                onSync = { nav.navigate("sync") },
                onConflicts = { nav.navigate("conflicts") },
                onUser = { askUser = true },
            )
        }
        composable("case/{caseId}", arguments = listOf(navArgument("caseId") { type = NavType.StringType })) { entry ->
            val caseId = entry.arguments?.getString("caseId") ?: return@composable
            FormEntryScreen(
                store = store,
                caseId = caseId,
                onBack = { nav.popBackStack() },
                onConflicts = { nav.navigate("conflicts?case=$caseId") },
            )
        }
        composable(
            "conflicts?case={case}",
            arguments = listOf(navArgument("case") { type = NavType.StringType; nullable = true; defaultValue = null }),
        ) { entry ->
            ConflictReviewScreen(store = store, caseId = entry.arguments?.getString("case"), onBack = { nav.popBackStack() })
        }
        composable("sync") {
            SyncScreen(store = store, onBack = { nav.popBackStack() }, onEnrol = { nav.navigate("enrol") })
        }
        composable("enrol") {
            EnrolmentScreen(store = store, onBack = { nav.popBackStack() }, onEnrolled = { nav.popBackStack() })
        }
    }
}

@Composable
private fun StoreError(message: String, onRetry: () -> Unit) {
    Column(
        Modifier.fillMaxSize().padding(32.dp),
        verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
    ) {
        Text(
            stringResource(R.string.store_error_title),
            style = MaterialTheme.typography.headlineSmall,
            modifier = Modifier.semantics { heading() },
        )
        Text(message, style = MaterialTheme.typography.bodyLarge)
        Button(onClick = onRetry) { Text(stringResource(R.string.retry)) }
    }
}

/** Who is entering data: recorded with every change in the audit trail. */
@Composable
fun UserDialog(current: String?, onDismiss: (() -> Unit)?, onSave: (String) -> Unit) {
    var name by rememberSaveable { mutableStateOf(current.orEmpty()) }
    AlertDialog(
        onDismissRequest = { onDismiss?.invoke() },
        title = { Text(stringResource(R.string.user_title)) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text(stringResource(R.string.user_explain))
                OutlinedTextField(
                    value = name,
                    onValueChange = { name = it },
                    label = { Text(stringResource(R.string.user_label)) },
                    singleLine = true,
                )
            }
        },
        confirmButton = {
            TextButton(onClick = { onSave(name.trim()) }, enabled = name.isNotBlank()) { Text(stringResource(R.string.save)) }
        },
        dismissButton = if (onDismiss != null) {
            { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } }
        } else null,
    )
}
