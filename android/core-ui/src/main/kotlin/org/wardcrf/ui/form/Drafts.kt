package org.wardcrf.ui.form

import org.wardcrf.ui.store.Answer
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Kind
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Problem
import org.wardcrf.ui.store.SessionField
import org.wardcrf.ui.store.UnitSpec
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages

/**
 * Where a form keeps typed-but-unsaved input so that it survives the app being killed in the
 * background (Android: the screen's `SavedStateHandle`; tests: [InMemory]). Only drafts are
 * kept, never what is already in the store; a draft is gone once saved or discarded.
 */
interface DraftKeeper {
    /** The drafts kept for this form, as the last [keep] left them. */
    fun restore(): List<KeptDraft>

    /** Replaces the kept drafts. */
    fun keep(drafts: List<KeptDraft>)

    /** Keeps drafts for as long as the object lives. */
    class InMemory : DraftKeeper {
        @Volatile
        private var kept: List<KeptDraft> = emptyList()
        override fun restore() = kept
        override fun keep(drafts: List<KeptDraft>) {
            kept = drafts
        }
    }

    companion object {
        /** Keeps nothing. */
        val NONE: DraftKeeper = object : DraftKeeper {
            override fun restore() = emptyList<KeptDraft>()
            override fun keep(drafts: List<KeptDraft>) {}
        }
    }
}

/**
 * One kept draft: where (a [FieldRef] as [key]), the text typed and the unit chosen. Strings
 * only, so that a platform's saved state can hold it as it is.
 */
data class KeptDraft(val key: String, val text: String, val unit: String?) {
    val ref: FieldRef? get() = refOf(key)

    companion object {
        /** `field`, or `group/row/field` for a field of a row. */
        fun keyOf(ref: FieldRef): String =
            if (ref.group == null || ref.rowId == null) ref.field else "${ref.group}/${ref.rowId}/${ref.field}"

        fun refOf(key: String): FieldRef? {
            val parts = key.split('/')
            return when (parts.size) {
                1 -> FieldRef(parts[0]).takeIf { parts[0].isNotEmpty() }
                3 -> FieldRef(parts[2], parts[0], parts[1])
                else -> null
            }
        }
    }
}

/** What a clinician has typed into one field, in the unit chosen (UCUM code), not yet saved. */
data class Draft(val text: String, val unit: String?)

/** A draft read as an answer to save. */
sealed class Input {
    /** Clears the field. */
    data object Empty : Input()

    /** A typed answer; [unit]: the unit a number was entered in. */
    data class Value(val answer: Answer, val unit: String?) : Input()

    /** Not readable as this field's kind: the message says what to enter. */
    data class Invalid(val key: MessageKey) : Input()
}

/**
 * Between a field's typed answer and the text of its input: the text an answer shows (as it
 * was entered, in the unit it was entered in), and the answer a typed text stands for. The
 * value itself is checked by the core when it is saved.
 */
object Drafts {
    /** The draft that shows a field's answer; a new entry starts in the field's default unit. */
    fun of(f: SessionField): Draft {
        val entered = f.entered
        val unit = entered?.unit ?: (if (f.answer == null) f.defaultUnit else null) ?: f.unit?.code
        val text = when {
            entered != null -> number(entered.value)
            else -> when (val a = f.answer) {
                null -> ""
                is Answer.Text -> a.text
                is Answer.Number -> number(a.value)
                is Answer.Date -> a.date
                is Answer.DateTime -> a.datetime
                is Answer.Choice -> a.code
                is Answer.Choices -> a.codes.joinToString(",")
                is Answer.Bool -> a.value.toString()
            }
        }
        return Draft(text, unit)
    }

    /**
     * The stored value as a person reads it, with what was entered when that was another
     * unit: `38.5 °C (entered 101.3 °F)`; null when empty.
     */
    fun stored(f: SessionField, lang: Lang): String? {
        val shown = f.shown ?: return null
        val entered = f.entered ?: return shown
        if (entered.unit == f.unit?.code) return shown
        val unit = f.units.firstOrNull { it.code == entered.unit }?.display ?: entered.unit
        val word = when (lang) {
            Lang.EN -> "entered"
            Lang.JA -> "入力値"
            Lang.DE -> "eingegeben"
        }
        return "$shown ($word ${number(entered.value)} $unit)"
    }

    /** The units a number may be entered in, as the unit picker lists them: the site's default first. */
    fun unitChoices(f: SessionField): List<UnitSpec> {
        val first = f.units.firstOrNull { it.code == f.defaultUnit } ?: return f.units
        return listOf(first) + f.units.filter { it != first }
    }

    /** A number as typed: no trailing `.0`. */
    fun number(v: Double): String =
        if (v == Math.rint(v) && kotlin.math.abs(v) < 1e15) v.toLong().toString() else v.toString()

    /** Reads a draft as the field's kind. Decimal commas (German keyboards) are accepted. */
    fun read(f: SessionField, draft: Draft): Input {
        val text = draft.text.trim()
        if (text.isEmpty()) return Input.Empty
        return when (f.kind) {
            Kind.INTEGER, Kind.DECIMAL -> {
                val n = text.replace(',', '.').toDoubleOrNull()?.takeIf { it.isFinite() }
                    ?: return Input.Invalid(MessageKey.NOT_A_NUMBER)
                val unit = draft.unit ?: f.unit?.code
                val converted = unit != null && unit != f.unit?.code
                if (f.kind == Kind.INTEGER && !converted && n != Math.rint(n)) {
                    Input.Invalid(MessageKey.NOT_A_WHOLE_NUMBER)
                } else {
                    Input.Value(Answer.Number(n), unit)
                }
            }
            Kind.BOOLEAN -> Input.Value(Answer.Bool(text == "true"), null)
            Kind.MULTICHOICE -> Input.Value(Answer.Choices(text.split(',').map { it.trim() }.filter { it.isNotEmpty() }), null)
            Kind.CHOICE -> Input.Value(Answer.Choice(text), null)
            Kind.DATE -> Input.Value(Answer.Date(text), null)
            Kind.DATETIME -> Input.Value(Answer.DateTime(text), null)
            Kind.TEXT -> Input.Value(Answer.Text(text), null)
        }
    }

    /**
     * What the reason dialog quotes when the core asks to confirm a value: the expected range
     * for a soft limit (the field's own, in its unit), that the number looks typed in another
     * unit for a unit slip, else that the value is unusual.
     */
    fun warnings(f: SessionField, codes: List<Problem>, lang: Lang): List<String> = codes.distinct().map { code ->
        val range = f.softLimits
        if (code == Problem.SOFT_LIMIT && range != null) {
            val unit = f.unit?.display?.let { " $it" } ?: ""
            Messages.text(
                MessageKey.EXPECTED_RANGE, lang,
                range.min?.let(::number) ?: "…", range.max?.let(::number) ?: "…", unit,
            )
        } else if (code == Problem.UNIT_SLIP) {
            Messages.text(MessageKey.UNIT_SLIP, lang)
        } else {
            Messages.text(MessageKey.NEEDS_CONFIRMATION, lang)
        }
    }
}
