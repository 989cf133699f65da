package org.wardcrf.ui.test

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.wardcrf.ui.form.DatePrecision
import org.wardcrf.ui.form.Dates
import org.wardcrf.ui.form.DraftKeeper
import org.wardcrf.ui.form.EntryItem
import org.wardcrf.ui.form.FieldUi
import org.wardcrf.ui.form.FormEntryModel
import org.wardcrf.ui.form.KeptDraft
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.text.MessageKey
import java.time.LocalDate
import java.time.LocalDateTime
import java.time.ZoneId
import kotlin.test.Test
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Unsaved input that survives the app being killed; what the date and time pickers write. */
class DraftsTest {
    private fun FormEntryModel.field(id: String): FieldUi =
        state.value.items.filterIsInstance<EntryItem.Field>().map { it.field }.single { it.field.id == id }

    private fun FormEntryModel.open(section: String) =
        selectSection(state.value.sections.indexOfFirst { it.id == section })

    @Test
    fun `typed but unsaved input comes back after the process died, still unsaved`() = runBlocking {
        TempStore("drafts", "dr-kato").use { t ->
            val case = t.crf.createCase("icrown-core")
            // Stands in for the screen's SavedStateHandle, which outlives the process.
            val saved = DraftKeeper.InMemory()
            val before = FormEntryModel(t.crf, case, Lang.EN, this, Dispatchers.IO, keeper = saved)
            before.load().join()
            before.open("vitals")
            before.selectUnit(FieldRef("vs_temp"), "[degF]").join()
            before.edit(FieldRef("vs_temp"), "101.3").join()
            before.edit(FieldRef("vs_hr"), "abc").join()
            assertEquals(setOf("vs_temp", "vs_hr"), saved.restore().map { it.key }.toSet())
            assertEquals("[degF]", saved.restore().single { it.key == "vs_temp" }.unit)
            assertTrue("vs_temp" !in t.crf.viewCase(case, Lang.EN).valuesJson, "nothing was saved")

            // The app is killed; the screen comes back with a new model and the saved state.
            val after = FormEntryModel(t.crf, case, Lang.EN, this, Dispatchers.IO, keeper = saved)
            after.load().join()
            after.open("vitals")
            val temp = after.field("vs_temp")
            assertTrue(temp.dirty, "still a draft, not saved behind the clinician's back")
            assertEquals("101.3", temp.text)
            assertEquals("[degF]", temp.unit)
            assertEquals(MessageKey.NOT_A_NUMBER, after.field("vs_hr").inputError?.key)

            after.commit(FieldRef("vs_temp")).join()
            assertFalse(after.field("vs_temp").dirty)
            assertContains(t.crf.viewCase(case, Lang.EN).valuesJson, "\"vs_temp\":{\"value\":38.5")
            assertEquals(listOf("vs_hr"), saved.restore().map { it.key }, "a saved draft is no longer kept")
            after.discard(FieldRef("vs_hr"))
            assertTrue(saved.restore().isEmpty())
        }
    }

    @Test
    fun `a kept draft names its field, or a field of one row`() {
        val row = FieldRef("med_name", "medications", "r-1")
        assertEquals("medications/r-1/med_name", KeptDraft.keyOf(row))
        assertEquals(row, KeptDraft.refOf(KeptDraft.keyOf(row)))
        assertEquals(FieldRef("vs_temp"), KeptDraft.refOf("vs_temp"))
        assertNull(KeptDraft.refOf("a/b"))
        assertNull(KeptDraft.refOf(""))
    }

    @Test
    fun `the date pickers write full and partial dates, the time picker a date-time with its offset`() {
        val day = LocalDate.of(2024, 3, 7)
        assertEquals("2024-03-07", Dates.format(day, DatePrecision.DAY))
        assertEquals("2024-03", Dates.format(day, DatePrecision.MONTH))
        assertEquals("2024", Dates.format(day, DatePrecision.YEAR))
        assertEquals(listOf(DatePrecision.DAY), Dates.precisions(partialAllowed = false))
        assertEquals(listOf(DatePrecision.DAY, DatePrecision.MONTH, DatePrecision.YEAR), Dates.precisions(partialAllowed = true))

        assertEquals(day to DatePrecision.DAY, Dates.parse("2024-03-07"))
        assertEquals(LocalDate.of(2024, 3, 1) to DatePrecision.MONTH, Dates.parse("2024-03"))
        assertEquals(LocalDate.of(2024, 1, 1) to DatePrecision.YEAR, Dates.parse(" 2024 "))
        assertNull(Dates.parse("2024-02-30"))
        assertNull(Dates.parse("07.03.2024"))

        val tokyo = ZoneId.of("Asia/Tokyo")
        assertEquals("2024-03-07T08:30+09:00", Dates.dateTime(day, 8, 30, tokyo))
        // Summer time in Berlin: the offset of that day, not of today.
        assertEquals("2024-07-01T23:05+02:00", Dates.dateTime(LocalDate.of(2024, 7, 1), 23, 5, ZoneId.of("Europe/Berlin")))
        assertEquals(LocalDateTime.of(2024, 3, 7, 8, 30), Dates.parseDateTime("2024-03-07T08:30+09:00", tokyo))
        assertEquals(LocalDateTime.of(2024, 3, 7, 0, 30), Dates.parseDateTime("2024-03-06T15:30Z", tokyo))
        assertEquals(LocalDateTime.of(2024, 3, 7, 8, 30), Dates.parseDateTime("2024-03-07T08:30", tokyo))
        assertNull(Dates.parseDateTime("2024-03-07", tokyo))
    }
}
