package org.wardcrf.ui.test

import org.wardcrf.ui.form.Draft
import org.wardcrf.ui.form.Input
import org.wardcrf.ui.form.Values
import org.wardcrf.ui.json.Json
import org.wardcrf.ui.store.FieldSpec
import org.wardcrf.ui.store.Kind
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.UnitSpec
import org.wardcrf.ui.text.MessageKey
import org.wardcrf.ui.text.Messages
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs

/** The pure parts: JSON, reading drafts, showing values, the message table. */
class ValuesTest {
    private fun spec(kind: Kind, unit: String? = null, alt: List<String> = emptyList()) = FieldSpec(
        id = "f", kind = kind, label = "F", help = null,
        unit = unit?.let { UnitSpec(it, if (it == "Cel") "°C" else it) },
        altUnits = alt.map { UnitSpec(it, if (it == "[degF]") "°F" else it) },
        decimals = null, choices = emptyList(), hardLimits = null, softLimits = null, required = false,
        identifying = false, partialDate = false, maxLength = null, showIf = null,
    )

    @Test
    fun `JSON is read and written back unchanged`() {
        val text = """{"vs_temp":{"value":38.5,"unit":"Cel","entered":{"value":101.3,"unit":"[degF]"}},"n":75,"s":"a\"b\u00e9","l":[true,false,null],"e":{}}"""
        assertEquals(text.replace("\\u00e9", "é"), Json.parse(text).toString())
        assertEquals("75", Json.number(75.0).raw)
        assertEquals("38.5", Json.number(38.5).raw)
        assertFailsWith<IllegalArgumentException> { Json.parse("{\"a\": }") }
        assertFailsWith<IllegalArgumentException> { Json.parse("[1] x") }
    }

    @Test
    fun `drafts are read as the field's kind and unit`() {
        val temp = spec(Kind.DECIMAL, "Cel", listOf("[degF]"))
        val stored = Json.parse("""{"value":38.5,"unit":"Cel","entered":{"value":101.3,"unit":"[degF]"}}""")
        assertEquals(Draft("101.3", "[degF]"), Values.draftOf(temp, stored))
        assertEquals(Draft("", "Cel"), Values.draftOf(temp, null))

        val q = assertIs<Input.Value>(Values.read(temp, Draft("101,3", "[degF]")))
        assertEquals(101.3 to "[degF]", q.quantity, "a decimal comma is accepted")
        assertEquals("38.5", assertIs<Input.Value>(Values.read(temp, Draft("38.5", "Cel"))).json.toString())
        assertEquals(Input.Empty, Values.read(temp, Draft("  ", "Cel")))
        assertEquals(Input.Invalid(MessageKey.NOT_A_NUMBER), Values.read(temp, Draft("hot", "Cel")))
        assertEquals(Input.Invalid(MessageKey.NOT_A_WHOLE_NUMBER), Values.read(spec(Kind.INTEGER), Draft("7.5", null)))
        assertEquals("[\"1\",\"3\"]", assertIs<Input.Value>(Values.read(spec(Kind.MULTICHOICE), Draft("1, 3", null))).json.toString())
        assertEquals("\"2024-03-01\"", assertIs<Input.Value>(Values.read(spec(Kind.DATE), Draft("2024-03-01", null))).json.toString())

        assertEquals("38.5 °C (eingegeben 101.3 °F)", Values.display(temp, stored, Lang.DE))
        assertEquals("—", Values.display(temp, Json.Null, Lang.EN))
        assertEquals("はい", Values.display(spec(Kind.BOOLEAN), Json.Bool(true), Lang.JA))
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
