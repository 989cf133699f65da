package org.wardcrf.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import org.wardcrf.app.R
import org.wardcrf.ui.staff.PinState

/**
 * "Set PIN": the signed-in staff member types their password again and the new PIN twice.
 * The model refuses two different PINs or a malformed one before calling the store; an error
 * (wrong password, ...) keeps the dialog open with its message. Nothing typed outlives it.
 */
@Composable
fun PinDialog(state: PinState, onSet: (password: String, pin: String, repeat: String) -> Unit, onDismiss: () -> Unit) {
    var password by remember { mutableStateOf("") }
    var pin by remember { mutableStateOf("") }
    var repeat by remember { mutableStateOf("") }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.pin_title)) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text(stringResource(R.string.pin_explain))
                OutlinedTextField(
                    value = password,
                    onValueChange = { password = it },
                    label = { Text(stringResource(R.string.signin_password)) },
                    singleLine = true,
                    visualTransformation = PasswordVisualTransformation(),
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
                )
                OutlinedTextField(
                    value = pin,
                    onValueChange = { v -> pin = v.filter(Char::isDigit).take(12) },
                    label = { Text(stringResource(R.string.pin_new)) },
                    singleLine = true,
                    visualTransformation = PasswordVisualTransformation(),
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
                )
                OutlinedTextField(
                    value = repeat,
                    onValueChange = { v -> repeat = v.filter(Char::isDigit).take(12) },
                    label = { Text(stringResource(R.string.pin_repeat)) },
                    singleLine = true,
                    visualTransformation = PasswordVisualTransformation(),
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
                )
                state.message?.takeIf { it.isError }?.let { Text(it.text, color = MaterialTheme.colorScheme.error) }
            }
        },
        confirmButton = {
            TextButton(
                onClick = {
                    onSet(password, pin, repeat)
                    password = ""
                    pin = ""
                    repeat = ""
                },
                enabled = !state.busy && password.isNotEmpty() && pin.isNotEmpty() && repeat.isNotEmpty(),
            ) { Text(stringResource(R.string.pin_submit)) }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } },
    )
}
