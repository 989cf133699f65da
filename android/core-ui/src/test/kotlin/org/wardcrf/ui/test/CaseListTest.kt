package org.wardcrf.ui.test

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.wardcrf.ui.cases.CaseListModel
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.CancelSignal
import java.time.ZoneOffset
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/** A store that refuses to open a case: the case list must be drawn without opening one. */
private class NoCaseOpened(private val inner: CrfStore) : CrfStore by inner {
    override fun viewCase(caseId: String, lang: Lang) = error("the case list opened case $caseId")
    override fun formSession(caseId: String, lang: Lang) = error("the case list opened case $caseId")
}

/** The case list through [CaseListModel] over the real library: labels and "not yet synced". */
class CaseListTest {
    @Test
    fun `cases are listed by their label without being opened, with what is not yet synced`() = runBlocking {
        TempStore("list", "dr-ito").use { t ->
            val labelled = t.crf.createCase("icrown-core")
            t.crf.setValue(labelled, FieldRef("case_id"), "\"TKY-0107\"")
            t.crf.setValue(labelled, FieldRef("admission_date"), "\"2024-03-01\"")
            val bare = t.crf.createCase("icrown-core")

            val list = CaseListModel(NoCaseOpened(t.crf), Lang.EN, this, Dispatchers.IO, ZoneOffset.UTC)
            list.refresh().join()
            val state = list.state.value
            assertEquals(null, state.message, "no case was opened")
            val rows = state.rows.associateBy { it.caseId }
            assertEquals("TKY-0107 · 2024-03-01", rows.getValue(labelled).label, "the form's designated fields label the case")
            assertFalse(rows.getValue(labelled).unlabelled)
            assertEquals(bare.take(8), rows.getValue(bare).label, "a case without a label shows the start of its id")
            assertTrue(rows.getValue(bare).unlabelled)
            assertEquals(t.crf.forms(Lang.EN).single { it.formId == "icrown-core" }.title, rows.getValue(bare).formTitle)
            assertTrue(state.rows.all { it.pendingSync }, "nothing synced yet")
            assertEquals(2, state.pendingSync)

            t.crf.sync({}, CancelSignal())
            list.refresh().join()
            assertTrue(list.state.value.rows.none { it.pendingSync })
            assertEquals(0, list.state.value.pendingSync)

            // An edit after the sync: that case alone is not yet synced.
            t.crf.setValue(bare, FieldRef("case_id"), "\"TKY-0108\"")
            list.refresh().join()
            val after = list.state.value.rows.associateBy { it.caseId }
            assertTrue(after.getValue(bare).pendingSync)
            assertEquals("TKY-0108", after.getValue(bare).label)
            assertFalse(after.getValue(labelled).pendingSync)
            assertEquals(1, list.state.value.pendingSync)
        }
    }
}
