package org.wardcrf.ui.form

import org.wardcrf.ui.store.Lang
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import java.util.Locale

/** How the app words values for a person: yes/no, times, in the user's language. */
object Values {
    fun yesNo(value: Boolean, lang: Lang) = when (lang) {
        Lang.EN -> if (value) "Yes" else "No"
        Lang.JA -> if (value) "はい" else "いいえ"
        Lang.DE -> if (value) "Ja" else "Nein"
    }

    fun locale(lang: Lang): Locale = when (lang) {
        Lang.EN -> Locale.ENGLISH
        Lang.JA -> Locale.JAPANESE
        Lang.DE -> Locale.GERMAN
    }

    /** A time (seconds since the epoch) in the user's language and time zone. */
    fun time(epochSeconds: Long, lang: Lang, zone: ZoneId): String =
        DateTimeFormatter.ofLocalizedDateTime(FormatStyle.MEDIUM, FormatStyle.SHORT)
            .withLocale(locale(lang))
            .withZone(zone)
            .format(Instant.ofEpochSecond(epochSeconds))
}
