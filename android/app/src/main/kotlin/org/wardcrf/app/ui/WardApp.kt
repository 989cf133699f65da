package org.wardcrf.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
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
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.input.pointer.PointerEventPass
import androidx.compose.ui.input.pointer.pointerInput
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.compose.LifecycleEventEffect
import androidx.navigation.NavType
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import androidx.navigation.navArgument
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.android.DeviceLock
import org.wardcrf.app.R
import org.wardcrf.app.WardApplication
import org.wardcrf.app.screens.CaseListScreen
import org.wardcrf.app.screens.ConflictReviewScreen
import org.wardcrf.app.screens.EnrolmentScreen
import org.wardcrf.app.screens.FormEntryScreen
import org.wardcrf.app.screens.SyncScreen
import org.wardcrf.app.sync.SyncScheduler
import org.wardcrf.app.wardLang
import org.wardcrf.ui.staff.PinModel
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.StaffUser
import org.wardcrf.ui.text.Messages

/**
 * Opens the store (Keystore-wrapped key), has a staff member sign in (password, online the first
 * time on this tablet; or their PIN), then the screens. The store locks when the app stops being
 * visible (MainActivity) and after the site's inactivity lock; the sign-in comes back then.
 */
@Composable
fun WardApp(app: WardApplication) {
    val context = LocalContext.current
    val lang = context.wardLang()
    val scope = rememberCoroutineScope()
    var store by remember { mutableStateOf<CrfStore?>(null) }
    var failure by remember { mutableStateOf<String?>(null) }
    var attempt by remember { mutableIntStateOf(0) }
    var user by remember { mutableStateOf<StaffUser?>(null) }
    var signInMessage by remember { mutableStateOf<String?>(null) }
    var recheck by remember { mutableIntStateOf(0) }
    var enrolling by rememberSaveable { mutableStateOf(false) }
    // Who signed in on this tablet: only they can have a PIN here (null: unknown, offer it).
    var localStaff by remember { mutableStateOf<List<String>?>(null) }

    // The store's key needs a secure lock screen: without one, guidance instead of the store.
    // Checked again whenever the app comes back (from the settings screen, typically).
    var secure by remember { mutableStateOf(app.hasSecureLock()) }
    LifecycleEventEffect(Lifecycle.Event.ON_RESUME) { secure = app.hasSecureLock() }

    LaunchedEffect(attempt, secure) {
        if (!secure) return@LaunchedEffect
        failure = null
        try {
            store = withContext(Dispatchers.IO) { app.store() }
        } catch (e: Exception) {
            failure = Messages.forError(e, lang).text
        }
    }
    // Back from the background (the store was locked) the sign-in shows again.
    LifecycleEventEffect(Lifecycle.Event.ON_START) { recheck++ }
    // The store locks itself after the site's inactivity lock: notice it. Asking is not use.
    LaunchedEffect(store, recheck) {
        val s = store ?: return@LaunchedEffect
        while (true) {
            user = withContext(Dispatchers.IO) { s.currentUser }
            if (user == null) break
            delay(15_000)
        }
    }

    val opened = store
    val error = failure
    val who = user
    LaunchedEffect(opened, who) {
        val s = opened ?: return@LaunchedEffect
        if (who != null) return@LaunchedEffect
        localStaff = try {
            withContext(Dispatchers.IO) { s.localStaff() }
        } catch (e: Exception) {
            null
        }
    }
    when {
        !secure -> ScreenLockRequired { DeviceLock.openSetup(context) }
        error != null -> StoreError(error) { attempt++ }
        opened == null -> Column(Modifier.fillMaxSize(), verticalArrangement = Arrangement.Center, horizontalAlignment = Alignment.CenterHorizontally) {
            CircularProgressIndicator()
            Text(stringResource(R.string.loading), Modifier.padding(top = 16.dp))
        }
        // A new tablet enrols before anyone can sign in (the first sign-in is online).
        who == null && enrolling -> EnrolmentScreen(
            store = opened,
            onBack = { enrolling = false },
            onEnrolled = { enrolling = false },
        )
        who == null -> SignInScreen(message = signInMessage, localStaff = localStaff, onEnrol = { enrolling = true }) { id, password, pin ->
            scope.launch {
                signInMessage = null
                try {
                    user = withContext(Dispatchers.IO) {
                        if (pin.isNotEmpty()) opened.unlockWithPin(id, pin) else opened.signIn(id, password)
                    }
                    recheck++
                    // Syncs waiting for a sign-in (the store was locked) go now.
                    SyncScheduler.syncNow(context)
                } catch (e: Exception) {
                    signInMessage = Messages.forError(e, lang).text
                }
            }
        }
        else -> Box(
            Modifier.fillMaxSize().pointerInput(opened) {
                // Touches are use: the inactivity lock falls only when nobody works. At most one
                // call every 10 s (a sync holds the store; calls would queue behind it).
                var last = 0L
                awaitPointerEventScope {
                    while (true) {
                        awaitPointerEvent(PointerEventPass.Initial)
                        val now = System.currentTimeMillis()
                        if (now - last > 10_000) {
                            last = now
                            scope.launch(Dispatchers.IO) { opened.touch() }
                        }
                    }
                }
            },
        ) {
            WardNavigation(opened, who) {
                scope.launch {
                    withContext(Dispatchers.IO) { opened.signOut() }
                    user = null
                }
            }
        }
    }
}

