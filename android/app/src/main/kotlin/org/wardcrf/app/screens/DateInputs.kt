package org.wardcrf.app.screens

import android.text.format.DateFormat
import androidx.compose.foundation.layout.padding
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.CalendarMonth
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.DatePicker
import androidx.compose.material3.DatePickerDialog
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.SegmentedButton
import androidx.compose.material3.SegmentedButtonDefaults
import androidx.compose.material3.SingleChoiceSegmentedButtonRow
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TimePicker
import androidx.compose.material3.rememberDatePickerState
import androidx.compose.material3.rememberTimePickerState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import org.wardcrf.app.R
import org.wardcrf.ui.form.DatePrecision
import org.wardcrf.ui.form.Dates
import org.wardcrf.ui.form.FieldUi
import org.wardcrf.ui.store.Kind
import java.time.Instant
import java.time.LocalDate
import java.time.ZoneId
import java.time.ZoneOffset

/**
 * The calendar button beside a date or date-time field: a Material 3 date picker (with "full
 * date / year and month / year only" where the field allows a partial date), then, for a
 * date-time, a time picker in the tablet's 12/24-hour style. What is picked is written as the
 * core reads it ([Dates]) and saved like a typed value; typing stays possible.
 */
@Composable
fun DatePickerButton(field: FieldUi, enabled: Boolean, onPicked: (String) -> Unit) {
    // Which dialog is open survives rotation; the picked date waits for its time.
    var picking by rememberSaveable { mutableStateOf(false) }
    var pickedDay by rememberSaveable { mutableStateOf<String?>(null) }
    IconButton(onClick = { picking = true }, enabled = enabled) {
        Icon(Icons.Default.CalendarMonth, contentDescription = stringResource(R.string.date_pick, field.field.label))
    }
    if (picking) {
        DateDialog(
            field = field,
            onDismiss = { picking = false },
            onPicked = { day, precision ->
                picking = false
                if (field.field.kind == Kind.DATETIME) pickedDay = day.toString() else onPicked(Dates.format(day, precision))
            },
        )
    }
    pickedDay?.let { day ->
        TimeDialog(
            field = field,
            onDismiss = { pickedDay = null },
            onPicked = { hour, minute ->
                pickedDay = null
                onPicked(Dates.dateTime(LocalDate.parse(day), hour, minute, ZoneId.systemDefault()))
            },
        )
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
private fun DateDialog(field: FieldUi, onDismiss: () -> Unit, onPicked: (LocalDate, DatePrecision) -> Unit) {
    val start: Pair<LocalDate, DatePrecision>? = when (field.field.kind) {
        Kind.DATETIME -> Dates.parseDateTime(field.text, ZoneId.systemDefault())?.let { it.toLocalDate() to DatePrecision.DAY }
        else -> Dates.parse(field.text)
    }
    val precisions = if (field.field.kind == Kind.DATE) Dates.precisions(field.field.partialDate) else listOf(DatePrecision.DAY)
    var precision by rememberSaveable { mutableStateOf(start?.second ?: DatePrecision.DAY) }
    // The picker works in UTC midnights.
    val state = rememberDatePickerState(
        initialSelectedDateMillis = start?.first?.atStartOfDay(ZoneOffset.UTC)?.toInstant()?.toEpochMilli(),
    )
    DatePickerDialog(
        onDismissRequest = onDismiss,
        confirmButton = {
            TextButton(
                enabled = state.selectedDateMillis != null,
                onClick = {
                    val millis = state.selectedDateMillis ?: return@TextButton
                    onPicked(Instant.ofEpochMilli(millis).atZone(ZoneOffset.UTC).toLocalDate(), precision)
                },
            ) { Text(stringResource(R.string.confirm)) }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } },
    ) {
        if (precisions.size > 1) {
            SingleChoiceSegmentedButtonRow(Modifier.padding(horizontal = 24.dp, vertical = 8.dp)) {
                precisions.forEachIndexed { i, p ->
                    SegmentedButton(
                        selected = precision == p,
                        onClick = { precision = p },
                        shape = SegmentedButtonDefaults.itemShape(index = i, count = precisions.size),
                    ) { Text(stringResource(precisionLabel(p))) }
                }
            }
        }
        DatePicker(state = state, showModeToggle = true)
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
private fun TimeDialog(field: FieldUi, onDismiss: () -> Unit, onPicked: (Int, Int) -> Unit) {
    val start = Dates.parseDateTime(field.text, ZoneId.systemDefault())
    val state = rememberTimePickerState(
        initialHour = start?.hour ?: 0,
        initialMinute = start?.minute ?: 0,
        is24Hour = DateFormat.is24HourFormat(LocalContext.current),
    )
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.time_pick, field.field.label)) },
        text = { TimePicker(state = state) },
        confirmButton = { TextButton(onClick = { onPicked(state.hour, state.minute) }) { Text(stringResource(R.string.confirm)) } },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.cancel)) } },
    )
}

private fun precisionLabel(p: DatePrecision): Int = when (p) {
    DatePrecision.DAY -> R.string.precision_day
    DatePrecision.MONTH -> R.string.precision_month
    DatePrecision.YEAR -> R.string.precision_year
}
