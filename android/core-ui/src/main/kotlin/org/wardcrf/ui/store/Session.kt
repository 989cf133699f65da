package org.wardcrf.ui.store

/**
 * The form session of a case as the core computes it (the bindings' `FormSession` and its
 * records, one to one): the sections the answers show, each field with its typed answer,
 * state and messages in the language asked for, rows, values left in hidden fields, progress,
 * the next missing field and what blocks completion. The shell renders it; it evaluates no
 * skip logic and parses no value of its own.
 */
data class FormSession(
    val caseId: String,
    val formId: String,
    val title: String,
    val status: Status,
    /** Visible sections only, in the form's order. */
    val sections: List<SessionSection>,
    val hiddenValues: List<HiddenValue>,
    val nextMissing: FieldRef?,
    val completionProblems: List<Issue>,
    val canComplete: Boolean,
    val conflicts: Int,
)

/** A field's answer, typed by the field's kind (the bindings' `AnswerValue`). */
sealed interface Answer {
    data class Text(val text: String) : Answer
    data class Number(val value: Double) : Answer

    /** `YYYY`, `YYYY-MM` or `YYYY-MM-DD`. */
    data class Date(val date: String) : Answer

    /** ISO 8601 date and time. */
    data class DateTime(val datetime: String) : Answer
    data class Choice(val code: String) : Answer
    data class Choices(val codes: List<String>) : Answer
    data class Bool(val value: Boolean) : Answer
}

enum class FieldState { EMPTY, VALID, NEEDS_REASON, CONFIRMED, ERROR, CONFLICT }

/** One message on a field, in the language asked for; [warning] when it may be confirmed. */
data class FieldMessage(val code: Problem, val message: String, val warning: Boolean)

/** A number as entered, in the unit it was entered in. */
data class EnteredQuantity(val value: Double, val unit: String)

/** One value of a field in conflict: who entered it, where, when, and why. */
data class SessionCandidate(
    val answer: Answer?,
    val shown: String,
    val device: String,
    val user: String,
    val time: Long,
    val reason: String?,
)

data class SessionField(
    val ref: FieldRef,
    val id: String,
    val kind: Kind,
    val label: String,
    val help: String?,
    val required: Boolean,
    val identifying: Boolean,
    val partialDate: Boolean,
    val decimals: Int?,
    val maxLength: Int?,
    val hardLimits: Limits?,
    val softLimits: Limits?,
    val choices: List<ChoiceSpec>,
    /** The unit a number is stored in. */
    val unit: UnitSpec?,
    /** Every unit a value may be entered in, the stored unit first. */
    val units: List<UnitSpec>,
    /** The unit a new entry starts in: the site's default, else the field's. */
    val defaultUnit: String?,
    val answer: Answer?,
    /** The stored value as a person reads it (`38.5 °C (entered 101.3 °F)`). */
    val shown: String?,
    val entered: EnteredQuantity?,
    /** The reason that confirmed a warning. */
    val confirmation: String?,
    val state: FieldState,
    val messages: List<FieldMessage>,
    val candidates: List<SessionCandidate>,
)

data class SessionRow(val rowId: String, val fields: List<SessionField>)

data class SessionGroup(
    val id: String,
    val label: String,
    val help: String?,
    val maxRows: Int?,
    val canAddRow: Boolean,
    val rows: List<SessionRow>,
)

sealed interface SessionItem {
    data class Field(val field: SessionField) : SessionItem
    data class Group(val group: SessionGroup) : SessionItem
}

data class SectionProgress(val answered: Int, val required: Int, val requiredAnswered: Int, val problems: Int)

data class SessionSection(
    val id: String,
    val label: String,
    val help: String?,
    val items: List<SessionItem>,
    val progress: SectionProgress,
)

/** A value left in a field the answers now hide. */
data class HiddenValue(val ref: FieldRef, val label: String, val shown: String)

/** What completing a case does with values left in hidden fields. */
sealed interface HiddenChoice {
    /** The clinician saw none (completion fails if there are some). */
    data object NoHiddenValues : HiddenChoice
    data object Keep : HiddenChoice
    data class Clear(val reason: String) : HiddenChoice
}

/** Every visible field of the session, rows' fields included, in form order. */
fun FormSession.fields(): Sequence<SessionField> = sections.asSequence().flatMap { it.items }.flatMap { item ->
    when (item) {
        is SessionItem.Field -> sequenceOf(item.field)
        is SessionItem.Group -> item.group.rows.asSequence().flatMap { it.fields }
    }
}

/** A visible field of the session by its path. */
fun FormSession.field(ref: FieldRef): SessionField? = fields().firstOrNull { it.ref == ref }

/** The answer of a visible field, if any. */
fun FormSession.answerOf(ref: FieldRef): Answer? = field(ref)?.answer

/** The section that shows a field (or a field of one of its rows). */
fun FormSession.sectionOf(ref: FieldRef): SessionSection? = sections.firstOrNull { s ->
    s.items.any { item ->
        when (item) {
            is SessionItem.Field -> item.field.ref == ref
            is SessionItem.Group -> item.group.id == ref.group || item.group.rows.any { r -> r.fields.any { it.ref == ref } }
        }
    }
}