@Composable
private fun WardNavigation(store: CrfStore, user: StaffUser, onSignOut: () -> Unit) {
    val nav = rememberNavController()
    NavHost(nav, startDestination = "cases") {
        composable("cases") {
            CaseListScreen(
                store = store,
                user = user.displayName,
                onOpen = { nav.navigate("case/$it") },
                onSync = { nav.navigate("sync") },
                onConflicts = { nav.navigate("conflicts") },
                onUser = onSignOut,
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

/**
 * No PIN, pattern or password locks this tablet: patient data stays closed until one is set.
 * Says why and opens the system's screen-lock setup; the app checks again on return.
 */
@Composable
private fun ScreenLockRequired(onSetUp: () -> Unit) {
    Column(
        Modifier.fillMaxSize().padding(32.dp),
        verticalArrangement = Arrangement.spacedBy(16.dp, Alignment.CenterVertically),
    ) {
        Text(
            stringResource(R.string.screen_lock_title),
            style = MaterialTheme.typography.headlineSmall,
            modifier = Modifier.semantics { heading() },
        )
        Text(stringResource(R.string.screen_lock_explain), style = MaterialTheme.typography.bodyLarge)
        Button(onClick = onSetUp) { Text(stringResource(R.string.screen_lock_action)) }
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

/**
 * Who is entering data: a staff member of the site signs in with their password (the first
 * time on this tablet while connected to the repository) or unlocks with their PIN. The PIN
 * field shows only for a staff ID that signed in on this tablet before ([localStaff]; the store
 * does not say who set a PIN, so for them the store's NoPin message says to use the password).
 */
@Composable
fun SignInScreen(
    message: String?,
    localStaff: List<String>?,
    onEnrol: () -> Unit,
    onSignIn: (String, String, String) -> Unit,
) {
    var id by rememberSaveable { mutableStateOf("") }
    var password by remember { mutableStateOf("") }
    var pin by remember { mutableStateOf("") }
    Column(
        Modifier.fillMaxSize().padding(32.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp, Alignment.CenterVertically),
    ) {
        Text(stringResource(R.string.signin_title), style = MaterialTheme.typography.headlineSmall, modifier = Modifier.semantics { heading() })
        Text(stringResource(R.string.signin_explain), style = MaterialTheme.typography.bodyMedium)
        OutlinedTextField(
            value = id,
            onValueChange = { id = it.trim() },
            label = { Text(stringResource(R.string.signin_user)) },
            singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Ascii, autoCorrectEnabled = false),
        )
        OutlinedTextField(
            value = password,
            onValueChange = { password = it },
            label = { Text(stringResource(R.string.signin_password)) },
            singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
        )
        val offersPin = id.isNotBlank() && PinModel.offersPin(id, localStaff)
        if (offersPin) OutlinedTextField(
            value = pin,
            onValueChange = { v -> pin = v.filter(Char::isDigit).take(12) },
            label = { Text(stringResource(R.string.signin_pin)) },
            singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
        )
        message?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(
            onClick = {
                onSignIn(id, password, if (offersPin) pin else "")
                password = ""
                pin = ""
            },
            enabled = id.isNotBlank() && (password.isNotEmpty() || (offersPin && pin.isNotEmpty())),
        ) { Text(stringResource(R.string.signin_submit)) }
        TextButton(onClick = onEnrol) { Text(stringResource(R.string.enrol_action)) }
    }
}
