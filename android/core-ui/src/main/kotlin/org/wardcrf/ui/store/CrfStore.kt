package org.wardcrf.ui.store

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The device's case store as the UI logic sees it: the port that `:core-ui` depends on.
 *
 * `:wardcrf` implements it over the Rust library (`org.wardcrf.store.RustCrfStore`, plain
 * Kotlin over the generated uniffi bindings) and `android/test-jvm` runs this module's tests
 * against that real implementation on the JVM. The types below mirror the bindings' records
 * one to one where the UI needs them; they exist so that this module has no Android (or JNA)
 * dependency and can be compiled and tested anywhere.
 *
 * Every method is blocking (SQLite, AES-GCM, HTTP): call it off the main thread. Failures are
 * [CrfError]s.
 */
interface CrfStore : AutoCloseable {
    /** This device's id (hex), as shown in conflicts and history. */
    val deviceId: String

    /**
     * The staff member signed in: every change is recorded under them. None before a sign-in,
     * after [lock] or [signOut], and after the site's inactivity lock fell.
     */
    val currentUser: StaffUser?

    /** Whether the data key is in memory (else reads fail with [CrfError.Locked]). */
    val isUnlocked: Boolean

    /**
     * Signs a staff member in with their password: online through the repository the first
     * time on this tablet (and after a password reset), offline afterwards.
     */
    fun signIn(user: String, password: String): StaffUser

    /** Unlocks for a staff member with the PIN they set here; five wrong PINs end it. */
    fun unlockWithPin(user: String, pin: String): StaffUser

    /** Sets the signed-in person's PIN (4-12 digits), confirmed by their password. */
    fun setPin(password: String, pin: String)
    fun removePin()

    /** Drops the data key from memory (the app went to the background, a lock button). */
    fun lock()
    fun signOut()

    /** Records use, so that the inactivity lock does not fall while someone works. */
    fun touch()

    /** The ids of the staff who signed in on this tablet (and may sign in offline). */
    fun localStaff(): List<String>

    /** The site's inactivity lock, in minutes. */
    fun lockAfterMinutes(): Int

    /** The meanings a signer chooses from at this site. */
    fun signatureMeanings(): List<MeaningItem>

    /** Signs a complete case: the signer types their password again and chooses a meaning. */
    fun sign(caseId: String, password: String, meaning: String): SignatureItem
    fun signatures(caseId: String): List<SignatureItem>

    fun forms(lang: Lang): List<FormSummary>
    fun formLayout(formId: String, modules: List<String>, lang: Lang): FormSpec

    /**
     * The form as the clinician sees it for a case (see [FormSession]); the session methods
     * below each save and return the new session.
     */
    fun formSession(caseId: String, lang: Lang): FormSession

    /**
     * Sets (or, with a null [answer], clears) a field. [unit]: the unit a number was entered
     * in. An impossible value is [CrfError.Rejected]; a warning, a change of an earlier entry
     * or an edit of a complete case needs [reason].
     */
    fun setAnswer(caseId: String, path: FieldRef, answer: Answer?, lang: Lang, unit: String? = null, reason: String? = null): FormSession

    /** Adds an empty row to a repeating group (the group's last). */
    fun addSessionRow(caseId: String, group: String, lang: Lang, reason: String? = null): FormSession

    /** Clears every value left in a field the answers now hide, in one audited change. */
    fun clearHidden(caseId: String, reason: String, lang: Lang): FormSession

    /**
     * Marks a case complete with the clinician's choice about hidden values:
     * [CrfError.HiddenValuesPending] when there are some and [hidden] is
     * [HiddenChoice.NoHiddenValues], [CrfError.NotComplete] while anything else blocks it.
     */
    fun complete(caseId: String, hidden: HiddenChoice, lang: Lang): FormSession

    /** The cases, most recently updated first, with their labels: no case is opened. */
    fun listCases(query: CaseQuery = CaseQuery()): List<CaseItem>

    /** How many cases the repository does not hold as they are here yet. */
    fun pendingSyncCount(): Int
    fun createCase(formId: String, modules: List<String> = emptyList()): String
    fun viewCase(caseId: String, lang: Lang): CaseDetail

