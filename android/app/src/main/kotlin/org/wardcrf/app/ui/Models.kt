package org.wardcrf.app.ui

import androidx.compose.runtime.Composable
import androidx.lifecycle.SavedStateHandle
import androidx.lifecycle.ViewModel
import androidx.lifecycle.createSavedStateHandle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import kotlinx.coroutines.CoroutineScope
import org.wardcrf.ui.form.DraftKeeper
import org.wardcrf.ui.form.KeptDraft

/**
 * An AndroidX ViewModel that owns one of :core-ui's state holders, created with the
 * ViewModel's scope (main thread; store calls go to Dispatchers.IO inside the holder) and its
 * SavedStateHandle, so it survives configuration changes, what it keeps in the handle survives
 * the process being killed, and it is cancelled when its screen leaves the back stack.
 */
class ModelHolder<M>(handle: SavedStateHandle, create: (CoroutineScope, SavedStateHandle) -> M) : ViewModel() {
    val model: M = create(viewModelScope, handle)
}

@Composable
fun <M> rememberModel(key: String, create: (CoroutineScope) -> M): M =
    rememberSavingModel(key) { scope, _ -> create(scope) }

/** [rememberModel] for a holder that keeps state in the screen's [SavedStateHandle]. */
@Composable
fun <M> rememberSavingModel(key: String, create: (CoroutineScope, SavedStateHandle) -> M): M =
    viewModel(key = key) { ModelHolder(createSavedStateHandle(), create) }.model

/**
 * Unsaved form input in the screen's saved state (three parallel string lists: field, text,
 * unit), restored by Android after it killed the app in the background. Saved state lives in
 * the system's memory for the task, not in a file, and goes with the task.
 */
class SavedStateDraftKeeper(private val handle: SavedStateHandle) : DraftKeeper {
    override fun restore(): List<KeptDraft> {
        val keys = handle.get<ArrayList<String>>(KEYS) ?: return emptyList()
        val texts = handle.get<ArrayList<String>>(TEXTS) ?: return emptyList()
        val units = handle.get<ArrayList<String>>(UNITS) ?: return emptyList()
        if (keys.size != texts.size || keys.size != units.size) return emptyList()
        return keys.indices.map { i -> KeptDraft(keys[i], texts[i], units[i].ifEmpty { null }) }
    }

    override fun keep(drafts: List<KeptDraft>) {
        handle[KEYS] = ArrayList(drafts.map { it.key })
        handle[TEXTS] = ArrayList(drafts.map { it.text })
        handle[UNITS] = ArrayList(drafts.map { it.unit.orEmpty() })
    }

    private companion object {
        const val KEYS = "drafts.keys"
        const val TEXTS = "drafts.texts"
        const val UNITS = "drafts.units"
    }
}
