package org.wardcrf.store

import org.wardcrf.CaseFilter
import org.wardcrf.CaseStatus
import org.wardcrf.CaseStore
import org.wardcrf.FieldKind
import org.wardcrf.FieldLayout
import org.wardcrf.FieldPath
import org.wardcrf.FormItem
import org.wardcrf.IssueCode
import org.wardcrf.KeyProvider
import org.wardcrf.Language
import org.wardcrf.Signature
import org.wardcrf.SignedInUser
import org.wardcrf.StaffRole
import org.wardcrf.SyncCancellation
import org.wardcrf.SyncProgress
import org.wardcrf.SyncProgressListener
import org.wardcrf.ValidationIssue
import org.wardcrf.ValidationReport
import org.wardcrf.WardcrfException
import org.wardcrf.formLayout
import org.wardcrf.forms
import org.wardcrf.ui.store.Answer
import org.wardcrf.ui.store.CancelSignal
import org.wardcrf.ui.store.CandidateItem
import org.wardcrf.ui.store.CaseDetail
import org.wardcrf.ui.store.CaseItem
import org.wardcrf.ui.store.CaseQuery
import org.wardcrf.ui.store.ChoiceSpec
import org.wardcrf.ui.store.ConflictItem
import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.CrfStore
import org.wardcrf.ui.store.EnrolmentInfo
import org.wardcrf.ui.store.FieldRef
import org.wardcrf.ui.store.FieldSpec
import org.wardcrf.ui.store.FormSpec
import org.wardcrf.ui.store.FormSummary
import org.wardcrf.ui.store.GroupSpec
import org.wardcrf.ui.store.HiddenChoice
import org.wardcrf.ui.store.HistoryItem
import org.wardcrf.ui.store.Issue
import org.wardcrf.ui.store.Kind
import org.wardcrf.ui.store.Lang
import org.wardcrf.ui.store.Limits
import org.wardcrf.ui.store.MeaningItem
import org.wardcrf.ui.store.Problem
import org.wardcrf.ui.store.Report
import org.wardcrf.ui.store.SectionItem
import org.wardcrf.ui.store.SectionSpec
import org.wardcrf.ui.store.SignatureItem
import org.wardcrf.ui.store.StaffUser
import org.wardcrf.ui.store.Status
import org.wardcrf.ui.store.SyncCounts
import org.wardcrf.ui.store.SyncResult
import org.wardcrf.ui.store.UnitSpec

/**
 * `:core-ui`'s [CrfStore] over the generated uniffi bindings: each method converts its
 * arguments, calls one `CaseStore` method and maps the result and the error. Plain Kotlin (no
 * Android API) on purpose: `android/test-jvm` compiles it with the generated bindings and runs
 * `:core-ui`'s tests through it against the real library on the JVM.
 */
