package org.wardcrf.test

import org.wardcrf.CaseFilter
import org.wardcrf.CaseStatus
import org.wardcrf.CaseStore
import org.wardcrf.FieldPath
import org.wardcrf.FormItem
import org.wardcrf.IssueCode
import org.wardcrf.Language
import org.wardcrf.WardcrfException
import org.wardcrf.formLayout
import org.wardcrf.forms
import org.wardcrf.validateValues
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.TestInstance
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue

/** Stores whose staff sign in through a real wardcrf-server, started once for the class. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StoreTest {
    private val server = RepositoryServer()
    private val ward = Ward(server)

    @AfterAll
    fun stop() {
        server.close()
    }

    @Test
    fun `a store on a Kotlin key provider keeps a case with vitals converted to canonical units`() {
        ward.store("vitals", "dr-tanaka").use { t ->
            val case = t.store.createCase("icrown-core")
            val stored = t.store.setQuantity(case, field("vs_temp"), 101.3, "[degF]")
            assertContains(stored, "\"value\":38.5")
            assertContains(stored, "\"unit\":\"Cel\"")
            assertContains(stored, "101.3", message = "the entered value is kept")
            t.store.setValue(case, field("vs_hr"), "96")

            val view = t.store.viewCase(case, Language.EN)
            assertEquals(CaseStatus.DRAFT, view.status)
            assertContains(view.valuesJson, "\"vs_temp\":{\"value\":38.5")
            val summary = t.store.listCases().single()
            assertEquals(case, summary.caseId)
            assertEquals("icrown-core", summary.formId)

            val history = t.store.history(case, "vs_temp")
            assertEquals(listOf("set"), history.map { it.op })
            assertEquals("dr-tanaka", history.single().user)
            assertEquals(nameOf("dr-tanaka"), history.single().userName)
            assertTrue(history.single().verified)
            assertEquals(t.store.deviceId(), history.single().device)
        }
    }

    @Test
    fun `validation messages come in Japanese`() {
        ward.store("ja", "dr-sato").use { t ->
            val case = t.store.createCase("icrown-core")
            t.store.setValue(case, field("vs_spo2"), "75", reason = "慢性肺疾患、平常時 78 %")
            t.store.setValue(case, field("vs_sbp"), "100")
            t.store.setValue(case, field("vs_dbp"), "120")

            val report = t.store.viewCase(case, Language.JA).report
            val spo2 = report.warnings.single { it.field == "vs_spo2" }
            assertEquals(IssueCode.SOFT_LIMIT, spo2.code)
            assertContains(spo2.message, "想定範囲")
            assertEquals("慢性肺疾患、平常時 78 %", spo2.confirmed)
            // The diastolic pressure above the systolic: a cross-field rule, on both fields.
            val bp = report.errors.first { it.code == IssueCode.RULE && it.field == "vs_dbp" }
            assertTrue(bp.message.any { it in '\u3040'..'\u30ff' || it in '\u4e00'..'\u9fff' }, bp.message)
            assertTrue(report.missing.isNotEmpty())
            assertFalse(report.complete)

            val english = t.store.viewCase(case, Language.EN).report
            assertNotEquals(bp.message, english.errors.first { it.rule == bp.rule && it.field == "vs_dbp" }.message)
        }
    }

    @Test
    fun `forms and labels come in the user's language`() {
        val titles = forms(Language.JA).associate { it.formId to it.title }
        assertTrue("icrown-core" in titles && "mpox" in titles)
        val layout = formLayout("icrown-core", lang = Language.DE)
        val temp = layout.sections.flatMap { it.items }
            .filterIsInstance<FormItem.Field>().map { it.field }
            .single { it.id == "vs_temp" }
        assertEquals("°C", temp.unit?.display)
        assertTrue(temp.altUnits.any { it.code == "[degF]" })
        assertTrue(layout.sections.flatMap { it.items }.any { it is FormItem.Group && it.group.id == "medications" })

        val live = validateValues("icrown-core", """{"vs_spo2": 75}""", Language.DE)
        assertEquals(IssueCode.SOFT_LIMIT, live.warnings.single { it.field == "vs_spo2" }.code)
    }

    @Test
    fun `the wrong key is a typed error and changes nothing`() {
        ward.store("wrong-key", "n").use { t ->
            val case = t.store.createCase("icrown-core")
            t.store.close()
            assertFailsWith<WardcrfException.WrongKey> {
                CaseStore.open(t.path, SoftwareKeyProvider())
            }
            CaseStore.open(t.path, t.key).use {
                // Staff signed in on it: it opens locked, and the same person signs in offline.
                assertFailsWith<WardcrfException.Locked> { it.viewCase(case, Language.EN) }
                ward.signIn(it, "n")
                assertEquals(listOf(case), it.listCases().map { c -> c.caseId })
            }
        }
        TempDir("wrong-key").use { dir ->
            val pass = dir.sub("passphrase")
            CaseStore.createWithPassphrase(pass, "correct horse battery staple").close()
            assertFailsWith<WardcrfException.WrongKey> {
                CaseStore.openWithPassphrase(pass, "incorrect horse")
            }
            assertFailsWith<WardcrfException.NoStore> {
                CaseStore.open(dir.sub("nothing-here"), SoftwareKeyProvider())
            }
        }
    }

    @Test
    fun `refused and unusual values are typed errors without the value`() {
        ward.store("refused", "n").use { t ->
            val case = t.store.createCase("icrown-core")
            val rejected = assertFailsWith<WardcrfException.ValidationRejected> {
                t.store.setValue(case, field("vs_spo2"), "150")
            }
            assertEquals("vs_spo2", rejected.field)
            assertEquals(listOf(IssueCode.HARD_LIMIT), rejected.codes)
            assertFalse("150" in rejected.message)
            assertFailsWith<WardcrfException.NeedsConfirmation> {
                t.store.setValue(case, field("vs_spo2"), "75")
            }
            t.store.setValue(case, field("vs_hr"), "80")
            assertFailsWith<WardcrfException.ReasonRequired> {
                t.store.setValue(case, field("vs_hr"), "82")
            }
            t.store.setValue(case, field("vs_hr"), "82", reason = "misread the monitor")
            assertFailsWith<WardcrfException.InvalidInput> {
                t.store.setValue(case, field("no_such_field"), "1")
            }
            assertFailsWith<WardcrfException.NotFound> { t.store.viewCase("0000", Language.EN) }
        }
    }

    @Test
    fun `repeating rows are added and removed by their stable ids`() {
        ward.store("rows", "n").use { t ->
            val case = t.store.createCase("icrown-core")
            val first = t.store.addRow(case, "medications", """{"med_class": 8, "med_start_date": "2024-03-05"}""")
            val second = t.store.addRow(case, "medications", """{"med_class": 3}""")
            assertNotEquals(first, second)
            t.store.setValue(case, FieldPath("med_end_date", "medications", first), "\"2024-03-01\"")
            val report = t.store.viewCase(case, Language.EN).report
            assertTrue(report.errors.any { it.rowId == first && it.code == IssueCode.RULE }, "ends before it started")

            assertFailsWith<WardcrfException.ReasonRequired> { t.store.removeRow(case, "medications", second, "") }
            t.store.removeRow(case, "medications", second, "entered twice")
            val values = t.store.viewCase(case, Language.EN).valuesJson
            assertContains(values, first)
            assertFalse(second in values, "a removed row is not shown")
            assertEquals("row_remove", t.store.history(case).last().op)
            assertFailsWith<WardcrfException.NotFound> {
                t.store.removeRow(case, "medications", "no-such-row", "x")
            }
        }
    }

    @Test
    fun `the status flow refuses an incomplete case and records every step`() {
        ward.store("status", "n").use { t ->
            val case = t.store.createCase("icrown-core")
            t.store.setValue(case, field("vs_hr"), "80")
            val incomplete = assertFailsWith<WardcrfException.NotComplete> {
                t.store.setStatus(case, CaseStatus.COMPLETE)
            }
            assertTrue(incomplete.errors > 0u)
            assertFailsWith<WardcrfException.SignatureRequired> { t.store.setStatus(case, CaseStatus.SIGNED) }
            assertFailsWith<WardcrfException.NotSignable> { t.store.sign(case, passwordOf("n"), "author") }
            assertEquals(CaseStatus.DRAFT, t.store.setStatus(case, CaseStatus.DRAFT))

            t.store.deleteCase(case, "wrong patient")
            assertTrue(t.store.listCases().isEmpty())
            assertEquals(1, t.store.listCases(CaseFilter(includeDeleted = true)).size)
            assertFailsWith<WardcrfException.CaseDeleted> { t.store.setValue(case, field("vs_rr"), "18") }
            t.store.restoreCase(case, "right patient after all")
            assertEquals(listOf("create", "set", "delete", "restore"), t.store.history(case).map { it.op })
        }
    }

    @Test
    fun `two stores merge into a conflict that a nurse resolves for both`() {
        ward.store("ward-a", "dr-a").use { a ->
            ward.store("ward-b", "dr-b").use { b ->
                val case = a.store.createCase("icrown-core")
                assertEquals(1u, b.store.mergeFrom(a.store).newCases)
                a.store.setValue(case, field("vs_hr"), "88")
                b.store.setValue(case, field("vs_hr"), "92")

                val merged = a.store.mergeFrom(b.store)
                assertEquals(1u, merged.conflicts)
                assertEquals(1, a.store.listCases(CaseFilter(withConflicts = true)).size)
                val conflict = a.store.conflicts().single()
                assertEquals(FieldPath("vs_hr"), conflict.path)
                assertEquals(setOf("dr-a", "dr-b"), conflict.candidates.map { it.user }.toSet())
                assertEquals(setOf(a.store.deviceId(), b.store.deviceId()), conflict.candidates.map { it.device }.toSet())
                val fromB = conflict.candidates.single { it.user == "dr-b" }
                assertContains(fromB.valueJson, "92")

                ward.signIn(a.store, "nurse-k")
                assertFailsWith<WardcrfException.ReasonRequired> {
                    a.store.resolve(case, conflict.path, fromB.valueJson, " ")
                }
                a.store.resolve(case, conflict.path, fromB.valueJson, "checked the monitor log")
                assertTrue(a.store.conflicts(case).isEmpty())
                val resolution = a.store.history(case, "vs_hr").last()
                assertEquals("resolve", resolution.op)
                assertEquals("nurse-k", resolution.user)

                b.store.mergeFrom(a.store)
                assertTrue(b.store.conflicts().isEmpty(), "the resolution settles it on the other device")
                assertContains(b.store.viewCase(case, Language.EN).valuesJson, "\"vs_hr\":{\"value\":92")
                assertFailsWith<WardcrfException.InvalidInput> { a.store.mergeFrom(a.store) }
            }
        }
    }
}