    /** Sets a value (JSON); returns it as stored, in canonical units (JSON). */
    fun setValue(caseId: String, path: FieldRef, valueJson: String, reason: String? = null): String

    /** Sets a number entered in a unit (UCUM code), converted to the field's unit on save. */
    fun setQuantity(caseId: String, path: FieldRef, value: Double, unit: String, reason: String? = null): String

    fun addRow(caseId: String, group: String, valuesJson: String = "{}", reason: String? = null): String
    fun removeRow(caseId: String, group: String, rowId: String, reason: String)
    fun setStatus(caseId: String, status: Status, reason: String? = null): Status
    fun history(caseId: String, field: String? = null): List<HistoryItem>
    fun conflicts(caseId: String? = null): List<ConflictItem>
    fun resolve(caseId: String, path: FieldRef, valueJson: String, reason: String): String

    /** The repository this device is enrolled with, if any. */
    fun serverUrl(): String?
    fun enroll(serverUrl: String, code: String): EnrolmentInfo

    /**
     * Enrols from the text of the console's enrolment QR code (address, one-time code and the
     * repository's certificate fingerprint, which the store then pins):
     * [CrfError.BadEnrolmentCode] when the text is not such a code,
     * [CrfError.CertificateMismatch] when the repository's certificate is not the one named.
     */
    fun enrollWithQr(payload: String): EnrolmentInfo

    /** Syncs until both sides hold everything; [onProgress] hears after each exchange. */
    fun sync(onProgress: (SyncCounts) -> Unit, cancel: CancelSignal): SyncResult
}

/** Cancels a running sync from any thread; the store stops between two exchanges. */
class CancelSignal {
    private val cancelled = AtomicBoolean(false)
    private val listeners = CopyOnWriteArrayList<() -> Unit>()

    val isCancelled: Boolean get() = cancelled.get()

    fun cancel() {
        if (cancelled.compareAndSet(false, true)) listeners.forEach { it() }
    }

    /** Runs [action] when cancelled (at once if already cancelled). */
    fun onCancel(action: () -> Unit) {
        listeners.add(action)
        if (cancelled.get()) action()
    }
}

enum class Lang { EN, JA, DE }

enum class Status { DRAFT, COMPLETE, SIGNED }

enum class Kind { TEXT, INTEGER, DECIMAL, DATE, DATETIME, CHOICE, MULTICHOICE, BOOLEAN }

/** The kind of a validation problem (the bindings' `IssueCode`). */
enum class Problem {
    UNKNOWN_FIELD, WRONG_TYPE, NOT_A_CHOICE, INVALID_DATE, PARTIAL_DATE_NOT_ALLOWED,
    UNIT_NOT_ALLOWED, TOO_LONG, TOO_MANY_ROWS, HARD_LIMIT, SOFT_LIMIT, UNIT_SLIP, FUTURE_DATE, REQUIRED,
    HIDDEN_VALUE, RULE,
}

/** Where a value lives: a case-level field, or a field of one row of a repeating group. */
data class FieldRef(val field: String, val group: String? = null, val rowId: String? = null)

data class CaseItem(
    val caseId: String,
    val formId: String,
    val formVersion: String,
    val status: Status,
    val hasConflicts: Boolean,
    val deleted: Boolean,
    val createdAt: Long,
    val updatedAt: Long,
    /**
     * The values of the fields the form designates for a list line, joined by " · "; empty
     * when none is answered. May identify the patient: show it, never log it.
     */
    val label: String = "",
    /** Open conflicts. */
    val conflicts: Int = 0,
    /** The repository does not hold the case as it is here yet. */
    val pendingSync: Boolean = false,
)

data class CaseQuery(
    val status: Status? = null,
    val formId: String? = null,
    val withConflicts: Boolean = false,
    val includeDeleted: Boolean = false,
)

data class FormSummary(val formId: String, val version: String, val extends: String?, val title: String)

data class UnitSpec(val code: String, val display: String)
data class ChoiceSpec(val code: String, val label: String)
data class Limits(val min: Double?, val max: Double?)

