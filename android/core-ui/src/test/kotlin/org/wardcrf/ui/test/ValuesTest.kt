package org.wardcrf.ui.test

import org.wardcrf.ui.form.Draft
import org.wardcrf.ui.form.Drafts
import org.wardcrf.ui.form.Input
import org.wardcrf.ui.store.Answer
import org.wardcrf.ui.store.EnteredQuantity
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.FieldState
import org.wardcrf.ui.store.Kind
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Limits
import org.wardcrf.ui.store.Problem
import org.wardcrf.ui.store.SessionField
import org.wardcrf.ui.store.UnitSpec
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertNull

/** The pure parts: drafts from typed answers and back, the stored value's wording, the message table. */
class ValuesTest {
    private val celsius = UnitSpec("Cel", "°C")
    private val fahrenheit = UnitSpec("[degF]", "°F")

    private fun field(
        kind: Kind,
        units: List<UnitSpec> = emptyList(),
        answer: Answer? = null,
        entered: EnteredQuantity? = null,
        shown: String? = null,
        defaultUnit: String? = units.firstOrNull()?.code,
    ) = SessionField(
        ref = FieldRef("f"), id = "f", kind = kind, label = "F", help = null, required = false,
        identifying = false, partialDate = false, decimals = null, maxLength = null, hardLimits = null,
        softLimits = Limits(35.0, 39.5), choices = emptyList(), unit = units.firstOrNull(), units = units,
        defaultUnit = defaultUnit, answer = answer, shown = shown, entered = entered, confirmation = null,
        state = if (answer == null) FieldState.EMPTY else FieldState.VALID, messages = emptyList(), candidates = emptyList(),
    )

    @Test
    fun `a typed answer shows as entered, in the unit it was entered in`() {
        val temp = field(
            Kind.DECIMAL, listOf(celsius, fahrenheit), Answer.Number(38.5), EnteredQuantity(101.3, "[degF]"), "38.5 °C",
        )
        assertEquals(Draft("101.3", "[degF]"), Drafts.of(temp))
        assertEquals("38.5 °C (eingegeben 101.3 °F)", Drafts.stored(temp, Lang.DE))
        assertEquals(Draft("", "Cel"), Drafts.of(field(Kind.DECIMAL, listOf(celsius, fahrenheit))))
        // A new entry starts in the site's default unit; a stored one shows its own.
        assertEquals(Draft("", "[degF]"), Drafts.of(field(Kind.DECIMAL, listOf(celsius, fahrenheit), defaultUnit = "[degF]")))
        assertEquals(Draft("37", "Cel"), Drafts.of(field(Kind.DECIMAL, listOf(celsius), Answer.Number(37.0), shown = "37 °C")))
        assertEquals("37 °C", Drafts.stored(field(Kind.DECIMAL, listOf(celsius), Answer.Number(37.0), shown = "37 °C"), Lang.EN))
        assertNull(Drafts.stored(field(Kind.TEXT), Lang.EN))
        // The unit picker: the site's default first, then the field's others.
        assertEquals(listOf(fahrenheit, celsius), Drafts.unitChoices(field(Kind.DECIMAL, listOf(celsius, fahrenheit), defaultUnit = "[degF]")))
        assertEquals(listOf(celsius, fahrenheit), Drafts.unitChoices(field(Kind.DECIMAL, listOf(celsius, fahrenheit))))
        assertEquals(Draft("1,3", null), Drafts.of(field(Kind.MULTICHOICE, answer = Answer.Choices(listOf("1", "3")))))
        assertEquals(Draft("true", null), Drafts.of(field(Kind.BOOLEAN, answer = Answer.Bool(true))))
        assertEquals(Draft("2024-03", null), Drafts.of(field(Kind.DATE, answer = Answer.Date("2024-03"))))
    }

    @Test
    fun `drafts are read as the field's kind and unit`() {
        val temp = field(Kind.DECIMAL, listOf(celsius, fahrenheit))
        val q = assertIs<Input.Value>(Drafts.read(temp, Draft("101,3", "[degF]")))
        assertEquals(Answer.Number(101.3), q.answer)
        assertEquals("[degF]", q.unit)
        assertEquals(Input.Value(Answer.Number(38.5), "Cel"), Drafts.read(temp, Draft("38.5", "Cel")))
        assertEquals(Input.Empty, Drafts.read(temp, Draft("  ", "Cel")))
        assertEquals(Input.Invalid(MessageKey.NOT_A_NUMBER), Drafts.read(temp, Draft("hot", "Cel")))
        assertEquals(Input.Invalid(MessageKey.NOT_A_NUMBER), Drafts.read(temp, Draft("NaN", "Cel")))
        assertEquals(Input.Invalid(MessageKey.NOT_A_WHOLE_NUMBER), Drafts.read(field(Kind.INTEGER), Draft("7.5", null)))
        assertEquals(Input.Value(Answer.Choices(listOf("1", "3")), null), Drafts.read(field(Kind.MULTICHOICE), Draft("1, 3", null)))
        assertEquals(Input.Value(Answer.Date("2024-03-01"), null), Drafts.read(field(Kind.DATE), Draft("2024-03-01", null)))
        assertEquals(Input.Value(Answer.DateTime("2024-03-01T10:00+09:00"), null), Drafts.read(field(Kind.DATETIME), Draft("2024-03-01T10:00+09:00", null)))
        assertEquals(Input.Value(Answer.Choice("2"), null), Drafts.read(field(Kind.CHOICE), Draft("2", null)))
        assertEquals(Input.Value(Answer.Bool(false), null), Drafts.read(field(Kind.BOOLEAN), Draft("false", null)))
        assertEquals(
            listOf("Outside the expected range (35–39.5 °C)."),
            Drafts.warnings(temp, listOf(Problem.SOFT_LIMIT, Problem.SOFT_LIMIT), Lang.EN),
        )
        assertEquals(
            listOf("Diese Zahl sieht nach einer anderen Einheit aus. Bitte die Einheit prüfen oder den Wert mit Begründung bestätigen."),
            Drafts.warnings(temp, listOf(Problem.UNIT_SLIP), Lang.DE),
        )
    }

    @Test
    fun `every message has its Japanese and German text`() {
        for (key in MessageKey.values()) {
            val en = Messages.text(key, Lang.EN, 1, 2, 3, 4)
            for (lang in listOf(Lang.JA, Lang.DE)) {
                val other = Messages.text(key, lang, 1, 2, 3, 4)
                assert(other != en) { "$key has no ${lang.name} text" }
            }
        }
    }
}
