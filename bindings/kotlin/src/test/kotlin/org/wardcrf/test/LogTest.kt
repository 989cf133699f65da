package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import org.wardcrf.LogLevel
import org.wardcrf.LogSink
import org.wardcrf.setLogSink
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** One record the core logged. */
data class LogRecord(val level: LogLevel, val target: String, val message: String)

/** Keeps every record it is given. */
class CollectingSink : LogSink {
    val records = CopyOnWriteArrayList<LogRecord>()
    override fun log(level: LogLevel, target: String, message: String) {
        records.add(LogRecord(level, target, message))
    }
}

/** The core's log records reach an app sink during a real sync, without a patient value. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LogTest {
    private lateinit var server: RepositoryServer
    private lateinit var ward: Ward

    @BeforeAll
    fun start() {
        server = RepositoryServer()
        ward = Ward(server, "jp-osaka-02")
    }

    @AfterAll
    fun stop() {
        // The sink is process-wide: leave a quiet one for the other suites.
        setLogSink(CollectingSink(), LogLevel.ERROR)
        server.close()
    }

    @Test
    fun `a sync logs its exchanges and counts to the app's sink and never a seeded value`() {
        val sink = CollectingSink()
        setLogSink(sink, LogLevel.DEBUG)
        val seeded = listOf("Zebulon Quixotic-Marlowe", "HRN-77Q-40913", "trembled 4471 times")
        // Enrolled, and a staff member signed in online (their password must never be logged).
        ward.store("log", "dr-log").use { t ->
            val case = t.store.createCase("icrown-core")
            t.store.setValue(case, field("patient_name"), "\"${seeded[0]}\"")
            t.store.setValue(case, field("hospital_record_number"), "\"${seeded[1]}\"")
            t.store.setValue(case, field("vs_spo2"), "75", reason = seeded[2])
            val other = t.store.createCase("icrown-core")
            t.store.setQuantity(other, field("vs_temp"), 101.3, "[degF]")

            val summary = t.store.sync()
            assertEquals(2u, summary.pushed)

            val ours = sink.records.filter { it.target.startsWith("wardcrf_core::sync") }
            val texts = ours.map { it.message }
            assertTrue(texts.any { it.startsWith("sync started") }, "a start record: $texts")
            val finished = ours.single { it.message.startsWith("sync finished") }
            assertEquals(LogLevel.INFO, finished.level)
            for (part in listOf("pushed=2", "pulled=0", "conflicts=0", "rounds=1", "duration_ms=")) {
                assertTrue(part in finished.message, "'$part' in '${finished.message}'")
            }
            val answered = ours.single { it.message.startsWith("sync exchange answered") }
            assertEquals(LogLevel.DEBUG, answered.level)
            assertTrue("status=200" in answered.message, answered.message)
            assertTrue(ours.any { it.message.startsWith("sync exchange applied") && "pushed=2" in it.message })

            // Nothing identifying, no value, no case id, no address: counts and durations only.
            val forbidden = seeded + listOf(case, other, server.url, "101.3", "38.5", "Bearer", passwordOf("dr-log"))
            for (record in sink.records) {
                for (f in forbidden) {
                    assertTrue(f !in record.message && f !in record.target, "'$f' logged in $record")
                }
            }

            // A failed sync says why, as a kind.
            server.revoke(t.store.deviceId())
            runCatching { t.store.sync() }
            val failed = sink.records.last { it.message.startsWith("sync failed") }
            assertEquals(LogLevel.ERROR, failed.level)
            assertTrue("kind=revoked" in failed.message, failed.message)
        }

        // A second call replaces the sink: the first hears nothing more.
        val before = sink.records.size
        val second = CollectingSink()
        setLogSink(second, LogLevel.INFO)
        TestStore("log-2").use { t ->
            runCatching { t.store.sync() } // not enrolled: refused before any exchange
        }
        assertEquals(before, sink.records.size)
    }
}