data class FieldSpec(
    val id: String,
    val kind: Kind,
    val label: String,
    val help: String?,
    val unit: UnitSpec?,
    val altUnits: List<UnitSpec>,
    val decimals: Int?,
    val choices: List<ChoiceSpec>,
    val hardLimits: Limits?,
    val softLimits: Limits?,
    val required: Boolean,
    val identifying: Boolean,
    val partialDate: Boolean,
    val maxLength: Int?,
    val showIf: String?,
)

data class GroupSpec(
    val id: String,
    val label: String,
    val help: String?,
    val showIf: String?,
    val maxRows: Int?,
    val fields: List<FieldSpec>,
)

sealed class SectionItem {
    data class FieldItem(val field: FieldSpec) : SectionItem()
    data class GroupItem(val group: GroupSpec) : SectionItem()
}

data class SectionSpec(
    val id: String,
    val label: String,
    val help: String?,
    val showIf: String?,
    val items: List<SectionItem>,
)

data class FormSpec(
    val formId: String,
    val version: String,
    val title: String,
    val sections: List<SectionSpec>,
) {
    /** Every field of the form by id (case-level fields and group fields). */
    val fieldsById: Map<String, FieldSpec> by lazy {
        sections.flatMap { it.items }.flatMap {
            when (it) {
                is SectionItem.FieldItem -> listOf(it.field)
                is SectionItem.GroupItem -> it.group.fields
            }
        }.associateBy { it.id }
    }

    /** The section holding a field or group, by its id. */
    fun sectionOf(fieldOrGroup: String): SectionSpec? = sections.firstOrNull { s ->
        s.items.any {
            when (it) {
                is SectionItem.FieldItem -> it.field.id == fieldOrGroup
                is SectionItem.GroupItem -> it.group.id == fieldOrGroup || it.group.fields.any { f -> f.id == fieldOrGroup }
            }
        }
    }
}

data class Issue(
    val field: String,
    val group: String?,
    val rowId: String?,
    val code: Problem,
    val rule: String?,
    /** The reason that confirmed a warning. */
    val confirmed: String?,
    /** In the language asked for (may quote the value: show it, never log it). */
    val message: String,
) {
    val ref: FieldRef get() = FieldRef(this.field, group, rowId)
}

data class Report(
    val errors: List<Issue>,
    val warnings: List<Issue>,
    val missing: List<Issue>,
    val complete: Boolean,
    val valuesJson: String,
)

/** One value of a field in conflict; [reason]: the reason given with the change that wrote it. */
data class CandidateItem(val valueJson: String, val device: String, val user: String, val time: Long, val reason: String? = null)
data class ConflictItem(val caseId: String, val path: FieldRef, val candidates: List<CandidateItem>)

data class CaseDetail(
    val caseId: String,
    val formId: String,
    val formVersion: String,
    val modules: List<String>,
    val status: Status,
    val deleted: Boolean,
    val valuesJson: String,
    val report: Report,
    val conflicts: List<ConflictItem>,
)

data class HistoryItem(
    val time: Long,
    val device: String,
    /** The author's staff id (a free-text name for changes made before staff signed in). */
    val user: String,
    val op: String,
    val field: String?,
    val group: String?,
    val rowId: String?,
    val oldJson: String?,
    val newJson: String?,
    val reason: String?,
    /** The author's printed name; none for a change made before staff signed in. */
    val userName: String? = null,
    /** Whether the author was a signed-in staff member (else show "unverified: <user>"). */
    val verified: Boolean = true,
)

enum class StaffRole { CLINICIAN, SITE_NURSE }

/** The staff member signed in on the tablet. */
data class StaffUser(val id: String, val displayName: String, val role: StaffRole)

/** A meaning of a signature, labelled in the three languages. */
data class MeaningItem(val code: String, val en: String, val ja: String, val de: String) {
    fun label(lang: Lang) = when (lang) {
        Lang.EN -> en
        Lang.JA -> ja
        Lang.DE -> de
    }
}

/** An electronic signature of a case; superseded when a later edit changed what it signed. */
data class SignatureItem(
    val signerId: String,
    val signerName: String,
    val time: Long,
    val meaning: MeaningItem,
    val superseded: Boolean,
)

