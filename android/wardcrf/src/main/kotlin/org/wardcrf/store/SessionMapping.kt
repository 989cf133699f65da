package org.wardcrf.store

import org.wardcrf.AnswerValue
import org.wardcrf.HiddenValueChoice
import org.wardcrf.ui.store.Answer
import org.wardcrf.ui.store.ChoiceSpec
import org.wardcrf.ui.store.EnteredQuantity
import org.wardcrf.ui.store.FieldMessage
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.FieldState
import org.wardcrf.ui.store.FormSession
import org.wardcrf.ui.store.HiddenChoice
import org.wardcrf.ui.store.HiddenValue
import org.wardcrf.ui.store.Issue
import org.wardcrf.ui.store.Kind
import org.wardcrf.ui.store.Limits
import org.wardcrf.ui.store.Problem
import org.wardcrf.ui.store.SectionProgress
import org.wardcrf.ui.store.SessionCandidate
import org.wardcrf.ui.store.SessionField
import org.wardcrf.ui.store.SessionGroup
import org.wardcrf.ui.store.SessionItem
import org.wardcrf.ui.store.SessionRow
import org.wardcrf.ui.store.SessionSection
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.store.UnitSpec
import org.wardcrf.CaseStatus as FfiStatus
import org.wardcrf.FieldPath as FfiPath
import org.wardcrf.FieldState as FfiFieldState
import org.wardcrf.FormSession as FfiSession
import org.wardcrf.SessionField as FfiField
import org.wardcrf.SessionItem as FfiItem
import org.wardcrf.ValidationIssue as FfiIssue

/**
 * The bindings' form session records as `:core-ui`'s [FormSession], one to one, and typed
 * answers both ways. No value is parsed or re-encoded here: answers stay typed.
 */
internal object SessionMapping {
    fun session(s: FfiSession) = FormSession(
        caseId = s.caseId,
        formId = s.formId,
        title = s.title,
        status = status(s.status),
        sections = s.sections.map { sec ->
            SessionSection(
                id = sec.id,
                label = sec.label,
                help = sec.help,
                items = sec.items.map(::item),
                progress = SectionProgress(
                    sec.progress.answered.toInt(),
                    sec.progress.required.toInt(),
                    sec.progress.requiredAnswered.toInt(),
                    sec.progress.problems.toInt(),
                ),
            )
        },
        hiddenValues = s.hiddenValues.map { HiddenValue(ref(it.path), it.label, it.shown) },
        nextMissing = s.nextMissing?.let(::ref),
        completionProblems = s.completionProblems.map(::issue),
        canComplete = s.canComplete,
        conflicts = s.conflicts.toInt(),
    )

    private fun item(i: FfiItem): SessionItem = when (i) {
        is FfiItem.Field -> SessionItem.Field(field(i.field))
        is FfiItem.Group -> SessionItem.Group(
            SessionGroup(
                id = i.group.id,
                label = i.group.label,
                help = i.group.help,
                maxRows = i.group.maxRows?.toInt(),
                canAddRow = i.group.canAddRow,
                rows = i.group.rows.map { r -> SessionRow(r.rowId, r.fields.map(::field)) },
            ),
        )
    }

    private fun field(f: FfiField) = SessionField(
        ref = ref(f.path),
        id = f.id,
        kind = Kind.valueOf(f.kind.name),
        label = f.label,
        help = f.help,
        required = f.required,
        identifying = f.identifying,
        partialDate = f.partialDate,
        decimals = f.decimals?.toInt(),
        maxLength = f.maxLength?.toInt(),
        hardLimits = f.hardLimits?.let { Limits(it.min, it.max) },
        softLimits = f.softLimits?.let { Limits(it.min, it.max) },
        choices = f.choices.map { ChoiceSpec(it.code, it.label) },
        unit = f.unit?.let { UnitSpec(it.code, it.display) },
        units = f.units.map { UnitSpec(it.code, it.display) },
        defaultUnit = f.defaultUnit,
        answer = f.answer?.let(::answer),
        shown = f.shown,
        entered = f.entered?.let { EnteredQuantity(it.value, it.unit) },
        confirmation = f.confirmation,
        state = when (f.state) {
            FfiFieldState.EMPTY -> FieldState.EMPTY
            FfiFieldState.VALID -> FieldState.VALID
            FfiFieldState.NEEDS_REASON -> FieldState.NEEDS_REASON
            FfiFieldState.CONFIRMED -> FieldState.CONFIRMED
            FfiFieldState.ERROR -> FieldState.ERROR
            FfiFieldState.CONFLICT -> FieldState.CONFLICT
        },
        messages = f.messages.map { FieldMessage(Problem.valueOf(it.code.name), it.message, it.warning) },
        candidates = f.candidates.map { c ->
            SessionCandidate(c.answer?.let(::answer), c.shown, c.device, c.user, c.time, c.reason)
        },
    )

    fun answer(a: AnswerValue): Answer = when (a) {
        is AnswerValue.Text -> Answer.Text(a.text)
        is AnswerValue.Number -> Answer.Number(a.value)
        is AnswerValue.Date -> Answer.Date(a.date)
        is AnswerValue.DateTime -> Answer.DateTime(a.datetime)
        is AnswerValue.Choice -> Answer.Choice(a.code)
        is AnswerValue.Choices -> Answer.Choices(a.codes)
        is AnswerValue.Boolean -> Answer.Bool(a.value)
    }

    fun answerValue(a: Answer): AnswerValue = when (a) {
        is Answer.Text -> AnswerValue.Text(a.text)
        is Answer.Number -> AnswerValue.Number(a.value)
        is Answer.Date -> AnswerValue.Date(a.date)
        is Answer.DateTime -> AnswerValue.DateTime(a.datetime)
        is Answer.Choice -> AnswerValue.Choice(a.code)
        is Answer.Choices -> AnswerValue.Choices(a.codes)
        is Answer.Bool -> AnswerValue.Boolean(a.value)
    }

    fun hidden(c: HiddenChoice): HiddenValueChoice = when (c) {
        HiddenChoice.NoHiddenValues -> HiddenValueChoice.NoHiddenValues
        HiddenChoice.Keep -> HiddenValueChoice.Keep
        is HiddenChoice.Clear -> HiddenValueChoice.Clear(c.reason)
    }

    fun ref(p: FfiPath) = FieldRef(p.field, p.group, p.rowId)
    fun path(r: FieldRef) = FfiPath(r.field, r.group, r.rowId)

    private fun issue(i: FfiIssue) =
        Issue(i.field, i.group, i.rowId, Problem.valueOf(i.code.name), i.rule, i.confirmed, i.message)

    private fun status(s: FfiStatus) = when (s) {
        FfiStatus.DRAFT -> Status.DRAFT
        FfiStatus.COMPLETE -> Status.COMPLETE
        FfiStatus.SIGNED -> Status.SIGNED
    }
}
