package org.wardcrf.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.selection.toggleable
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.Check
import androidx.compose.material.icons.filled.Close
import androidx.compose.material.icons.filled.Error
import androidx.compose.material.icons.filled.ReportProblem
import androidx.compose.material.icons.filled.Warning
import androidx.compose.material3.AssistChip
import androidx.compose.material3.Checkbox
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ExposedDropdownMenuBox
import androidx.compose.material3.ExposedDropdownMenuDefaults
import androidx.compose.material3.FilterChip
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.MenuAnchorType
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.focus.onFocusChanged
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import org.wardcrf.app.R
import org.wardcrf.ui.form.Drafts
import org.wardcrf.ui.form.FieldUi
import org.wardcrf.ui.form.Severity
import org.wardcrf.ui.store.FieldState
import org.wardcrf.ui.store.Kind

/** What a field can ask of its screen. */
class FieldActions(
    val edit: (String) -> Unit,
    val selectUnit: (String) -> Unit,
    val commit: () -> Unit,
    val discard: () -> Unit,
    val reviewConflict: () -> Unit,
)

/**
 * One form field, by kind: labelled (TalkBack reads the label, "required", and each message),
 * the core's messages under it after each save, what is stored, and a conflict marker. Numbers
 * get a numeric keypad and, with more than one unit, a unit picker; dates a date (and time)
 * picker.
 */
@Composable
fun FieldInput(field: FieldUi, actions: FieldActions, enabled: Boolean, modifier: Modifier = Modifier) {
    Column(modifier.fillMaxWidth().padding(vertical = 6.dp)) {
        when (field.field.kind) {
            Kind.CHOICE -> ChoiceInput(field, actions, enabled)
            Kind.MULTICHOICE -> MultiChoiceInput(field, actions, enabled)
            Kind.BOOLEAN -> BooleanInput(field, actions, enabled)
            else -> TextInput(field, actions, enabled)
        }
        FieldNotes(field, actions)
    }
}

@Composable
private fun label(field: FieldUi): String =
    if (field.field.required) "${field.field.label} *" else field.field.label

@Composable
private fun TextInput(field: FieldUi, actions: FieldActions, enabled: Boolean) {
    var focused by remember { mutableStateOf(false) }
    val keyboard = when (field.field.kind) {
        Kind.INTEGER -> KeyboardType.Number
        Kind.DECIMAL -> KeyboardType.Decimal
        else -> KeyboardType.Text
    }
    val placeholder = when (field.field.kind) {
        Kind.DATE -> stringResource(R.string.date_hint)
        Kind.DATETIME -> stringResource(R.string.datetime_hint)
        else -> null
    }
    Row(verticalAlignment = Alignment.Top, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        OutlinedTextField(
            value = field.text,
            onValueChange = actions.edit,
            enabled = enabled,
            label = { Text(label(field)) },
            placeholder = if (placeholder != null) { { Text(placeholder) } } else null,
            singleLine = field.field.kind != Kind.TEXT || (field.field.maxLength ?: 0) in 1..120,
            isError = field.severity == Severity.ERROR,
            suffix = unitSuffix(field),
            keyboardOptions = KeyboardOptions(keyboardType = keyboard, imeAction = ImeAction.Done),
            keyboardActions = KeyboardActions(onDone = { if (field.dirty) actions.commit() }),
            trailingIcon = if (field.dirty) {
                {
                    Row {
                        IconButton(onClick = actions.discard) {
                            Icon(Icons.Default.Close, stringResource(R.string.field_discard, field.field.label))
                        }
                        IconButton(onClick = actions.commit) {
                            Icon(Icons.Default.Check, stringResource(R.string.field_save, field.field.label))
                        }
                    }
                }
            } else null,
            modifier = Modifier.weight(1f).onFocusChanged {
                // Leaving a changed field saves it (a warning then asks for the reason).
                if (focused && !it.isFocused && field.dirty) actions.commit()
                focused = it.isFocused
            },
        )
        if (field.field.kind == Kind.DATE || field.field.kind == Kind.DATETIME) {
            DatePickerButton(field, enabled) { picked ->
                actions.edit(picked)
                actions.commit()
            }
        }
        if (field.field.units.size > 1) UnitPicker(field, actions, enabled)
    }
}

