package org.wardcrf.app

import androidx.annotation.StringRes
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assert
import androidx.compose.ui.test.hasContentDescription
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.junit4.AndroidComposeTestRule
import androidx.compose.ui.test.junit4.createAndroidComposeRule
import androidx.compose.ui.test.onFirst
import androidx.compose.ui.test.onNodeWithContentDescription
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.performTextInput
import androidx.compose.ui.test.performTextReplacement
import androidx.test.ext.junit.rules.ActivityScenarioRule
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.filters.LargeTest
import org.junit.Before
import org.junit.FixMethodOrder
import org.junit.Rule
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.MethodSorters
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages

/**
 * The main flows on a device, through the real app, store and a real repository: enrolment by
 * typed code, sign-in, a new case with a vital sign entered and "mark complete" (which lists
 * what is left), and the Sync screen. The tests build on each other (one tablet, one store),
 * hence the fixed order. The device's language must be English (the tests read labels). It
 * needs a screen lock (`adb shell locksettings set-pin
 * 1234`: the store's key requires one) and the arguments of [TestRepository].
 */
@OptIn(ExperimentalTestApi::class)
@RunWith(AndroidJUnit4::class)
@LargeTest
@FixMethodOrder(MethodSorters.NAME_ASCENDING)
class BedsideFlowTest {
    @get:Rule
    val compose: AndroidComposeTestRule<ActivityScenarioRule<MainActivity>, MainActivity> =
        createAndroidComposeRule<MainActivity>()

    private fun text(@StringRes id: Int, vararg args: Any): String = compose.activity.getString(id, *args)

    private fun waitForText(value: String, substring: Boolean = false, timeoutMillis: Long = 20_000) =
        compose.waitUntilAtLeastOneExists(hasText(value, substring = substring), timeoutMillis)

    private fun field(label: String) = compose.onNode(hasSetTextAction() and hasText(label, substring = true))

    // The app's own sentences (in :core-ui, English on an English device), up to their counts.
    private val notCompletePrefix = Messages.text(MessageKey.NOT_COMPLETE, Lang.EN, 0, 0, 0, 0).substringBefore(':')
    private val syncedPrefix = Messages.text(MessageKey.SYNC_DONE, Lang.EN, 0, 0, 0).substringBefore(':')

    @Before
    fun repository() = TestRepository.assumeGiven()

    /** Signs in with the password when the sign-in screen shows (each test starts the activity). */
    private fun signInIfAsked() {
        compose.waitForIdle()
        if (compose.onAllNodes(hasText(text(R.string.signin_title))).fetchSemanticsNodes().isEmpty()) return
        field(text(R.string.signin_user)).performTextInput(TestRepository.user)
        field(text(R.string.signin_password)).performTextInput(TestRepository.password)
        compose.onNode(hasText(text(R.string.signin_submit)) and !hasSetTextAction()).performClick()
        waitForText(text(R.string.cases_title))
    }

    @Test
    fun a_enrolmentWithATypedCode() {
        waitForText(text(R.string.signin_title))
        compose.onNodeWithText(text(R.string.enrol_action)).performClick()
        // The camera is not needed: the code can be typed.
        if (compose.onAllNodes(hasText(text(R.string.enrol_type_instead))).fetchSemanticsNodes().isNotEmpty()) {
            compose.onNodeWithText(text(R.string.enrol_type_instead)).performClick()
        }
        field(text(R.string.enrol_server)).performTextReplacement(TestRepository.url)
        field(text(R.string.enrol_code)).performTextInput(TestRepository.enrolmentCode)
        compose.onNodeWithText(text(R.string.enrol_submit)).performClick()
        // "Enrolled with site …", then back to the sign-in.
        waitForText(text(R.string.signin_title), timeoutMillis = 30_000)
        signInIfAsked()
    }

    @Test
    fun b_newCaseWithAVitalSignThenComplete() {
        signInIfAsked()
        compose.onNodeWithText(text(R.string.new_case)).performClick()
        compose.onNodeWithText(text(R.string.create)).performClick()
        // The form opens at its first section; the vital signs are a tab further on.
        waitForText("Vital signs", substring = true)
        compose.onAllNodes(hasText("Vital signs", substring = true)).onFirst().performScrollTo().performClick()
        field("Body temperature").performTextInput("38.2")
        val save = text(R.string.field_save, "Body temperature")
        compose.onNodeWithContentDescription(save).performClick()
        // Saved: the field is no longer a draft, so its save button goes.
        compose.waitUntilDoesNotExist(hasContentDescription(save), 10_000)
        field("Body temperature").assert(hasText("38.2", substring = true))

        compose.onNodeWithContentDescription(text(R.string.status_menu)).performClick()
        compose.onNodeWithText(text(R.string.mark_complete)).performClick()
        // One vital sign does not make a complete case: the app says what is left.
        waitForText(notCompletePrefix, substring = true)
        compose.onNodeWithText(text(R.string.status_draft)).assertExists()
    }

    @Test
    fun c_syncScreenSyncsAndShowsTheOutcome() {
        signInIfAsked()
        compose.onNodeWithContentDescription(text(R.string.action_sync)).performClick()
        waitForText(text(R.string.sync_server, TestRepository.url))
        compose.onNodeWithText(text(R.string.sync_start)).performClick()
        // The sync is WorkManager work: leaving the screen does not stop it; coming back shows it.
        compose.onNodeWithContentDescription(text(R.string.back)).performClick()
        compose.onNodeWithContentDescription(text(R.string.action_sync)).performClick()
        waitForText(syncedPrefix, substring = true, timeoutMillis = 60_000)
        compose.onNodeWithText(text(R.string.sync_again)).assertExists()
    }
}
