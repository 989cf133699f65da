package org.wardcrf.test

import org.wardcrf.AnswerValue
import org.wardcrf.CaseStatus
import org.wardcrf.FieldState
import org.wardcrf.FormSession
import org.wardcrf.HiddenValueChoice
import org.wardcrf.IssueCode
import org.wardcrf.Language
import org.wardcrf.SessionField
import org.wardcrf.SessionItem
import org.wardcrf.WardcrfException
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.TestInstance
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** The form session through the generated bindings: skip logic, hidden values, completion. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SessionTest {
    private val server = RepositoryServer()
    private val ward = Ward(server)

    @AfterAll
    fun stop() {
        server.close()
    }

    private fun FormSession.shown(id: String): SessionField? =
        sections.flatMap { it.items }.filterIsInstance<SessionItem.Field>().map { it.field }.firstOrNull { it.id == id }

    private fun FormSession.hasGroup(section: String, group: String): Boolean =
        sections.filter { it.id == section }.flatMap { it.items }
            .any { it is SessionItem.Group && it.group.id == group }

    private fun choice(code: String) = AnswerValue.Choice(code)

    @Test
    fun `the travel rows appear only when travel in the last 14 days is answered yes`() {
        ward.store("travel", "dr-sato").use { t ->
            val case = t.store.createCase("icrown-core")
            var session = t.store.formSession(case, Language.JA)
            assertNotNull(session.shown("travel_14d"))
            assertFalse(session.hasGroup("travel", "travel"))
            session = t.store.setAnswer(case, field("travel_14d"), choice("1"), Language.JA)
            assertTrue(session.hasGroup("travel", "travel"))
            assertEquals(choice("1"), session.shown("travel_14d")!!.answer)
            session = t.store.setAnswer(case, field("travel_14d"), choice("0"), Language.JA, reason = "聞き間違い")
            assertFalse(session.hasGroup("travel", "travel"))
        }
    }

    @Test
    fun `a field hidden by an answer leaves the session and its value is offered for clearing`() {
        ward.store("hidden", "ns-tanaka").use { t ->
            val case = t.store.createCase("icrown-core")
            t.store.setAnswer(case, field("vs_spo2_on_o2"), choice("1"), Language.EN)
            var session = t.store.setAnswer(case, field("vs_o2_flow"), AnswerValue.Number(4.0), Language.EN)
            assertEquals(FieldState.VALID, session.shown("vs_o2_flow")!!.state)
            session = t.store.setAnswer(case, field("vs_spo2_on_o2"), choice("0"), Language.EN, reason = "room air")
            assertNull(session.shown("vs_o2_flow"), "hidden now")
            val hidden = session.hiddenValues.single()
            assertEquals(field("vs_o2_flow"), hidden.path)
            assertTrue(hidden.shown.startsWith("4"), hidden.shown)
            session = t.store.clearHidden(case, "not on oxygen", Language.EN)
            assertTrue(session.hiddenValues.isEmpty())
            val cleared = t.store.history(case, "vs_o2_flow").last()
            assertEquals("clear", cleared.op)
            assertEquals("not on oxygen", cleared.reason)
        }
    }

    @Test
    fun `completion lists the remaining problems, then asks what to do with hidden values`() {
        ward.store("complete", "dr-suzuki").use { t ->
            val case = t.store.createCase("icrown-core")
            var session = t.store.formSession(case, Language.DE)
            assertFalse(session.canComplete)
            assertEquals(field("case_id"), session.nextMissing)
            assertTrue(session.completionProblems.any { it.field == "age_years" && it.code == IssueCode.REQUIRED })
            assertFailsWith<WardcrfException.NotComplete> {
                t.store.complete(case, HiddenValueChoice.NoHiddenValues, Language.DE)
            }
            // An unusual value needs a reason: refused without one, confirmed with it.
            assertFailsWith<WardcrfException.NeedsConfirmation> {
                t.store.setAnswer(case, field("vs_spo2"), AnswerValue.Number(75.0), Language.DE)
            }
            session = t.store.setAnswer(case, field("vs_spo2"), AnswerValue.Number(75.0), Language.DE, reason = "zweimal gemessen")
            assertEquals(FieldState.CONFIRMED, session.shown("vs_spo2")!!.state)
            assertEquals("zweimal gemessen", session.shown("vs_spo2")!!.confirmation)
            // A temperature typed in °F is stored in °C, keeping what was typed.
            session = t.store.setAnswer(case, field("vs_temp"), AnswerValue.Number(101.3), Language.DE, unit = "[degF]")
            val temp = session.shown("vs_temp")!!
            assertEquals(AnswerValue.Number(38.5), temp.answer)
            assertEquals("[degF]", temp.entered!!.unit)
            assertEquals("Cel", temp.units.first().code)

            val complete = mapOf(
                "case_id" to AnswerValue.Text("JP-0001"), "age_years" to AnswerValue.Number(54.0),
                "sex_at_birth" to choice("2"), "admission_date" to AnswerValue.Date("2024-03-01"),
                "target_infection" to choice("1"), "case_classification" to choice("1"),
                "consent_status" to choice("1"), "travel_14d" to choice("0"), "prior_covid19" to choice("0"),
                "covid19_vaccinated" to choice("1"), "vs_datetime" to AnswerValue.DateTime("2024-03-01T10:00"),
                "vs_hr" to AnswerValue.Number(96.0), "vs_rr" to AnswerValue.Number(22.0),
                "vs_sbp" to AnswerValue.Number(124.0), "vs_dbp" to AnswerValue.Number(78.0),
                "vs_spo2_on_o2" to choice("0"), "vs_weight" to AnswerValue.Number(70.0),
                "outcome" to choice("1"), "outcome_date" to AnswerValue.Date("2024-03-09"),
                "final_diagnosis" to choice("covid_19"),
            ) + listOf(
                "comorb_chronic_cardiac", "comorb_hypertension", "comorb_chronic_pulmonary", "comorb_asthma",
                "comorb_ckd", "comorb_liver", "comorb_hiv", "comorb_immunosuppression", "comorb_transplant",
                "comorb_chronic_neuro", "comorb_obesity", "comorb_diabetes", "comorb_malignancy",
                "proc_oxygen", "proc_hfnc", "proc_niv", "proc_imv", "proc_ecmo", "proc_rrt", "proc_icu",
            ).associateWith { choice("0") }
            for ((id, answer) in complete) session = t.store.setAnswer(case, field(id), answer, Language.DE)
            t.store.setAnswer(case, field("pregnancy_status"), choice("1"), Language.DE)
            session = t.store.setAnswer(case, field("sex_at_birth"), choice("1"), Language.DE, reason = "Zeile verwechselt")
            assertTrue(session.completionProblems.isEmpty(), session.completionProblems.toString())
            assertTrue(session.canComplete)
            assertNull(session.nextMissing)
            val pending = assertFailsWith<WardcrfException.HiddenValuesPending> {
                t.store.complete(case, HiddenValueChoice.NoHiddenValues, Language.DE)
            }
            assertEquals(listOf(field("pregnancy_status")), pending.fields)
            session = t.store.complete(case, HiddenValueChoice.Clear("trifft nicht zu"), Language.DE)
            assertEquals(CaseStatus.COMPLETE, session.status)
            assertTrue(session.hiddenValues.isEmpty())
        }
    }
}