class RustCrfStore(val store: CaseStore) : CrfStore {
    companion object {
        /**
         * Opens the store in [dir], creating it on first use, its data key wrapped by [key]. A
         * store on which staff signed in opens locked: a staff member signs in to read it.
         */
        fun openOrCreate(dir: String, key: KeyProvider): RustCrfStore = mapped {
            val store = try {
                CaseStore.open(dir, key)
            } catch (e: WardcrfException.NoStore) {
                CaseStore.create(dir, key)
            }
            RustCrfStore(store)
        }

        fun create(dir: String, key: KeyProvider) = mapped { RustCrfStore(CaseStore.create(dir, key)) }
        fun open(dir: String, key: KeyProvider) = mapped { RustCrfStore(CaseStore.open(dir, key)) }

        /** Runs a bindings call, turning its exception into the UI's [CrfError]. */
        internal inline fun <T> mapped(call: () -> T): T = try {
            call()
        } catch (e: WardcrfException) {
            throw crfError(e)
        }

        fun crfError(e: WardcrfException): CrfError = when (e) {
            is WardcrfException.WrongKey -> CrfError.WrongKey()
            is WardcrfException.KeyUnavailable -> CrfError.KeyUnavailable(e.reason)
            is WardcrfException.NoStore -> CrfError.NoStore()
            is WardcrfException.StoreExists -> CrfError.StoreExists()
            is WardcrfException.StorageDamaged -> CrfError.StorageDamaged(e.movedTo)
            is WardcrfException.Storage -> CrfError.Storage(e.reason)
            is WardcrfException.NotFound -> CrfError.NotFound(e.what)
            is WardcrfException.CaseDeleted -> CrfError.CaseDeleted(e.caseId)
            is WardcrfException.ValidationRejected -> CrfError.Rejected(e.field, e.codes.map(::problem))
            is WardcrfException.NeedsConfirmation -> CrfError.NeedsConfirmation(e.field, e.codes.map(::problem))
            is WardcrfException.ReasonRequired -> CrfError.ReasonRequired(e.what)
            is WardcrfException.NotComplete ->
                CrfError.NotComplete(e.errors.toInt(), e.missing.toInt(), e.unconfirmed.toInt(), e.conflicts.toInt())
            is WardcrfException.NotSignable -> CrfError.NotSignable()
            is WardcrfException.NoConflict -> CrfError.NoConflict(e.field)
            is WardcrfException.Mismatch -> CrfError.Mismatch(e.caseId)
            is WardcrfException.InvalidInput -> CrfError.InvalidInput(e.reason)
            is WardcrfException.NotEnrolled -> CrfError.NotEnrolled()
            is WardcrfException.Revoked -> CrfError.Revoked()
            is WardcrfException.Refused -> CrfError.Refused(e.reason)
            is WardcrfException.CertificateMismatch -> CrfError.CertificateMismatch(e.server)
            is WardcrfException.BadEnrolmentCode -> CrfError.BadEnrolmentCode(e.reason)
            is WardcrfException.Network -> CrfError.Network(e.reason)
            is WardcrfException.UpdateRequired -> CrfError.UpdateRequired(e.serverProtocol.toInt())
            is WardcrfException.Cancelled -> CrfError.Cancelled()
            is WardcrfException.Locked -> CrfError.Locked()
            is WardcrfException.NotSignedIn -> CrfError.NotSignedIn()
            is WardcrfException.OnlineSignInRequired -> CrfError.OnlineSignInRequired(e.user)
            is WardcrfException.WrongCredential -> CrfError.WrongCredential()
            is WardcrfException.NoPin -> CrfError.NoPin(e.user)
            is WardcrfException.PinLocked -> CrfError.PinLocked(e.user)
            is WardcrfException.BadPin -> CrfError.BadPin()
            is WardcrfException.AccountDeactivated -> CrfError.AccountDeactivated(e.user)
            is WardcrfException.BadUnlockKey -> CrfError.BadUnlockKey()
            is WardcrfException.NoUnlockKey -> CrfError.NoUnlockKey()
            is WardcrfException.SignatureRequired -> CrfError.SignatureRequired()
            is WardcrfException.UnknownMeaning -> CrfError.UnknownMeaning(e.meaning, e.known)
            is WardcrfException.RosterRefused -> CrfError.RosterRefused(e.reason)
            is WardcrfException.LockedOut -> CrfError.LockedOut(e.reason)
            is WardcrfException.NotSiteStaff -> CrfError.NotSiteStaff(e.reason)
            is WardcrfException.HiddenValuesPending ->
                CrfError.HiddenValuesPending(e.count.toInt(), e.fields.map(SessionMapping::ref))
        }

        private fun staffUser(u: SignedInUser) = StaffUser(
            u.id,
            u.displayName,
            when (u.role) {
                StaffRole.CLINICIAN -> org.wardcrf.ui.store.StaffRole.CLINICIAN
                StaffRole.SITE_NURSE -> org.wardcrf.ui.store.StaffRole.SITE_NURSE
            },
        )

        private fun signature(s: Signature) = SignatureItem(
            s.signerId,
            s.signerName,
            s.time,
            MeaningItem(s.meaning, s.meaningEn, s.meaningJa, s.meaningDe),
            s.superseded,
        )

        fun language(l: Lang) = when (l) {
            Lang.EN -> Language.EN
            Lang.JA -> Language.JA
            Lang.DE -> Language.DE
        }

        private fun status(s: CaseStatus) = when (s) {
            CaseStatus.DRAFT -> Status.DRAFT
            CaseStatus.COMPLETE -> Status.COMPLETE
            CaseStatus.SIGNED -> Status.SIGNED
        }

        private fun caseStatus(s: Status) = when (s) {
            Status.DRAFT -> CaseStatus.DRAFT
            Status.COMPLETE -> CaseStatus.COMPLETE
            Status.SIGNED -> CaseStatus.SIGNED
        }

        private fun problem(c: IssueCode) = Problem.valueOf(c.name)
        private fun kind(k: FieldKind) = Kind.valueOf(k.name)
        private fun path(r: FieldRef) = FieldPath(r.field, r.group, r.rowId)
        private fun ref(p: FieldPath) = FieldRef(p.field, p.group, p.rowId)

        private fun issue(i: ValidationIssue) =
            Issue(i.field, i.group, i.rowId, problem(i.code), i.rule, i.confirmed, i.message)

        private fun report(r: ValidationReport) = Report(
            errors = r.errors.map(::issue),
            warnings = r.warnings.map(::issue),
            missing = r.missing.map(::issue),
            complete = r.complete,
            valuesJson = r.valuesJson,
        )

        private fun field(f: FieldLayout) = FieldSpec(
            id = f.id,
            kind = kind(f.kind),
            label = f.label,
            help = f.help,
            unit = f.unit?.let { UnitSpec(it.code, it.display) },
            altUnits = f.altUnits.map { UnitSpec(it.code, it.display) },
            decimals = f.decimals?.toInt(),
            choices = f.choices.map { ChoiceSpec(it.code, it.label) },
            hardLimits = f.hardLimits?.let { Limits(it.min, it.max) },
            softLimits = f.softLimits?.let { Limits(it.min, it.max) },
            required = f.required,
            identifying = f.identifying,
            partialDate = f.partialDate,
            maxLength = f.maxLength?.toInt(),
            showIf = f.showIf,
        )
    }

