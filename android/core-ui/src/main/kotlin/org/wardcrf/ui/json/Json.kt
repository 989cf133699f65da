package org.wardcrf.ui.json

/**
 * Case values cross the FFI as JSON text (`38.5`, `"2024-03-01"`,
 * `{"value": 38.5, "unit": "Cel", "entered": {...}}`, rows as `[{"row_id": ..}]`). This is the
 * small reader and writer the UI logic needs for them, so that `:core-ui` stays free of
 * Android's `org.json` and of a serialization plugin.
 */
sealed class Json {
    object Null : Json()
    data class Bool(val value: Boolean) : Json()

    /** A number; [raw] keeps its text so that `75` is written back as `75`, not `75.0`. */
    data class Num(val raw: String) : Json() {
        val value: Double get() = raw.toDouble()
    }

    data class Str(val value: String) : Json()
    data class Arr(val items: List<Json>) : Json()
    data class Obj(val fields: Map<String, Json>) : Json() {
        operator fun get(key: String): Json? = fields[key]
        fun with(key: String, value: Json?): Obj =
            Obj(LinkedHashMap(fields).apply { if (value == null) remove(key) else put(key, value) })
    }

    /** Compact JSON text. */
    final override fun toString(): String = StringBuilder().also { write(this, it) }.toString()

    companion object {
        fun parse(text: String): Json = Reader(text).readDocument()
        fun number(value: Double): Num =
            Num(if (value == Math.rint(value) && kotlin.math.abs(value) < 1e15) value.toLong().toString() else value.toString())
        fun string(value: String) = Str(value)

        private fun write(v: Json, out: StringBuilder) {
            when (v) {
                Null -> out.append("null")
                is Bool -> out.append(v.value)
                is Num -> out.append(v.raw)
                is Str -> quote(v.value, out)
                is Arr -> {
                    out.append('[')
                    v.items.forEachIndexed { i, item -> if (i > 0) out.append(','); write(item, out) }
                    out.append(']')
                }
                is Obj -> {
                    out.append('{')
                    var first = true
                    for ((k, item) in v.fields) {
                        if (!first) out.append(',')
                        first = false
                        quote(k, out); out.append(':'); write(item, out)
                    }
                    out.append('}')
                }
            }
        }

        private fun quote(s: String, out: StringBuilder) {
            out.append('"')
            for (c in s) {
                when (c) {
                    '"' -> out.append("\\\"")
                    '\\' -> out.append("\\\\")
                    '\n' -> out.append("\\n")
                    '\r' -> out.append("\\r")
                    '\t' -> out.append("\\t")
                    else -> if (c < ' ') out.append("\\u%04x".format(c.code)) else out.append(c)
                }
            }
            out.append('"')
        }
    }

    private class Reader(private val s: String) {
        private var i = 0

        fun readDocument(): Json {
            val v = value()
            space()
            if (i != s.length) fail()
            return v
        }

        private fun fail(): Nothing = throw IllegalArgumentException("not valid JSON at offset $i")

        private fun space() {
            while (i < s.length && s[i].isWhitespace()) i++
        }

        private fun value(): Json {
            space()
            if (i >= s.length) fail()
            return when (s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> Str(str())
                't' -> literal("true", Bool(true))
                'f' -> literal("false", Bool(false))
                'n' -> literal("null", Null)
                else -> num()
            }
        }

        private fun literal(word: String, v: Json): Json {
            if (!s.startsWith(word, i)) fail()
            i += word.length
            return v
        }

        private fun num(): Json {
            val start = i
            while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
            val raw = s.substring(start, i)
            if (raw.isEmpty() || raw.toDoubleOrNull() == null) fail()
            return Num(raw)
        }

        private fun str(): String {
            i++ // opening quote
            val out = StringBuilder()
            while (true) {
                if (i >= s.length) fail()
                when (val c = s[i++]) {
                    '"' -> return out.toString()
                    '\\' -> {
                        if (i >= s.length) fail()
                        when (val e = s[i++]) {
                            'n' -> out.append('\n')
                            't' -> out.append('\t')
                            'r' -> out.append('\r')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'u' -> {
                                if (i + 4 > s.length) fail()
                                out.append(s.substring(i, i + 4).toInt(16).toChar())
                                i += 4
                            }
                            else -> out.append(e)
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        private fun arr(): Json {
            i++
            val items = ArrayList<Json>()
            space()
            if (i < s.length && s[i] == ']') { i++; return Arr(items) }
            while (true) {
                items.add(value())
                space()
                if (i >= s.length) fail()
                when (s[i++]) {
                    ',' -> continue
                    ']' -> return Arr(items)
                    else -> fail()
                }
            }
        }

        private fun obj(): Json {
            i++
            val fields = LinkedHashMap<String, Json>()
            space()
            if (i < s.length && s[i] == '}') { i++; return Obj(fields) }
            while (true) {
                space()
                if (i >= s.length || s[i] != '"') fail()
                val key = str()
                space()
                if (i >= s.length || s[i++] != ':') fail()
                fields[key] = value()
                space()
                if (i >= s.length) fail()
                when (s[i++]) {
                    ',' -> continue
                    '}' -> return Obj(fields)
                    else -> fail()
                }
            }
        }
    }
}
