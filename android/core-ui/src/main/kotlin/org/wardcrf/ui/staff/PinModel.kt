package org.wardcrf.ui.staff

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import org.wardcrf.ui.text.UiMessage

/**
 * The "Set PIN" dialog: the signed-in staff member types their password again and the new PIN
 * twice. [message] is the last outcome (an error keeps the dialog open; [done] closes it).
 */
data class PinState(
    val busy: Boolean = false,
    val message: UiMessage? = null,
    /** The PIN was set or removed: the dialog may close. */
    val done: Boolean = false,
)

/**
 * Setting and removing the signed-in staff member's PIN on this tablet. A PIN is 4 to 12
 * digits; the two entries must match; both are checked here before the store is called (the
 * store checks the PIN's form again and the password). Neither the password nor the PIN is
 * kept in the state.
 *
 * [scope] must run on one thread (Android's main dispatcher, or a test's `runBlocking`); store
 * calls run on [io]. Actions return their [Job] so that callers and tests can wait for them.
 */
class PinModel(
    private val store: CrfStore,
    private val lang: Lang,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher,
) {
    private val _state = MutableStateFlow(PinState())
    val state: StateFlow<PinState> = _state.asStateFlow()

    /** Starts a new dialog: no message, not done. */
    fun open() {
        _state.value = PinState()
    }

    fun clearMessage() {
        _state.value = _state.value.copy(message = null)
    }

    /** Sets (or replaces) the PIN: [pin] and [repeat] must match and be 4 to 12 digits. */
    fun setPin(password: String, pin: String, repeat: String): Job = scope.launch {
        when {
            pin != repeat -> _state.value = _state.value.copy(message = Messages.error(MessageKey.PIN_MISMATCH, lang), done = false)
            !isWellFormed(pin) -> _state.value = _state.value.copy(message = Messages.error(MessageKey.BAD_PIN, lang), done = false)
            else -> act(MessageKey.PIN_SET) { store.setPin(password, pin) }
        }
    }

    /** Removes the PIN: from now on this staff member signs in here with the password. */
    fun removePin(): Job = scope.launch { act(MessageKey.PIN_REMOVED) { store.removePin() } }

    private suspend fun act(success: MessageKey, call: () -> Unit) {
        _state.value = _state.value.copy(busy = true, message = null, done = false)
        _state.value = try {
            withContext(io) { call() }
            PinState(message = Messages.info(success, lang), done = true)
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            PinState(message = Messages.forError(e, lang))
        }
    }

    companion object {
        /** A PIN is 4 to 12 digits (ASCII). */
        fun isWellFormed(pin: String) = pin.length in 4..12 && pin.all { it in '0'..'9' }

        /**
         * Whether the sign-in screen offers the PIN field for [user]. The store does not say who
         * has a PIN, only who signed in on this tablet ([CrfStore.localStaff]); a PIN needs a
         * password sign-in here first, so nobody else can have one. [localStaff] null (it could
         * not be read): offer it, and the store's `NoPin` says what to do.
         */
        fun offersPin(user: String, localStaff: List<String>?) = localStaff == null || user.trim() in localStaff
    }
}
