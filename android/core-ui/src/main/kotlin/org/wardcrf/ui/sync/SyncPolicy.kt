package org.wardcrf.ui.sync

import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage

/**
 * Why a sync did not finish, in a form a background worker can keep (its [name]) and the
 * screen can turn into a message. Carries no value of a case and nothing from the server's
 * answer.
 */
enum class SyncFailure {
    /** The repository could not be reached (no network, ward Wi-Fi down, server off). */
    NETWORK,

    /** The store is locked or nobody is signed in: the data key is not in memory. */
    LOCKED,

    /** The Keystore would not release the key (the tablet itself is locked). */
    KEY_UNAVAILABLE,

    NOT_ENROLLED,
    REVOKED,
    REFUSED,

    /**
     * The repository presented another certificate than the one pinned at enrolment: it may
     * not be the hospital's repository, and nothing was sent. A person must look.
     */
    CERTIFICATE_MISMATCH,
    UPDATE_REQUIRED,

    /** Stopped between two exchanges on request; what was exchanged is kept. */
    CANCELLED,

    /** The store could not be written (disk full): may pass. */
    STORAGE,

    /** Anything else (a damaged store, two different cases under one id): a person must look. */
    OTHER,
}

/** What a background sync does after a failure. */
enum class SyncAction {
    /** Try again later, waiting longer each time (exponential back-off). */
    RETRY_WITH_BACKOFF,

    /** Try again once someone signs in (a sign-in starts a sync at once). */
    WAIT_FOR_SIGN_IN,

    /** Trying again unchanged cannot help: stop and tell the user what to do. */
    STOP,
}

/**
 * The sync policy of the app, the same for the background worker and the Sync screen: which
 * failure is retried, which waits for a sign-in, which stops, and what the user is told.
 */
object SyncPolicy {
    /** The failure a sync's exception stands for. */
    fun failureOf(e: Throwable): SyncFailure = when (e) {
        is CrfError.Network -> SyncFailure.NETWORK
        is CrfError.Locked, is CrfError.NotSignedIn -> SyncFailure.LOCKED
        is CrfError.KeyUnavailable -> SyncFailure.KEY_UNAVAILABLE
        is CrfError.NotEnrolled -> SyncFailure.NOT_ENROLLED
        is CrfError.Revoked -> SyncFailure.REVOKED
        is CrfError.Refused -> SyncFailure.REFUSED
        is CrfError.CertificateMismatch -> SyncFailure.CERTIFICATE_MISMATCH
        is CrfError.UpdateRequired -> SyncFailure.UPDATE_REQUIRED
        is CrfError.Cancelled -> SyncFailure.CANCELLED
        is CrfError.Storage -> SyncFailure.STORAGE
        else -> SyncFailure.OTHER
    }

    fun actionFor(failure: SyncFailure): SyncAction = when (failure) {
        SyncFailure.NETWORK, SyncFailure.STORAGE -> SyncAction.RETRY_WITH_BACKOFF
        SyncFailure.LOCKED, SyncFailure.KEY_UNAVAILABLE -> SyncAction.WAIT_FOR_SIGN_IN
        SyncFailure.NOT_ENROLLED, SyncFailure.REVOKED, SyncFailure.REFUSED, SyncFailure.CERTIFICATE_MISMATCH,
        SyncFailure.UPDATE_REQUIRED, SyncFailure.CANCELLED, SyncFailure.OTHER -> SyncAction.STOP
    }

    /** Enrolment (again) is the way on. */
    fun needsEnrolment(failure: SyncFailure): Boolean =
        failure == SyncFailure.NOT_ENROLLED || failure == SyncFailure.REVOKED

    /** Pressing "sync" again unchanged may work. */
    fun canRetry(failure: SyncFailure): Boolean =
        failure == SyncFailure.NETWORK || failure == SyncFailure.CANCELLED || failure == SyncFailure.STORAGE ||
            failure == SyncFailure.LOCKED || failure == SyncFailure.KEY_UNAVAILABLE

    /** What the user is told, in [lang]: what happened and what to do. */
    fun message(failure: SyncFailure, lang: Lang): UiMessage = when (failure) {
        SyncFailure.CANCELLED -> Messages.info(MessageKey.SYNC_CANCELLED, lang)
        SyncFailure.NETWORK -> Messages.error(MessageKey.NETWORK, lang)
        SyncFailure.LOCKED -> Messages.error(MessageKey.LOCKED, lang)
        SyncFailure.KEY_UNAVAILABLE -> Messages.error(MessageKey.KEY_UNAVAILABLE, lang)
        SyncFailure.NOT_ENROLLED -> Messages.error(MessageKey.NOT_ENROLLED, lang)
        SyncFailure.REVOKED -> Messages.error(MessageKey.REVOKED, lang)
        SyncFailure.REFUSED -> Messages.error(MessageKey.REFUSED, lang)
        SyncFailure.CERTIFICATE_MISMATCH -> Messages.error(MessageKey.CERTIFICATE_MISMATCH, lang)
        SyncFailure.UPDATE_REQUIRED -> Messages.error(MessageKey.UPDATE_REQUIRED, lang)
        SyncFailure.STORAGE -> Messages.error(MessageKey.STORAGE, lang)
        SyncFailure.OTHER -> Messages.error(MessageKey.UNEXPECTED, lang)
    }
}
