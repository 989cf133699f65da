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
import org.wardcrf.ui.store.FieldState
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

/** Form entry driven through [FormEntryModel] over the core's form session, against the real library. */
class FormEntryTest {
    private fun CoroutineScope.model(t: TempStore, case: String, lang: Lang = Lang.EN) =
        FormEntryModel(t.crf, case, lang, this, Dispatchers.IO)

    private fun FormEntryModel.open(section: String) {
        selectSection(state.value.sections.indexOfFirst { it.id == section })
        assertEquals(section, state.value.sections[state.value.current].id)
    }

    private fun FormEntryModel.field(id: String): FieldUi =
        state.value.items.filterIsInstance<EntryItem.Field>().map { it.field }.single { it.field.id == id }

    private fun FormEntryModel.shows(id: String): Boolean =
        state.value.items.filterIsInstance<EntryItem.Field>().any { it.field.field.id == id }

    private fun FormEntryModel.group(id: String): EntryItem.Group? =
        state.value.items.filterIsInstance<EntryItem.Group>().singleOrNull { it.group.id == id }

    private fun FieldUi.has(code: Problem) = field.messages.any { it.code == code }

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
            assertEquals("Cel", m.field("vs_temp").field.units.first().code, "the stored unit first")
            assertTrue(m.field("vs_temp").field.units.any { it.code == "[degF]" })

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
            assertEquals(FieldState.VALID, saved.field.state)
            assertContains(t.crf.viewCase(case, Lang.EN).valuesJson, "\"vs_temp\":{\"value\":38.5")
            assertEquals("dr-tanaka", t.crf.history(case, "vs_temp").single().user)
        }
    }

    @Test
    fun `a soft warning is saved only with a reason, then shows as confirmed`() = runBlocking {
        TempStore("soft", "dr-sato").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("vitals")
            val spo2 = FieldRef("vs_spo2")

            m.edit(spo2, "75").join()
            m.commit(spo2).join()
            val prompt = assertNotNull(m.state.value.reasonPrompt)
            assertEquals(ReasonKind.CONFIRM_WARNING, prompt.kind)
            assertEquals(spo2, prompt.ref)
            assertContains(prompt.warnings.single(), "expected range", message = "the dialog quotes the range")
            assertTrue(m.field("vs_spo2").dirty, "nothing saved yet")
            assertFalse("vs_spo2" in t.crf.viewCase(case, Lang.EN).valuesJson)

            m.submitReason().join()
            assertTrue(assertNotNull(m.state.value.reasonPrompt).blankRejected, "an empty reason is not accepted")
            m.setReason("chronic lung disease, baseline 78 %")
            m.submitReason().join()
            assertNull(m.state.value.reasonPrompt)
            val saved = m.field("vs_spo2")
            assertFalse(saved.dirty)
            assertEquals(FieldState.CONFIRMED, saved.field.state)
            assertEquals("chronic lung disease, baseline 78 %", saved.field.confirmation)
            assertTrue(saved.has(Problem.SOFT_LIMIT), "the confirmed warning is still said")
            assertEquals(Severity.NONE, saved.severity, "a confirmed warning no longer warns")
            assertEquals(0, m.state.value.sections.single { it.id == "vitals" }.problems, "nor counts in the tab")
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
            m.commit(FieldRef("vs_hr")).join()
            assertFalse("vs_hr" in t.crf.viewCase(case, Lang.EN).valuesJson, "not a number is never sent")
            m.edit(FieldRef("vs_hr"), "80").join()
            assertNull(m.field("vs_hr").inputError)
            m.commit(FieldRef("vs_hr")).join()
            assertEquals("80", m.field("vs_hr").text)

            m.edit(FieldRef("vs_sbp"), "500").join()
            m.commit(FieldRef("vs_sbp")).join()
            assertEquals(MessageKey.VALUE_REJECTED, m.state.value.message?.key)
            assertEquals(Severity.ERROR, m.field("vs_sbp").severity)
            assertTrue(m.field("vs_sbp").dirty, "the refused value stays in the input to correct")
            m.discard(FieldRef("vs_sbp"))
            assertEquals("", m.field("vs_sbp").text)
            assertEquals(Severity.MISSING, m.field("vs_sbp").severity, "empty again, and required")

            // A cross-field rule shows on the fields once both are saved.
            m.edit(FieldRef("vs_sbp"), "100").join()
            m.commit(FieldRef("vs_sbp")).join()
            m.edit(FieldRef("vs_dbp"), "120").join()
            m.commit(FieldRef("vs_dbp")).join()
            assertTrue(m.field("vs_dbp").has(Problem.RULE) || m.field("vs_sbp").has(Problem.RULE))

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
            assertEquals("体温", m.field("vs_temp").field.label)
            m.edit(FieldRef("vs_spo2"), "75").join()
            m.commit(FieldRef("vs_spo2")).join()
            assertContains(assertNotNull(m.state.value.reasonPrompt).warnings.single(), "想定範囲")
            m.dismissReason()

            m.markComplete().join()
            val message = assertNotNull(m.state.value.message)
            assertEquals(MessageKey.NOT_COMPLETE, message.key)
            assertContains(message.text, "まだ完了にできません")
            assertEquals(Status.DRAFT, m.state.value.status)
            assertFalse(m.state.value.canComplete)
            assertTrue(m.state.value.completionProblems.any { it.field == "age_years" && it.code == Problem.REQUIRED })
            assertTrue(m.state.value.completionProblems.all { it.message.isNotBlank() })
        }
    }

    @Test
    fun `rows of a repeating group are added, edited and removed with a reason`() = runBlocking {
        TempStore("rows", "n").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("medications")
            fun group() = assertNotNull(m.group("medications"))
            assertTrue(group().rows.isEmpty())
            assertTrue(group().canAddRow)

            m.addRow("medications").join()
            val row = group().rows.single()
            val start = FieldRef("med_start_date", "medications", row.rowId)
            m.edit(start, "2024-03-05").join()
            m.commit(start).join()
            val end = FieldRef("med_end_date", "medications", row.rowId)
            m.edit(end, "2024-03-01").join()
            m.commit(end).join()
            val fields = group().rows.single().fields
            assertTrue(fields.any { it.has(Problem.RULE) }, "ending before it started shows on the row")
            assertEquals("2024-03-05", fields.single { it.field.id == "med_start_date" }.text)

            m.removeRow("medications", row.rowId)
            assertEquals(ReasonKind.REMOVE_ROW, m.state.value.reasonPrompt?.kind)
            m.setReason("entered on the wrong patient")
            m.submitReason().join()
            assertTrue(group().rows.isEmpty())
            assertEquals("row_remove", t.crf.history(case).last().op)
        }
    }

    @Test
    fun `the travel rows appear only when travel is answered yes`() = runBlocking {
        TempStore("travel", "dr-ito").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("travel")
            assertTrue(m.shows("travel_14d"))
            assertNull(m.group("travel"), "no travel rows before the question is answered")

            m.edit(FieldRef("travel_14d"), "1").join()
            m.commit(FieldRef("travel_14d")).join()
            assertNotNull(m.group("travel"), "answered yes: the travel rows appear")
            m.addRow("travel").join()
            assertEquals(1, assertNotNull(m.group("travel")).rows.size)

            m.edit(FieldRef("travel_14d"), "0").join()
            m.commit(FieldRef("travel_14d")).join()
            assertEquals(ReasonKind.CHANGE, m.state.value.reasonPrompt?.kind)
            m.setReason("asked again: no travel")
            m.submitReason().join()
            assertNull(m.group("travel"), "answered no: gone again")
        }
    }

    @Test
    fun `a section shown or hidden by an answer leaves the clinician on the section they were on`() = runBlocking {
        TempStore("sections", "dr-abe").use { t ->
            val case = t.crf.createCase("icrown-core", listOf("mpox"))
            val m = model(t, case)
            m.load().join()
            fun ids() = m.state.value.sections.map { it.id }
            assertFalse("mpox_hiv" in ids(), "the HIV section of the mpox module shows only with HIV")
            m.edit(FieldRef("comorb_hiv"), "1").join()
            m.commit(FieldRef("comorb_hiv")).join()
            val shown = ids()
            val at = shown.indexOf("mpox_hiv")
            assertTrue(at in 0 until shown.size - 1, shown.toString())
            val after = shown[at + 1]
            m.open(after)

            m.edit(FieldRef("comorb_hiv"), "0").join()
            m.commit(FieldRef("comorb_hiv")).join()
            m.setReason("HIV test was negative")
            m.submitReason().join()
            assertFalse("mpox_hiv" in ids())
            assertEquals(after, m.state.value.sections[m.state.value.current].id, "still on the same section")
        }
    }

    @Test
    fun `a field hidden by an answer disappears and its value is offered for clearing`() = runBlocking {
        TempStore("hidden", "ns-ueda").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case)
            m.load().join()
            m.open("vitals")
            assertFalse(m.shows("vs_o2_flow"), "no oxygen flow before oxygen is answered")
            m.edit(FieldRef("vs_spo2_on_o2"), "1").join()
            m.commit(FieldRef("vs_spo2_on_o2")).join()
            assertTrue(m.shows("vs_o2_flow"))
            m.edit(FieldRef("vs_o2_flow"), "4").join()
            m.commit(FieldRef("vs_o2_flow")).join()
            assertTrue(m.state.value.hiddenValues.isEmpty())

            m.edit(FieldRef("vs_spo2_on_o2"), "0").join()
            m.commit(FieldRef("vs_spo2_on_o2")).join()
            m.setReason("room air")
            m.submitReason().join()
            assertFalse(m.shows("vs_o2_flow"), "hidden by the answer")
            val hidden = m.state.value.hiddenValues.single()
            assertEquals(FieldRef("vs_o2_flow"), hidden.ref)
            assertTrue(hidden.shown.startsWith("4"), hidden.shown)

            m.askToClearHidden()
            assertEquals(ReasonKind.CLEAR_HIDDEN, m.state.value.reasonPrompt?.kind)
            m.submitReason().join()
            assertTrue(assertNotNull(m.state.value.reasonPrompt).blankRejected)
            m.setReason("not on oxygen")
            m.submitReason().join()
            assertTrue(m.state.value.hiddenValues.isEmpty())
            val cleared = t.crf.history(case, "vs_o2_flow").last()
            assertEquals("not on oxygen", cleared.reason)
        }
    }

    @Test
    fun `next missing field opens its section, completion asks to keep or clear hidden values`() = runBlocking {
        TempStore("complete", "dr-mori").use { t ->
            val case = t.crf.createCase("icrown-core")
            val m = model(t, case, Lang.DE)
            m.load().join()
            m.open("vitals")
            assertEquals(FieldRef("case_id"), m.state.value.nextMissing)
            m.goToNextMissing()
            assertEquals("admission", m.state.value.sections[m.state.value.current].id)
            assertEquals(FieldRef("case_id"), m.state.value.focus)
            assertEquals(Severity.MISSING, m.field("case_id").severity)

            // Everything a complete case needs, typed as the pickers and inputs would give it.
            for ((id, text) in COMPLETE) {
                m.edit(FieldRef(id), text).join()
                m.commit(FieldRef(id)).join()
                assertNull(m.state.value.reasonPrompt, "$id: ${m.state.value.message?.text}")
            }
            m.edit(FieldRef("pregnancy_status"), "1").join()
            m.commit(FieldRef("pregnancy_status")).join()
            m.edit(FieldRef("sex_at_birth"), "1").join()
            m.commit(FieldRef("sex_at_birth")).join()
            m.setReason("Zeile verwechselt")
            m.submitReason().join()
            assertTrue(m.state.value.canComplete, m.state.value.completionProblems.toString())
            assertNull(m.state.value.nextMissing)
            assertEquals(listOf(FieldRef("pregnancy_status")), m.state.value.hiddenValues.map { it.ref })

            m.markComplete().join()
            val asked = assertNotNull(m.state.value.completePrompt, "completion asks about the hidden value")
            assertEquals(listOf(FieldRef("pregnancy_status")), asked.hidden.map { it.ref })
            assertEquals(Status.DRAFT, m.state.value.status)
            m.completeClearingHidden().join()
            assertTrue(assertNotNull(m.state.value.completePrompt).blankRejected)
            m.setCompleteReason("trifft nicht zu")
            m.completeClearingHidden().join()
            assertEquals(Status.COMPLETE, m.state.value.status)
            assertNull(m.state.value.completePrompt)
            assertTrue(m.state.value.hiddenValues.isEmpty())
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

    private companion object {
        /** The answers of a complete case (the core's own test of completion), as typed. */
        val COMPLETE: List<Pair<String, String>> = listOf(
            "case_id" to "JP-0001", "age_years" to "54", "sex_at_birth" to "2", "admission_date" to "2024-03-01",
            "target_infection" to "1", "case_classification" to "1", "consent_status" to "1", "travel_14d" to "0",
            "prior_covid19" to "0", "covid19_vaccinated" to "1", "vs_datetime" to "2024-03-01T10:00",
            "vs_temp" to "37.2", "vs_spo2" to "97", "vs_hr" to "96", "vs_rr" to "22", "vs_sbp" to "124", "vs_dbp" to "78", "vs_spo2_on_o2" to "0",
            "vs_weight" to "70", "outcome" to "1", "outcome_date" to "2024-03-09", "final_diagnosis" to "covid_19",
        ) + listOf(
            "comorb_chronic_cardiac", "comorb_hypertension", "comorb_chronic_pulmonary", "comorb_asthma",
            "comorb_ckd", "comorb_liver", "comorb_hiv", "comorb_immunosuppression", "comorb_transplant",
            "comorb_chronic_neuro", "comorb_obesity", "comorb_diabetes", "comorb_malignancy",
            "proc_oxygen", "proc_hfnc", "proc_niv", "proc_imv", "proc_ecmo", "proc_rrt", "proc_icu",
        ).map { it to "0" }
    }
}
