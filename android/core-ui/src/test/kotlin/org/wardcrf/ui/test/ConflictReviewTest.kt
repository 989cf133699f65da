package org.wardcrf.ui.test

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.wardcrf.ui.cases.CaseFilter
import org.wardcrf.ui.cases.CaseListModel
import org.wardcrf.ui.conflicts.ConflictReviewModel
import org.wardcrf.ui.form.EntryItem
import org.wardcrf.ui.form.FormEntryModel
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.store.field
import org.wardcrf.ui.text.MessageKey
import java.time.ZoneOffset
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/** Two ward tablets merged into a conflict, reviewed and resolved through the view models. */
class ConflictReviewTest {
    @Test
    fun `a conflict from two tablets is reviewed side by side and resolved with a reason`() = runBlocking {
        TempStore("ward-a", "dr-a").use { a ->
            TempStore("ward-b", "dr-b").use { b ->
                val case = a.crf.createCase("icrown-core")
                a.crf.setValue(case, FieldRef("case_id"), "\"TKY-0042\"")
                b.crf.store.mergeFrom(a.crf.store)
                a.crf.setValue(case, FieldRef("vs_hr"), "88")
                b.crf.setValue(case, FieldRef("vs_hr"), "92")
                assertEquals(1u, a.crf.store.mergeFrom(b.crf.store).conflicts)

                // The case list badges the case and filters on conflicts.
                val list = CaseListModel(a.crf, Lang.EN, this, Dispatchers.IO, ZoneOffset.UTC)
                list.setFilter(CaseFilter.CONFLICTS).join()
                val row = list.state.value.rows.single()
                assertEquals("TKY-0042", row.label, "the study pseudonym labels the case")
                assertTrue(row.hasConflicts)
                assertEquals(1, row.conflicts)
                assertEquals(Status.DRAFT, row.status)
                assertTrue(list.state.value.forms.any { it.formId == "icrown-core" })
                assertTrue(list.state.value.modules.getValue("icrown-core").any { it.formId == "mpox" })

                // Form entry marks the field.
                val form = FormEntryModel(a.crf, case, Lang.EN, this, Dispatchers.IO)
                form.load().join()
                form.selectSection(form.state.value.sections.indexOfFirst { it.id == "vitals" })
                assertEquals(1, form.state.value.conflicts)
                assertTrue(form.state.value.items.filterIsInstance<EntryItem.Field>().single { it.field.field.id == "vs_hr" }.field.conflicted)

                val review = ConflictReviewModel(a.crf, null, Lang.EN, this, Dispatchers.IO, ZoneOffset.UTC)
                review.load().join()
                val conflict = review.state.value.conflicts.single()
                assertEquals("Heart rate", conflict.fieldLabel)
                assertEquals("TKY-0042", conflict.caseLabel)
                assertEquals(2, conflict.candidates.size)
                assertEquals(setOf("dr-a", "dr-b"), conflict.candidates.map { it.user }.toSet())
                val mine = conflict.candidates.single { it.thisDevice }
                val theirs = conflict.candidates.single { !it.thisDevice }
                assertEquals("dr-a", mine.user)
                assertEquals(a.crf.deviceId, mine.device)
                assertEquals(b.crf.deviceId.take(8), theirs.deviceShort)
                assertContains(theirs.value, "92")
                assertTrue(theirs.time.isNotBlank())
                assertFalse(conflict.canResolve)

                a.signIn("nurse-k")
                val chosen = conflict.candidates.indexOf(theirs)
                review.select(0, chosen)
                assertFalse(review.state.value.conflicts[0].canResolve, "a reason is needed")
                review.setReason(0, "checked the monitor log")
                assertTrue(review.state.value.conflicts[0].canResolve)
                review.resolve(0).join()
                assertTrue(review.state.value.conflicts.isEmpty())
                assertEquals(MessageKey.RESOLVED, review.state.value.message?.key)
                val resolution = a.crf.history(case, "vs_hr").last()
                assertEquals("resolve", resolution.op)
                assertEquals("nurse-k", resolution.user)
                assertEquals("checked the monitor log", resolution.reason)

                b.crf.store.mergeFrom(a.crf.store)
                assertTrue(b.crf.conflicts().isEmpty(), "the resolution settles it on the other tablet")
                list.refresh().join()
                assertTrue(list.state.value.rows.isEmpty(), "no case left with conflicts")
            }
        }
    }

    @Test
    fun `candidates are shown in the reviewer's language`() = runBlocking {
        TempStore("de-a", "dr-a").use { a ->
            TempStore("de-b", "dr-b").use { b ->
                val case = a.crf.createCase("icrown-core")
                b.crf.store.mergeFrom(a.crf.store)
                a.crf.setValue(case, FieldRef("sex_at_birth"), "\"1\"")
                b.crf.setValue(case, FieldRef("sex_at_birth"), "\"2\"")
                a.crf.store.mergeFrom(b.crf.store)
                val review = ConflictReviewModel(a.crf, case, Lang.DE, this, Dispatchers.IO, ZoneOffset.UTC)
                review.load().join()
                val conflict = review.state.value.conflicts.single()
                assertEquals("Geschlecht bei Geburt", conflict.fieldLabel)
                val labels = a.crf.formLayout("icrown-core", emptyList(), Lang.DE).fieldsById.getValue("sex_at_birth").choices
                assertEquals(labels.map { it.label }.take(2).toSet(), conflict.candidates.map { it.value }.toSet(),
                    "choice codes are shown as their German labels")
            }
        }
    }

    @Test
    fun `each candidate shows the reason given with its value`() = runBlocking {
        TempStore("why-a", "dr-ra").use { a ->
            TempStore("why-b", "dr-rb").use { b ->
                val case = a.crf.createCase("icrown-core")
                b.crf.store.mergeFrom(a.crf.store)
                a.crf.setValue(case, FieldRef("vs_hr"), "88", reason = "re-counted")
                b.crf.setValue(case, FieldRef("vs_hr"), "92", reason = "monitor reading")
                a.crf.store.mergeFrom(b.crf.store)
                val expected = mapOf("dr-ra" to "re-counted", "dr-rb" to "monitor reading")

                // The store's conflicts and the form session's candidates carry them.
                assertEquals(expected, a.crf.conflicts(case).single().candidates.associate { it.user to it.reason })
                val field = assertNotNull(a.crf.formSession(case, Lang.EN).field(FieldRef("vs_hr")))
                assertEquals(expected, field.candidates.associate { it.user to it.reason })

                val review = ConflictReviewModel(a.crf, case, Lang.EN, this, Dispatchers.IO, ZoneOffset.UTC)
                review.load().join()
                assertEquals(expected, review.state.value.conflicts.single().candidates.associate { it.user to it.reason })
            }
        }
    }
}