    override val deviceId: String get() = store.deviceId()

    override val currentUser: StaffUser? get() = store.currentUser()?.let(::staffUser)
    override val isUnlocked: Boolean get() = store.isUnlocked()

    override fun signIn(user: String, password: String) = mapped { staffUser(store.signIn(user, password)) }
    override fun unlockWithPin(user: String, pin: String) = mapped { staffUser(store.unlockWithPin(user, pin)) }
    override fun setPin(password: String, pin: String) = mapped { store.setPin(password, pin) }
    override fun removePin() = mapped { store.removePin() }
    override fun lock() = store.lock()
    override fun signOut() = store.signOut()
    override fun touch() = store.touch()
    override fun localStaff() = mapped { store.localStaff() }
    override fun lockAfterMinutes() = mapped { store.lockAfterMinutes().toInt() }
    override fun signatureMeanings() = mapped { store.signatureMeanings().map { MeaningItem(it.code, it.en, it.ja, it.de) } }
    override fun sign(caseId: String, password: String, meaning: String) = mapped { signature(store.sign(caseId, password, meaning)) }
    override fun signatures(caseId: String) = mapped { store.signatures(caseId).map(::signature) }

    override fun forms(lang: Lang) = mapped {
        forms(language(lang)).map { FormSummary(it.formId, it.version, it.extends, it.title) }
    }

    override fun formLayout(formId: String, modules: List<String>, lang: Lang): FormSpec = mapped {
        val l = formLayout(formId, modules, language(lang))
        FormSpec(
            formId = l.formId,
            version = l.version,
            title = l.title,
            sections = l.sections.map { s ->
                SectionSpec(
                    id = s.id,
                    label = s.label,
                    help = s.help,
                    showIf = s.showIf,
                    items = s.items.map { item ->
                        when (item) {
                            is FormItem.Field -> SectionItem.FieldItem(field(item.field))
                            is FormItem.Group -> SectionItem.GroupItem(
                                GroupSpec(
                                    item.group.id, item.group.label, item.group.help, item.group.showIf,
                                    item.group.maxRows?.toInt(), item.group.fields.map(::field),
                                ),
                            )
                        }
                    },
                )
            },
        )
    }

    override fun formSession(caseId: String, lang: Lang) =
        mapped { SessionMapping.session(store.formSession(caseId, language(lang))) }

    override fun setAnswer(caseId: String, path: FieldRef, answer: Answer?, lang: Lang, unit: String?, reason: String?) = mapped {
        SessionMapping.session(
            store.setAnswer(caseId, path(path), answer?.let(SessionMapping::answerValue), language(lang), unit, reason),
        )
    }

    override fun addSessionRow(caseId: String, group: String, lang: Lang, reason: String?) =
        mapped { SessionMapping.session(store.addSessionRow(caseId, group, language(lang), reason)) }

    override fun clearHidden(caseId: String, reason: String, lang: Lang) =
        mapped { SessionMapping.session(store.clearHidden(caseId, reason, language(lang))) }