/** The unit after a number when there is no other unit to choose. */
private fun unitSuffix(field: FieldUi): (@Composable () -> Unit)? {
    val unit = field.field.unit ?: return null
    if (field.field.units.size > 1) return null
    return { Text(unit.display) }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
private fun UnitPicker(field: FieldUi, actions: FieldActions, enabled: Boolean) {
    var open by remember { mutableStateOf(false) }
    // The site's default unit first (a new entry starts in it), then the field's others.
    val units = Drafts.unitChoices(field.field)
    val current = units.firstOrNull { it.code == field.unit } ?: units.first()
    ExposedDropdownMenuBox(expanded = open, onExpandedChange = { if (enabled) open = it }, modifier = Modifier.width(120.dp)) {
        OutlinedTextField(
            value = current.display,
            onValueChange = {},
            readOnly = true,
            enabled = enabled,
            label = { Text(stringResource(R.string.field_unit, field.field.label), maxLines = 1) },
            trailingIcon = { ExposedDropdownMenuDefaults.TrailingIcon(expanded = open) },
            modifier = Modifier.menuAnchor(MenuAnchorType.PrimaryNotEditable),
        )
        ExposedDropdownMenu(expanded = open, onDismissRequest = { open = false }) {
            units.forEach { u ->
                DropdownMenuItem(text = { Text(u.display) }, onClick = {
                    open = false
                    actions.selectUnit(u.code)
                })
            }
        }
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
private fun ChoiceInput(field: FieldUi, actions: FieldActions, enabled: Boolean) {
    var open by remember { mutableStateOf(false) }
    val selected = field.field.choices.firstOrNull { it.code == field.text }
    ExposedDropdownMenuBox(expanded = open, onExpandedChange = { if (enabled) open = it }) {
        OutlinedTextField(
            value = selected?.label ?: field.text,
            onValueChange = {},
            readOnly = true,
            enabled = enabled,
            label = { Text(label(field)) },
            placeholder = { Text(stringResource(R.string.choose)) },
            isError = field.severity == Severity.ERROR,
            trailingIcon = { ExposedDropdownMenuDefaults.TrailingIcon(expanded = open) },
            modifier = Modifier.fillMaxWidth().menuAnchor(MenuAnchorType.PrimaryNotEditable),
        )
        ExposedDropdownMenu(expanded = open, onDismissRequest = { open = false }) {
            field.field.choices.forEach { c ->
                DropdownMenuItem(text = { Text(c.label) }, onClick = {
                    open = false
                    actions.edit(c.code)
                    actions.commit()
                })
            }
            if (field.text.isNotEmpty()) {
                DropdownMenuItem(text = { Text(stringResource(R.string.clear)) }, onClick = {
                    open = false
                    actions.edit("")
                    actions.commit()
                })
            }
        }
    }
}

@Composable
private fun MultiChoiceInput(field: FieldUi, actions: FieldActions, enabled: Boolean) {
    val codes = field.text.split(',').map { it.trim() }.filter { it.isNotEmpty() }.toSet()
    Text(label(field), style = MaterialTheme.typography.titleSmall)
    field.field.choices.forEach { c ->
        val on = c.code in codes
        Row(
            Modifier.fillMaxWidth()
                .toggleable(value = on, enabled = enabled, role = Role.Checkbox, onValueChange = { now ->
                    val next = if (now) codes + c.code else codes - c.code
                    // Keep the form's order of choices.
                    actions.edit(field.field.choices.map { it.code }.filter { it in next }.joinToString(","))
                    actions.commit()
                })
                .padding(vertical = 2.dp),
            verticalAlignment = Alignment.CenterVertically,
        ) {
            Checkbox(checked = on, onCheckedChange = null, enabled = enabled)
            Text(c.label, Modifier.padding(start = 8.dp))
        }
    }
}

@Composable
private fun BooleanInput(field: FieldUi, actions: FieldActions, enabled: Boolean) {
    Text(label(field), style = MaterialTheme.typography.titleSmall)
    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        listOf("true" to stringResource(R.string.yes), "false" to stringResource(R.string.no)).forEach { (value, text) ->
            FilterChip(
                selected = field.text == value,
                enabled = enabled,
                onClick = {
                    actions.edit(if (field.text == value) "" else value)
                    actions.commit()
                },
                label = { Text(text) },
            )
        }
    }
}

/**
 * The core's messages on the field (errors red, warnings amber until a reason confirms them),
 * what cannot be read as typed, the stored value, help, and a conflict marker.
 */
@Composable
private fun FieldNotes(field: FieldUi, actions: FieldActions) {
    val error = MaterialTheme.colorScheme.error
    val warning = MaterialTheme.colorScheme.tertiary
    val muted = MaterialTheme.colorScheme.onSurfaceVariant
    val f = field.field
    field.inputError?.let { Note(Icons.Default.Error, it.text, error) }
    f.messages.forEach { m ->
        when {
            !m.warning -> Note(Icons.Default.Error, m.message, error)
            f.state == FieldState.CONFIRMED -> {}
            else -> Note(Icons.Default.Warning, m.message, warning)
        }
    }
    f.confirmation?.let { Note(Icons.Default.Check, stringResource(R.string.field_confirmed, it), muted) }
    if (field.severity == Severity.MISSING && !field.dirty) Note(null, stringResource(R.string.field_required), muted)
    val stored = field.stored
    if (stored != null && (field.dirty || f.entered != null)) Note(null, stringResource(R.string.field_saved, stored), muted)
    f.help?.let { Text(it, style = MaterialTheme.typography.bodySmall, color = muted, modifier = Modifier.padding(top = 2.dp)) }
    if (field.conflicted) {
        val text = stringResource(R.string.field_conflicted)
        AssistChip(
            onClick = actions.reviewConflict,
            label = { Text(text) },
            leadingIcon = { Icon(Icons.Default.ReportProblem, contentDescription = null) },
            modifier = Modifier.semantics { contentDescription = text },
        )
    }
}

@Composable
private fun Note(icon: androidx.compose.ui.graphics.vector.ImageVector?, text: String, color: Color) {
    Row(verticalAlignment = Alignment.CenterVertically, modifier = Modifier.padding(top = 2.dp, start = 4.dp)) {
        if (icon != null) Icon(icon, contentDescription = null, tint = color, modifier = Modifier.padding(end = 4.dp))
        Text(text, color = color, style = MaterialTheme.typography.bodySmall)
    }
}
