package org.wardcrf.ui.form

import org.wardcrf.ui.json.Json
import org.wardcrf.ui.store.FieldSpec
import org.wardcrf.ui.store.Kind
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import java.util.Locale

/** What a clinician has typed into one field, in the unit chosen (UCUM code), not yet saved. */
data class Draft(val text: String, val unit: String?)

/** A draft read as a value to save. */
sealed class Input {
    /** Clears the field (`null`). */
    object Empty : Input()

    /** A value as JSON; [quantity] when entered in another unit than the field's own. */
    data class Value(val json: Json, val quantity: Pair<Double, String>? = null) : Input()

    /** Not readable as this field's kind: the message says what to enter. */
    data class Invalid(val key: MessageKey) : Input()
}

object Values {
    /** The draft that shows a stored value: what was entered, in the unit it was entered in. */
    fun draftOf(spec: FieldSpec, stored: Json?): Draft {
        val canonical = spec.unit?.code
        return when (stored) {
            null, Json.Null -> Draft("", canonical)
            is Json.Obj -> {
                val entered = stored["entered"] as? Json.Obj
                val shown = entered ?: stored
                Draft(scalarText(shown["value"]), (shown["unit"] as? Json.Str)?.value ?: canonical)
            }
            is Json.Arr -> Draft(stored.items.joinToString(",") { scalarText(it) }, canonical)
            else -> Draft(scalarText(stored), canonical)
        }
    }

    private fun scalarText(v: Json?): String = when (v) {
        null, Json.Null -> ""
        is Json.Num -> v.raw
        is Json.Str -> v.value
        is Json.Bool -> v.value.toString()
        else -> v.toString()
    }

    /** Reads a draft as the field's kind. Decimal commas (German keyboards) are accepted. */
    fun read(spec: FieldSpec, draft: Draft): Input {
        val text = draft.text.trim()
        if (text.isEmpty()) return Input.Empty
        val canonical = spec.unit?.code
        val otherUnit = draft.unit != null && canonical != null && draft.unit != canonical
        return when (spec.kind) {
            Kind.INTEGER, Kind.DECIMAL -> {
                val number = text.replace(',', '.').toDoubleOrNull()
                    ?: return Input.Invalid(MessageKey.NOT_A_NUMBER)
                when {
                    otherUnit -> Input.Value(
                        Json.Obj(linkedMapOf("value" to Json.number(number), "unit" to Json.Str(draft.unit!!))),
                        quantity = number to draft.unit,
                    )
                    spec.kind == Kind.INTEGER && number != Math.rint(number) -> Input.Invalid(MessageKey.NOT_A_WHOLE_NUMBER)
                    else -> Input.Value(Json.number(number))
                }
            }
            Kind.BOOLEAN -> Input.Value(Json.Bool(text == "true"))
            Kind.MULTICHOICE -> Input.Value(Json.Arr(text.split(',').map { it.trim() }.filter { it.isNotEmpty() }.map { Json.Str(it) }))
            Kind.TEXT, Kind.DATE, Kind.DATETIME, Kind.CHOICE -> Input.Value(Json.Str(text))
        }
    }

    /**
     * A value as a person reads it: `38.5 °C (entered 101.3 °F)`, a choice's label, `—` when
     * empty. [spec] may be null for a field the form no longer has.
     */
    fun display(spec: FieldSpec?, value: Json?, lang: Lang): String = when (value) {
        null, Json.Null -> "—"
        is Json.Obj -> {
            val main = quantity(spec, value)
            val entered = value["entered"] as? Json.Obj
            if (entered != null) "$main (${enteredWord(lang)} ${quantity(spec, entered)})" else main
        }
        is Json.Str -> spec?.choices?.firstOrNull { it.code == value.value }?.label ?: value.value
        is Json.Arr -> value.items.joinToString(", ") { display(spec, it, lang) }
        is Json.Bool -> yesNo(value.value, lang)
        is Json.Num -> listOfNotNull(value.raw, spec?.unit?.display).joinToString(" ")
    }

    fun display(spec: FieldSpec?, valueJson: String, lang: Lang): String =
        display(spec, runCatching { Json.parse(valueJson) }.getOrNull(), lang)

    private fun quantity(spec: FieldSpec?, q: Json.Obj): String {
        val number = (q["value"] as? Json.Num)?.raw ?: q["value"]?.toString() ?: "—"
        val code = (q["unit"] as? Json.Str)?.value
        val unit = listOfNotNull(spec?.unit) .plus(spec?.altUnits.orEmpty()).firstOrNull { it.code == code }?.display ?: code
        return listOfNotNull(number, unit).joinToString(" ")
    }

    private fun enteredWord(lang: Lang) = when (lang) {
        Lang.EN -> "entered"
        Lang.JA -> "入力値"
        Lang.DE -> "eingegeben"
    }

    fun yesNo(value: Boolean, lang: Lang) = when (lang) {
        Lang.EN -> if (value) "Yes" else "No"
        Lang.JA -> if (value) "はい" else "いいえ"
        Lang.DE -> if (value) "Ja" else "Nein"
    }

    fun locale(lang: Lang): Locale = when (lang) {
        Lang.EN -> Locale.ENGLISH
        Lang.JA -> Locale.JAPANESE
        Lang.DE -> Locale.GERMAN
    }

    /** A time (seconds since the epoch) in the user's language and time zone. */
    fun time(epochSeconds: Long, lang: Lang, zone: ZoneId): String =
        DateTimeFormatter.ofLocalizedDateTime(FormatStyle.MEDIUM, FormatStyle.SHORT)
            .withLocale(locale(lang))
            .withZone(zone)
            .format(Instant.ofEpochSecond(epochSeconds))
}