    override fun complete(caseId: String, hidden: HiddenChoice, lang: Lang) =
        mapped { SessionMapping.session(store.complete(caseId, SessionMapping.hidden(hidden), language(lang))) }

    override fun listCases(query: CaseQuery) = mapped {
        store.listCases(
            CaseFilter(
                status = query.status?.let(::caseStatus),
                formId = query.formId,
                withConflicts = query.withConflicts,
                includeDeleted = query.includeDeleted,
            ),
        ).map {
            CaseItem(
                it.caseId, it.formId, it.formVersion, status(it.status), it.hasConflicts, it.deleted, it.createdAt, it.updatedAt,
                label = it.label, conflicts = it.conflicts.toInt(), pendingSync = it.pendingSync,
            )
        }
    }

    override fun pendingSyncCount() = mapped { store.pendingSyncCount().toInt() }

    override fun createCase(formId: String, modules: List<String>) = mapped { store.createCase(formId, modules) }

    override fun viewCase(caseId: String, lang: Lang) = mapped {
        val v = store.viewCase(caseId, language(lang))
        CaseDetail(
            caseId = v.caseId,
            formId = v.formId,
            formVersion = v.formVersion,
            modules = v.modules,
            status = status(v.status),
            deleted = v.deleted,
            valuesJson = v.valuesJson,
            report = report(v.report),
            conflicts = v.conflicts.map { c ->
                ConflictItem(c.caseId, ref(c.path), c.candidates.map { CandidateItem(it.valueJson, it.device, it.user, it.time, it.reason) })
            },
        )
    }

    override fun setValue(caseId: String, path: FieldRef, valueJson: String, reason: String?) =
        mapped { store.setValue(caseId, path(path), valueJson, reason) }

    override fun setQuantity(caseId: String, path: FieldRef, value: Double, unit: String, reason: String?) =
        mapped { store.setQuantity(caseId, path(path), value, unit, reason) }

    override fun addRow(caseId: String, group: String, valuesJson: String, reason: String?) =
        mapped { store.addRow(caseId, group, valuesJson, reason) }

    override fun removeRow(caseId: String, group: String, rowId: String, reason: String) =
        mapped { store.removeRow(caseId, group, rowId, reason) }

    override fun setStatus(caseId: String, status: Status, reason: String?) =
        mapped { status(store.setStatus(caseId, caseStatus(status), reason)) }

    override fun history(caseId: String, field: String?) = mapped {
        store.history(caseId, field).map {
            HistoryItem(
                it.time, it.device, it.user, it.op, it.field, it.group, it.rowId, it.oldJson, it.newJson, it.reason,
                userName = it.userName, verified = it.verified,
            )
        }
    }

    override fun conflicts(caseId: String?) = mapped {
        store.conflicts(caseId).map { c ->
            ConflictItem(c.caseId, ref(c.path), c.candidates.map { CandidateItem(it.valueJson, it.device, it.user, it.time, it.reason) })
        }
    }

    override fun resolve(caseId: String, path: FieldRef, valueJson: String, reason: String) =
        mapped { store.resolve(caseId, path(path), valueJson, reason) }

    override fun serverUrl() = mapped { store.serverUrl() }

    override fun enroll(serverUrl: String, code: String) = mapped {
        val e = store.enroll(serverUrl, code)
        EnrolmentInfo(e.deviceId, e.siteId, e.serverUrl)
    }

    override fun enrollWithQr(payload: String) = mapped {
        val e = store.enrollWithQr(payload)
        EnrolmentInfo(e.deviceId, e.siteId, e.serverUrl)
    }

    override fun sync(onProgress: (SyncCounts) -> Unit, cancel: CancelSignal): SyncResult = mapped {
        SyncCancellation().use { cancellation ->
            // A cancel after the sync ended finds the object closed: nothing left to stop.
            cancel.onCancel { runCatching { cancellation.cancel() } }
            val listener = object : SyncProgressListener {
                override fun onProgress(progress: SyncProgress) =
                    onProgress(SyncCounts(progress.pushed.toInt(), progress.pulled.toInt(), progress.remaining.toInt()))
            }
            val s = store.sync(listener, cancellation)
            SyncResult(s.pushed.toInt(), s.pulled.toInt(), s.conflicts.toInt(), s.exchanges.toInt())
        }
    }

    override fun close() = store.close()
}
