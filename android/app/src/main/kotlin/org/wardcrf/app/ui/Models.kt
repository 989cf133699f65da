package org.wardcrf.app.ui

import androidx.compose.runtime.Composable
import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import kotlinx.coroutines.CoroutineScope

/**
 * An AndroidX ViewModel that owns one of :core-ui's state holders, created with the
 * ViewModel's scope (main thread; store calls go to Dispatchers.IO inside the holder), so it
 * survives configuration changes and is cancelled when its screen leaves the back stack.
 */
class ModelHolder<M>(create: (CoroutineScope) -> M) : ViewModel() {
    val model: M = create(viewModelScope)
}

@Composable
fun <M> rememberModel(key: String, create: (CoroutineScope) -> M): M =
    viewModel(key = key) { ModelHolder(create) }.model
