package org.wardcrf.ui.form

import org.wardcrf.ui.store.FieldRef

/**
 * Where a form keeps typed-but-unsaved input so that it survives the app being killed in the
 * background (Android: the screen's `SavedStateHandle`; tests: [InMemory]). Only drafts are
 * kept, never what is already in the store; a draft is gone once saved or discarded.
 */
interface DraftKeeper {
    /** The drafts kept for this form, as the last [keep] left them. */
    fun restore(): List<KeptDraft>

    /** Replaces the kept drafts. */
    fun keep(drafts: List<KeptDraft>)

    /** Keeps drafts for as long as the object lives. */
    class InMemory : DraftKeeper {
        @Volatile
        private var kept: List<KeptDraft> = emptyList()
        override fun restore() = kept
        override fun keep(drafts: List<KeptDraft>) {
            kept = drafts
        }
    }

    companion object {
        /** Keeps nothing. */
        val NONE: DraftKeeper = object : DraftKeeper {
            override fun restore() = emptyList<KeptDraft>()
            override fun keep(drafts: List<KeptDraft>) {}
        }
    }
}

/**
 * One kept draft: where (a [FieldRef] as [key]), the text typed and the unit chosen. Strings
 * only, so that a platform's saved state can hold it as it is.
 */
data class KeptDraft(val key: String, val text: String, val unit: String?) {
    val ref: FieldRef? get() = refOf(key)

    companion object {
        /** `field`, or `group/row/field` for a field of a row. */
        fun keyOf(ref: FieldRef): String =
            if (ref.group == null || ref.rowId == null) ref.field else "${ref.group}/${ref.rowId}/${ref.field}"

        fun refOf(key: String): FieldRef? {
            val parts = key.split('/')
            return when (parts.size) {
                1 -> FieldRef(parts[0]).takeIf { parts[0].isNotEmpty() }
                3 -> FieldRef(parts[2], parts[0], parts[1])
                else -> null
            }
        }
    }
}