data class EnrolmentInfo(val deviceId: String, val siteId: String, val serverUrl: String)
data class SyncCounts(val pushed: Int, val pulled: Int, val remaining: Int)
data class SyncResult(val pushed: Int, val pulled: Int, val conflicts: Int, val exchanges: Int)

/**
 * Why a store call failed: the bindings' `WardcrfException` variants, each something the UI
 * can act on. Like them, no variant carries an entered value or key material.
 */
sealed class CrfError(message: String) : Exception(message) {
    class WrongKey : CrfError("the key does not open this store")
    class KeyUnavailable(val reason: String) : CrfError("the key provider failed: $reason")
    class NoStore : CrfError("no store in this directory")
    class StoreExists : CrfError("a store already exists in this directory")
    class StorageDamaged(val movedTo: String) : CrfError("the store database was damaged and moved aside")
    class Storage(val reason: String) : CrfError("the store failed: $reason")
    class NotFound(val what: String) : CrfError("not found: $what")
    class CaseDeleted(val caseId: String) : CrfError("case $caseId is deleted")
    class Rejected(val field: String, val codes: List<Problem>) : CrfError("the value of $field was not saved: $codes")
    class NeedsConfirmation(val field: String, val codes: List<Problem>) : CrfError("the value of $field needs a reason: $codes")
    class ReasonRequired(val what: String) : CrfError("a reason is required: $what")
    class NotComplete(val errors: Int, val missing: Int, val unconfirmed: Int, val conflicts: Int) :
        CrfError("not complete: $errors errors, $missing missing, $unconfirmed unconfirmed, $conflicts conflicts")
    class NotSignable : CrfError("only a complete case can be signed")
    class NoConflict(val field: String) : CrfError("$field has no conflict")
    class Mismatch(val caseId: String) : CrfError("two different cases under one id: $caseId")
    class InvalidInput(val reason: String) : CrfError("invalid input: $reason")
    class NotEnrolled : CrfError("this device is not enrolled")
    class Revoked : CrfError("this device has been revoked")
    class Refused(val reason: String) : CrfError("the repository refused: $reason")

    /**
     * The repository did not present the certificate the enrolment QR code (or the pin kept
     * from it) names: it may not be the hospital's repository. Nothing was sent or kept.
     */
    class CertificateMismatch(val server: String) : CrfError("$server: the certificate does not match the enrolment code's fingerprint")

    /** The scanned text is not a usable enrolment QR code ([reason] never holds the code). */
    class BadEnrolmentCode(val reason: String) : CrfError("not a usable enrolment code: $reason")
    class Network(val reason: String) : CrfError("the repository could not be reached: $reason")
    class UpdateRequired(val serverProtocol: Int) : CrfError("the repository speaks protocol $serverProtocol")
    class Cancelled : CrfError("the sync was cancelled")
    class Locked : CrfError("the store is locked: sign in")
    class NotSignedIn : CrfError("no staff member is signed in")
    class OnlineSignInRequired(val user: String) : CrfError("$user must sign in online")
    class WrongCredential : CrfError("the user name, password or PIN is wrong")
    class NoPin(val user: String) : CrfError("$user has no PIN on this tablet")
    class PinLocked(val user: String) : CrfError("too many wrong PINs: the PIN of $user no longer works")
    class BadPin : CrfError("a PIN is 4 to 12 digits")
    class AccountDeactivated(val user: String) : CrfError("the account of $user is deactivated")
    class BadUnlockKey : CrfError("an unlock key is 64 hexadecimal digits")
    class NoUnlockKey : CrfError("this store has no wrap under the repository's unlock key")
    class SignatureRequired : CrfError("signing a case needs the password and a meaning")
    class UnknownMeaning(val meaning: String, val known: List<String>) : CrfError("no signature meaning $meaning")
    class RosterRefused(val reason: String) : CrfError("the repository's roster was refused: $reason")
    class LockedOut(val reason: String) : CrfError("too many wrong passwords: the account is locked for a while")
    class NotSiteStaff(val reason: String) : CrfError("the account is not staff of this tablet's site")

    /** Completing needs the clinician's choice about values left in fields now hidden. */
    class HiddenValuesPending(val count: Int, val fields: List<FieldRef>) :
        CrfError("$count hidden fields still hold values: clear or keep them")
}
