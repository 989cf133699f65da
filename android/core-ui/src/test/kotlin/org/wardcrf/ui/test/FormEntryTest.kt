package org.wardcrf.ui.test

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.wardcrf.ui.form.EntryItem
import org.wardcrf.ui.form.FieldUi
import org.wardcrf.ui.form.FormEntryModel
import org.wardcrf.ui.form.ReasonKind
import org.wardcrf.ui.form.Severity
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Problem
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.text.MessageKey
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Form entry driven through [FormEntryModel] against the real library. */
class FormEntryTest {
    private fun CoroutineScope.model(t: TempStore, case: String, lang: Lang = Lang.EN) =
        FormEntryModel(t.crf, case, lang, this, Dispatchers.IO, liveDelayMillis = 0)

    private fun FormEntryModel.open(section: String) {
        selectSection(state.value.sections.indexOfFirst { it.id == section })
        assertEquals(section, state.value.sections[state.value.current].id)
    }

    private fun FormEntryModel.field(id: String): FieldUi =
        state.value.items.filterIsInstance<EntryItem.Field>().map { it.field }.single { it.spec.id == id }

    @Test
    fun `a temperature in Fahrenheit is saved in Celsius and shown as entered`() = runBlocking {
        TempStore("unit", "dr-tanaka").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            assertEquals("admission", m.state.value.sections.first().id)
            m.open("vitals")
            val temp = FieldRef("vs_temp")
            assertEquals("Cel", m.field("vs_temp").unit)
            assertTrue(m.field("vs_temp").spec.altUnits.any { it.code == "[degF]" })

            m.selectUnit(temp, "[degF]").join()
            m.edit(temp, "101.3").join()
            assertTrue(m.field("vs_temp").dirty)
            assertEquals(Severity.NONE, m.field("vs_temp").severity)
            m.commit(temp).join()

            val saved = m.field("vs_temp")
            assertFalse(saved.dirty)
            assertEquals("101.3", saved.text, "the input shows what was entered")
            assertEquals("[degF]", saved.unit)
            assertEquals("38.5 °C (entered 101.3 °F)", saved.stored)
            assertContains(t.crf.viewCase(case, Lang.EN).valuesJson, "\"vs_temp\":{\"value\":38.5")
            assertEquals("dr-tanaka", t.crf.history(case, "vs_temp").single().user)
        }
    }

    @Test
    fun `a soft warning shows live and is saved only with a reason`() = runBlocking {
        TempStore("soft", "dr-sato").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("vitals")
            val spo2 = FieldRef("vs_spo2")

            m.edit(spo2, "75").join()
            val live = m.field("vs_spo2")
            assertEquals(Severity.WARNING, live.severity)
            assertEquals(Problem.SOFT_LIMIT, live.issues.single { it.severity == Severity.WARNING }.code)
            assertTrue(m.state.value.sections.single { it.id == "vitals" }.warnings > 0, "the section tab counts it")

            m.commit(spo2).join()
            val prompt = assertNotNull(m.state.value.reasonPrompt)
            assertEquals(ReasonKind.CONFIRM_WARNING, prompt.kind)
            assertEquals(spo2, prompt.ref)
            assertTrue(prompt.warnings.isNotEmpty(), "the dialog quotes the warning")
            assertTrue(m.field("vs_spo2").dirty, "nothing saved yet")

            m.submitReason().join()
            assertTrue(assertNotNull(m.state.value.reasonPrompt).blankRejected, "an empty reason is not accepted")
            m.setReason("chronic lung disease, baseline 78 %")
            m.submitReason().join()
            assertNull(m.state.value.reasonPrompt)
            val saved = m.field("vs_spo2")
            assertFalse(saved.dirty)
            assertEquals("chronic lung disease, baseline 78 %", saved.issues.single { it.code == Problem.SOFT_LIMIT }.confirmed)
            assertEquals(Severity.NONE, saved.severity, "a confirmed warning no longer warns")
        }
    }

    @Test
    fun `impossible values, non-numbers and changes of earlier entries are caught`() = runBlocking {
        TempStore("refusals", "n").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("vitals")

            m.edit(FieldRef("vs_hr"), "eighty").join()
            assertEquals(MessageKey.NOT_A_NUMBER, m.field("vs_hr").inputError?.key)
            m.edit(FieldRef("vs_hr"), "80").join()
            assertNull(m.field("vs_hr").inputError)
            m.commit(FieldRef("vs_hr")).join()
            assertEquals("80", m.field("vs_hr").text)

            m.edit(FieldRef("vs_sbp"), "500").join()
            assertEquals(Severity.ERROR, m.field("vs_sbp").severity)
            assertEquals(Problem.HARD_LIMIT, m.field("vs_sbp").issues.first { it.severity == Severity.ERROR }.code)
            m.commit(FieldRef("vs_sbp")).join()
            assertEquals(MessageKey.VALUE_REJECTED, m.state.value.message?.key)
            assertTrue(m.field("vs_sbp").dirty, "the refused value stays in the input to correct")
            m.discard(FieldRef("vs_sbp"))
            assertEquals("", m.field("vs_sbp").text)

            // A cross-field rule shows live on both fields' screen.
            m.edit(FieldRef("vs_sbp"), "100").join()
            m.edit(FieldRef("vs_dbp"), "120").join()
            assertTrue(m.field("vs_dbp").issues.any { it.code == Problem.RULE })

            m.edit(FieldRef("vs_hr"), "82").join()
            m.commit(FieldRef("vs_hr")).join()
            assertEquals(ReasonKind.CHANGE, m.state.value.reasonPrompt?.kind)
            m.setReason("misread the monitor")
            m.submitReason().join()
            assertEquals("82", m.field("vs_hr").text)
            assertEquals("misread the monitor", t.crf.history(case, "vs_hr").last().reason)
        }
    }

    @Test
    fun `labels and messages follow the user's language`() = runBlocking {
        TempStore("ja", "dr-sato").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case, Lang.JA)
            m.load().join()
            m.open("vitals")
            assertEquals("体温", m.field("vs_temp").spec.label)
            m.edit(FieldRef("vs_spo2"), "75").join()
            assertContains(m.field("vs_spo2").issues.first { it.severity == Severity.WARNING }.message, "想定範囲")

            m.markComplete().join()
            val message = assertNotNull(m.state.value.message)
            assertEquals(MessageKey.NOT_COMPLETE, message.key)
            assertContains(message.text, "まだ完了にできません")
            assertEquals(Status.DRAFT, m.state.value.status)
        }
    }

    @Test
    fun `rows of a repeating group are added, edited and removed with a reason`() = runBlocking {
        TempStore("rows", "n").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("medications")
            fun group() = m.state.value.items.filterIsInstance<EntryItem.Group>().single { it.spec.id == "medications" }
            assertTrue(group().rows.isEmpty())
            assertTrue(group().canAddRow)

            m.addRow("medications").join()
            val row = group().rows.single()
            val start = FieldRef("med_start_date", "medications", row.rowId)
            m.edit(start, "2024-03-05").join()
            m.commit(start).join()
            val end = FieldRef("med_end_date", "medications", row.rowId)
            m.edit(end, "2024-03-01").join()
            assertTrue(group().rows.single().fields.single { it.spec.id == "med_end_date" }.issues.any { it.code == Problem.RULE },
                "ending before it started shows live on the row")
            m.commit(end).join()
            assertEquals("2024-03-05", group().rows.single().fields.single { it.spec.id == "med_start_date" }.text)

            m.removeRow("medications", row.rowId)
            assertEquals(ReasonKind.REMOVE_ROW, m.state.value.reasonPrompt?.kind)
            m.setReason("entered on the wrong patient")
            m.submitReason().join()
            assertTrue(group().rows.isEmpty())
            assertEquals("row_remove", t.crf.history(case).last().op)
        }
    }

    @Test
    fun `signing asks for the password again and a meaning of the site`() = runBlocking {
        TempStore("sign", "dr-sign").use { t ->
            val case = t.crf.createCase("icrown-core")
            // Every value of a complete case (the core's fixture, one value a line).
            val entry = Regex("""^\s*"(\w+)":\s*(.+?),?\s*$""")
            for (line in java.io.File("core/tests/fixtures/complete-case.json").readLines()) {
                val (id, json) = entry.find(line)?.destructured ?: continue
                t.crf.setValue(case, FieldRef(id), json)
            }
            assertEquals(Status.COMPLETE, t.crf.setStatus(case, Status.COMPLETE))
            val model = model(t, case, Lang.JA)
            model.load().join()
            model.askToSign().join()
            val prompt = assertNotNull(model.state.value.signPrompt)
            val author = prompt.meanings.single { it.code == "author" }
            assertContains(author.label, "作成者")

            model.sign("not my password", "author").join()
            assertEquals(MessageKey.WRONG_CREDENTIAL, model.state.value.message?.key)
            assertEquals(Status.COMPLETE, model.state.value.status)
            assertNotNull(model.state.value.signPrompt, "the dialog stays for another try")
            assertTrue(t.crf.signatures(case).isEmpty())

            model.sign(passwordOf("dr-sign"), "author").join()
            assertEquals(MessageKey.SIGNED, model.state.value.message?.key)
            assertEquals(Status.SIGNED, model.state.value.status)
            assertNull(model.state.value.signPrompt)
            val signature = t.crf.signatures(case).single()
            assertEquals("dr-sign", signature.signerId)
            assertEquals("Dr. dr-sign", signature.signerName)
            assertEquals("author", signature.meaning.code)
            assertFalse(signature.superseded)
            val history = t.crf.history(case)
            assertEquals("sign", history.last().op)
            assertTrue(history.all { it.verified && it.userName == "Dr. dr-sign" })
        }
    }
}
