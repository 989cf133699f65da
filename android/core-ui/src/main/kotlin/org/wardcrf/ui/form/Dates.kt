package org.wardcrf.ui.form

import java.time.LocalDate
import java.time.LocalDateTime
import java.time.OffsetDateTime
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.DateTimeParseException

/** How much of a date is known: a previous infection may be known to the month or the year only. */
enum class DatePrecision { DAY, MONTH, YEAR }

/**
 * The values the date and time pickers produce, in the forms the core reads: `YYYY-MM-DD`,
 * `YYYY-MM` or `YYYY` for a date (the last two only where the field allows a partial date),
 * `YYYY-MM-DDTHH:MM±HH:MM` for a date-time (the tablet's offset at that moment, so that two
 * tablets in different zones compare). And back: what a picker starts from.
 */
object Dates {
    /** The precisions a field offers, the full date first. */
    fun precisions(partialAllowed: Boolean): List<DatePrecision> =
        if (partialAllowed) DatePrecision.entries else listOf(DatePrecision.DAY)

    /** [date] written to [precision]. */
    fun format(date: LocalDate, precision: DatePrecision): String = when (precision) {
        DatePrecision.DAY -> date.toString()
        DatePrecision.MONTH -> "%04d-%02d".format(date.year, date.monthValue)
        DatePrecision.YEAR -> "%04d".format(date.year)
    }

    /**
     * A stored or typed date as a picker's start: the day it names (the first of the month or
     * year for a partial date) and its precision; null when it is not a date.
     */
    fun parse(text: String): Pair<LocalDate, DatePrecision>? {
        val t = text.trim()
        return try {
            when {
                Regex("""\d{4}""").matches(t) -> LocalDate.of(t.toInt(), 1, 1) to DatePrecision.YEAR
                Regex("""\d{4}-\d{2}""").matches(t) ->
                    LocalDate.of(t.substring(0, 4).toInt(), t.substring(5, 7).toInt(), 1) to DatePrecision.MONTH
                Regex("""\d{4}-\d{2}-\d{2}""").matches(t) -> LocalDate.parse(t) to DatePrecision.DAY
                else -> null
            }
        } catch (e: java.time.DateTimeException) {
            null
        }
    }

    /** A date and a time of day on this tablet, with its UTC offset at that moment. */
    fun dateTime(date: LocalDate, hour: Int, minute: Int, zone: ZoneId): String {
        val local = LocalDateTime.of(date.year, date.month, date.dayOfMonth, hour, minute)
        return local.atZone(zone).toOffsetDateTime().format(DATE_TIME)
    }

    /** A stored date-time as the pickers' start, in [zone]; null when it is not one. */
    fun parseDateTime(text: String, zone: ZoneId): LocalDateTime? {
        val t = text.trim().replace(' ', 'T')
        return try {
            OffsetDateTime.parse(t).atZoneSameInstant(zone).toLocalDateTime()
        } catch (e: DateTimeParseException) {
            try {
                LocalDateTime.parse(t)
            } catch (e: DateTimeParseException) {
                null
            }
        }
    }

    private val DATE_TIME: DateTimeFormatter = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mmxxx")
}
