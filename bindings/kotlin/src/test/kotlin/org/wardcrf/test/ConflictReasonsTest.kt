package org.wardcrf.test

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance
import kotlin.test.Test
import kotlin.test.assertEquals

/** The candidates of a conflict carry the reason given with each value (for the review screen). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConflictReasonsTest {
    private lateinit var server: RepositoryServer
    private lateinit var ward: Ward

    @BeforeAll
    fun start() {
        server = RepositoryServer()
        ward = Ward(server)
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    @Test
    fun `each candidate carries the reason given with its value`() {
        ward.store("reasons-a", "dr-ra").use { a ->
            ward.store("reasons-b", "dr-rb").use { b ->
                val case = a.store.createCase("icrown-core")
                b.store.mergeFrom(a.store)
                a.store.setValue(case, field("vs_hr"), "88", reason = "re-counted")
                b.store.setValue(case, field("vs_hr"), "92", reason = "monitor reading")
                a.store.mergeFrom(b.store)
                val candidates = a.store.conflicts(case).single().candidates
                assertEquals(
                    mapOf("dr-ra" to "re-counted", "dr-rb" to "monitor reading"),
                    candidates.associate { it.user to it.reason },
                )
            }
        }
    }
}
