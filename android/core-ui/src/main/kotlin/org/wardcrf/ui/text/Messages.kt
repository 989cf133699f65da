package org.wardcrf.ui.text

import org.wardcrf.ui.store.CrfError
import org.wardcrf.ui.store.Lang

/**
 * What the UI tells the user after an action: a stable [key] (tests and analytics use it) and
 * the text in the user's language. Form labels and validation messages come from the Rust
 * core in the same [Lang]; these are the app's own sentences about what happened and what to
 * do next, kept here (not in Android resources) so that the JVM tests see them and the iOS app
 * mirrors the same table (`ios/Sources/WardCRF/Messages.swift`).
 */
data class UiMessage(val key: MessageKey, val text: String, val isError: Boolean)

enum class MessageKey {
    SYNC_DONE, SYNC_CANCELLED, NETWORK, REVOKED, NOT_ENROLLED, REFUSED, UPDATE_REQUIRED,
    WRONG_KEY, KEY_UNAVAILABLE, STORAGE_DAMAGED, STORAGE, NOT_FOUND, CASE_DELETED,
    VALUE_REJECTED, NEEDS_CONFIRMATION, REASON_REQUIRED, NOT_COMPLETE, NOT_SIGNABLE,
    NO_CONFLICT, MISMATCH, INVALID_INPUT, ENROLLED, NOT_A_NUMBER, NOT_A_WHOLE_NUMBER,
    RESOLVED, SAVED, STATUS_CHANGED, UNEXPECTED,
    LOCKED, NOT_SIGNED_IN, ONLINE_SIGN_IN_REQUIRED, WRONG_CREDENTIAL, NO_PIN, PIN_LOCKED, BAD_PIN,
    ACCOUNT_DEACTIVATED, SIGNATURE_REQUIRED, SIGNED, PIN_MISMATCH, PIN_SET, PIN_REMOVED, LOCKED_OUT, NOT_SITE_STAFF,
    HIDDEN_VALUES_PENDING, EXPECTED_RANGE, CERTIFICATE_MISMATCH, BAD_ENROLMENT_CODE, UNIT_SLIP,
}

object Messages {
    private val en = mapOf(
        MessageKey.SYNC_DONE to "Synced: %1\$d sent, %2\$d received, %3\$d open conflicts.",
        MessageKey.SYNC_CANCELLED to "Sync cancelled. What was already exchanged is kept; sync again to finish.",
        MessageKey.NETWORK to "The repository could not be reached. Nothing is lost: try again when the network is back.",
        MessageKey.REVOKED to "This tablet has been revoked by the site administrator. Ask them for a new enrolment code.",
        MessageKey.NOT_ENROLLED to "This tablet is not enrolled yet. Enter the server address and the code from your site administrator.",
        MessageKey.REFUSED to "The repository refused the request. Check the address and the code with your site administrator.",
        MessageKey.UPDATE_REQUIRED to "The repository needs a newer version of this app. Please update it.",
        MessageKey.WRONG_KEY to "This tablet's key does not open the case store. Nothing was changed. Contact support.",
        MessageKey.KEY_UNAVAILABLE to "The secure key is not available right now. Unlock the tablet and try again.",
        MessageKey.STORAGE_DAMAGED to "The case store was damaged and has been set aside (not deleted). Contact support before entering new cases.",
        MessageKey.STORAGE to "The case store could not be written (storage full?). Try again.",
        MessageKey.NOT_FOUND to "This case or row no longer exists on this tablet.",
        MessageKey.CASE_DELETED to "This case is deleted. Restore it before editing.",
        MessageKey.VALUE_REJECTED to "This value is impossible and was not saved. Check the entry.",
        MessageKey.NEEDS_CONFIRMATION to "This value is outside the expected range. Give a reason to confirm it.",
        MessageKey.REASON_REQUIRED to "A reason is required for this change.",
        MessageKey.NOT_COMPLETE to "The case cannot be completed yet: %1\$d errors, %2\$d required fields empty, %3\$d unconfirmed warnings, %4\$d open conflicts.",
        MessageKey.NOT_SIGNABLE to "Only a complete case can be signed.",
        MessageKey.NO_CONFLICT to "This conflict has already been resolved.",
        MessageKey.MISMATCH to "Two tablets hold different cases under one id. Report this to your data manager.",
        MessageKey.INVALID_INPUT to "This entry could not be used. Check it and try again.",
        MessageKey.ENROLLED to "Enrolled with site %1\$s.",
        MessageKey.NOT_A_NUMBER to "Enter a number.",
        MessageKey.NOT_A_WHOLE_NUMBER to "Enter a whole number.",
        MessageKey.RESOLVED to "Conflict resolved. Other tablets will see the resolution at their next sync.",
        MessageKey.SAVED to "Saved.",
        MessageKey.STATUS_CHANGED to "Case status changed.",
        MessageKey.UNEXPECTED to "Something went wrong. Try again; if it persists, contact support.",
        MessageKey.LOCKED to "The tablet is locked. Sign in with your password or PIN.",
        MessageKey.NOT_SIGNED_IN to "Sign in to enter or change data.",
        MessageKey.ONLINE_SIGN_IN_REQUIRED to "%1\$s must sign in while connected to the repository (first sign-in on this tablet, a password reset, or too many wrong passwords).",
        MessageKey.WRONG_CREDENTIAL to "The staff ID, password or PIN is wrong. Nothing was changed.",
        MessageKey.NO_PIN to "No PIN is set on this tablet for %1\$s. Sign in with the password.",
        MessageKey.PIN_LOCKED to "Too many wrong PINs: the PIN of %1\$s no longer works. Sign in with the password.",
        MessageKey.BAD_PIN to "A PIN is 4 to 12 digits.",
        MessageKey.ACCOUNT_DEACTIVATED to "The account of %1\$s is deactivated and cannot sign in.",
        MessageKey.SIGNATURE_REQUIRED to "Signing a case needs your password and the meaning of the signature.",
        MessageKey.SIGNED to "Case signed.",
        MessageKey.PIN_MISMATCH to "The two PINs differ. Type the new PIN twice.",
        MessageKey.PIN_SET to "PIN set. From now on you can unlock this tablet with it; your password still works.",
        MessageKey.PIN_REMOVED to "PIN removed. Sign in on this tablet with your password.",
        MessageKey.LOCKED_OUT to "Too many wrong passwords: the account is locked for a while. Try again later or ask your site administrator to lift the lock.",
        MessageKey.NOT_SITE_STAFF to "This account is not a clinician or site nurse of this tablet's site and cannot sign in here.",
        MessageKey.HIDDEN_VALUES_PENDING to "%1\$d fields that no longer apply given the other answers still hold values: clear them (with a reason) or keep them, then complete again.",
        MessageKey.EXPECTED_RANGE to "Outside the expected range (%1\$s–%2\$s%3\$s).",
        MessageKey.UNIT_SLIP to "This number looks typed in another unit. Check the unit, or give a reason to confirm the value.",
        MessageKey.CERTIFICATE_MISMATCH to "The repository did not present the certificate the enrolment QR code names: it may not be your hospital's repository. Nothing was sent. Ask your site administrator before trying again.",
        MessageKey.BAD_ENROLMENT_CODE to "This is not a WardCRF enrolment QR code. Scan the code the repository's console shows for this tablet, or type the address and the code.",
    )

    private val ja = mapOf(
        MessageKey.SYNC_DONE to "同期しました：送信 %1\$d 件、受信 %2\$d 件、未解決の競合 %3\$d 件。",
        MessageKey.SYNC_CANCELLED to "同期を中止しました。送受信済みのデータは保持されています。もう一度同期して完了してください。",
        MessageKey.NETWORK to "リポジトリに接続できません。データは失われていません。ネットワーク回復後に再試行してください。",
        MessageKey.REVOKED to "この端末は施設管理者により無効化されました。新しい登録コードを管理者に依頼してください。",
        MessageKey.NOT_ENROLLED to "この端末はまだ登録されていません。サーバーのアドレスと施設管理者から受け取ったコードを入力してください。",
        MessageKey.REFUSED to "リポジトリが要求を拒否しました。アドレスとコードを施設管理者に確認してください。",
        MessageKey.UPDATE_REQUIRED to "リポジトリはこのアプリの新しいバージョンを必要としています。アプリを更新してください。",
        MessageKey.WRONG_KEY to "この端末の鍵では症例データを開けません。何も変更されていません。サポートに連絡してください。",
        MessageKey.KEY_UNAVAILABLE to "安全な鍵を現在利用できません。端末のロックを解除して再試行してください。",
        MessageKey.STORAGE_DAMAGED to "症例データベースが破損していたため退避しました（削除はしていません）。新しい症例を入力する前にサポートに連絡してください。",
        MessageKey.STORAGE to "症例データを書き込めませんでした（空き容量不足の可能性）。再試行してください。",
        MessageKey.NOT_FOUND to "この症例または行はこの端末にもう存在しません。",
        MessageKey.CASE_DELETED to "この症例は削除されています。編集する前に復元してください。",
        MessageKey.VALUE_REJECTED to "この値はありえない値のため保存されませんでした。入力を確認してください。",
        MessageKey.NEEDS_CONFIRMATION to "この値は想定範囲外です。確認のため理由を入力してください。",
        MessageKey.REASON_REQUIRED to "この変更には理由の入力が必要です。",
        MessageKey.NOT_COMPLETE to "まだ完了にできません：エラー %1\$d 件、未入力の必須項目 %2\$d 件、未確認の警告 %3\$d 件、未解決の競合 %4\$d 件。",
        MessageKey.NOT_SIGNABLE to "署名できるのは完了した症例のみです。",
        MessageKey.NO_CONFLICT to "この競合はすでに解決されています。",
        MessageKey.MISMATCH to "2台の端末が同じIDで異なる症例を保持しています。データマネージャーに報告してください。",
        MessageKey.INVALID_INPUT to "この入力は使用できません。確認して再試行してください。",
        MessageKey.ENROLLED to "施設 %1\$s に登録しました。",
        MessageKey.NOT_A_NUMBER to "数値を入力してください。",
        MessageKey.NOT_A_WHOLE_NUMBER to "整数を入力してください。",
        MessageKey.RESOLVED to "競合を解決しました。他の端末には次回の同期で反映されます。",
        MessageKey.SAVED to "保存しました。",
        MessageKey.STATUS_CHANGED to "症例のステータスを変更しました。",
        MessageKey.UNEXPECTED to "問題が発生しました。再試行し、解決しない場合はサポートに連絡してください。",
        MessageKey.LOCKED to "端末はロックされています。パスワードまたはPINでログインしてください。",
        MessageKey.NOT_SIGNED_IN to "データの入力・変更にはログインが必要です。",
        MessageKey.ONLINE_SIGN_IN_REQUIRED to "%1\$s はリポジトリに接続した状態でログインする必要があります（この端末での初回ログイン、パスワードのリセット、またはパスワードの誤入力が多すぎるため）。",
        MessageKey.WRONG_CREDENTIAL to "職員ID、パスワードまたはPINが正しくありません。何も変更されていません。",
        MessageKey.NO_PIN to "%1\$s のPINはこの端末に設定されていません。パスワードでログインしてください。",
        MessageKey.PIN_LOCKED to "PINの誤入力が多すぎるため、%1\$s のPINは無効になりました。パスワードでログインしてください。",
        MessageKey.BAD_PIN to "PINは4～12桁の数字です。",
        MessageKey.ACCOUNT_DEACTIVATED to "%1\$s のアカウントは無効化されているためログインできません。",
        MessageKey.SIGNATURE_REQUIRED to "症例への署名には、パスワードと署名の意味の選択が必要です。",
        MessageKey.SIGNED to "症例に署名しました。",
        MessageKey.PIN_MISMATCH to "2つのPINが一致しません。新しいPINを2回入力してください。",
        MessageKey.PIN_SET to "PINを設定しました。今後はこのPINで端末のロックを解除できます（パスワードも引き続き使えます）。",
        MessageKey.PIN_REMOVED to "PINを削除しました。この端末ではパスワードでログインしてください。",
        MessageKey.LOCKED_OUT to "パスワードの誤入力が多すぎるため、アカウントは一時的にロックされています。しばらくしてから再試行するか、施設管理者にロックの解除を依頼してください。",
        MessageKey.NOT_SITE_STAFF to "このアカウントはこの端末の施設の医師・看護師ではないため、ここではログインできません。",
        MessageKey.HIDDEN_VALUES_PENDING to "他の回答により該当しなくなった%1\$d項目に値が残っています。理由を入力して消去するか、残すかを選んでから、もう一度完了してください。",
        MessageKey.EXPECTED_RANGE to "想定範囲（%1\$s～%2\$s%3\$s）外の値です。",
        MessageKey.UNIT_SLIP to "別の単位で入力された数値の可能性があります。単位を確認するか、正しい場合は理由を入力して確定してください。",
        MessageKey.CERTIFICATE_MISMATCH to "リポジトリの証明書が登録用QRコードに記載されたものと一致しません。病院のリポジトリではない可能性があります。何も送信していません。再試行する前に施設管理者に確認してください。",
        MessageKey.BAD_ENROLMENT_CODE to "これはWardCRFの登録用QRコードではありません。リポジトリの管理画面がこの端末用に表示するコードを読み取るか、アドレスとコードを入力してください。",
    )

    private val de = mapOf(
        MessageKey.SYNC_DONE to "Synchronisiert: %1\$d gesendet, %2\$d empfangen, %3\$d offene Konflikte.",
        MessageKey.SYNC_CANCELLED to "Synchronisation abgebrochen. Bereits Übertragenes bleibt erhalten; erneut synchronisieren, um abzuschließen.",
        MessageKey.NETWORK to "Das Repositorium ist nicht erreichbar. Es geht nichts verloren: später erneut versuchen.",
        MessageKey.REVOKED to "Dieses Tablet wurde von der Standortadministration gesperrt. Bitte einen neuen Registrierungscode anfordern.",
        MessageKey.NOT_ENROLLED to "Dieses Tablet ist noch nicht registriert. Serveradresse und den Code der Standortadministration eingeben.",
        MessageKey.REFUSED to "Das Repositorium hat die Anfrage abgelehnt. Adresse und Code mit der Standortadministration prüfen.",
        MessageKey.UPDATE_REQUIRED to "Das Repositorium benötigt eine neuere Version dieser App. Bitte aktualisieren.",
        MessageKey.WRONG_KEY to "Der Schlüssel dieses Tablets öffnet den Fallspeicher nicht. Es wurde nichts geändert. Bitte den Support kontaktieren.",
        MessageKey.KEY_UNAVAILABLE to "Der sichere Schlüssel ist gerade nicht verfügbar. Tablet entsperren und erneut versuchen.",
        MessageKey.STORAGE_DAMAGED to "Der Fallspeicher war beschädigt und wurde beiseitegelegt (nicht gelöscht). Vor neuen Eingaben bitte den Support kontaktieren.",
        MessageKey.STORAGE to "Der Fallspeicher konnte nicht geschrieben werden (Speicher voll?). Erneut versuchen.",
        MessageKey.NOT_FOUND to "Dieser Fall oder diese Zeile existiert auf diesem Tablet nicht mehr.",
        MessageKey.CASE_DELETED to "Dieser Fall ist gelöscht. Vor dem Bearbeiten wiederherstellen.",
        MessageKey.VALUE_REJECTED to "Dieser Wert ist unmöglich und wurde nicht gespeichert. Eingabe prüfen.",
        MessageKey.NEEDS_CONFIRMATION to "Dieser Wert liegt außerhalb des erwarteten Bereichs. Zur Bestätigung einen Grund angeben.",
        MessageKey.REASON_REQUIRED to "Für diese Änderung ist ein Grund erforderlich.",
        MessageKey.NOT_COMPLETE to "Der Fall kann noch nicht abgeschlossen werden: %1\$d Fehler, %2\$d leere Pflichtfelder, %3\$d unbestätigte Warnungen, %4\$d offene Konflikte.",
        MessageKey.NOT_SIGNABLE to "Nur ein vollständiger Fall kann signiert werden.",
        MessageKey.NO_CONFLICT to "Dieser Konflikt wurde bereits gelöst.",
        MessageKey.MISMATCH to "Zwei Tablets führen unter einer ID verschiedene Fälle. Bitte dem Datenmanagement melden.",
        MessageKey.INVALID_INPUT to "Diese Eingabe ist nicht verwendbar. Prüfen und erneut versuchen.",
        MessageKey.ENROLLED to "Beim Standort %1\$s registriert.",
        MessageKey.NOT_A_NUMBER to "Bitte eine Zahl eingeben.",
        MessageKey.NOT_A_WHOLE_NUMBER to "Bitte eine ganze Zahl eingeben.",
        MessageKey.RESOLVED to "Konflikt gelöst. Andere Tablets übernehmen die Lösung bei der nächsten Synchronisation.",
        MessageKey.SAVED to "Gespeichert.",
        MessageKey.STATUS_CHANGED to "Fallstatus geändert.",
        MessageKey.UNEXPECTED to "Etwas ist schiefgegangen. Erneut versuchen; bleibt der Fehler, den Support kontaktieren.",
        MessageKey.LOCKED to "Das Tablet ist gesperrt. Mit Passwort oder PIN anmelden.",
        MessageKey.NOT_SIGNED_IN to "Zum Erfassen oder Ändern von Daten bitte anmelden.",
        MessageKey.ONLINE_SIGN_IN_REQUIRED to "%1\$s muss sich mit Verbindung zum Repositorium anmelden (erste Anmeldung auf diesem Tablet, Passwort zurückgesetzt oder zu viele falsche Passwörter).",
        MessageKey.WRONG_CREDENTIAL to "Kennung, Passwort oder PIN ist falsch. Es wurde nichts geändert.",
        MessageKey.NO_PIN to "Für %1\$s ist auf diesem Tablet keine PIN gesetzt. Mit dem Passwort anmelden.",
        MessageKey.PIN_LOCKED to "Zu viele falsche PINs: Die PIN von %1\$s gilt nicht mehr. Mit dem Passwort anmelden.",
        MessageKey.BAD_PIN to "Eine PIN hat 4 bis 12 Ziffern.",
        MessageKey.ACCOUNT_DEACTIVATED to "Das Konto von %1\$s ist deaktiviert und kann sich nicht anmelden.",
        MessageKey.SIGNATURE_REQUIRED to "Zum Signieren eines Falls sind Ihr Passwort und die Bedeutung der Signatur nötig.",
        MessageKey.SIGNED to "Fall signiert.",
        MessageKey.PIN_MISMATCH to "Die beiden PINs stimmen nicht überein. Die neue PIN zweimal eingeben.",
        MessageKey.PIN_SET to "PIN gesetzt. Ab jetzt können Sie dieses Tablet damit entsperren; Ihr Passwort gilt weiterhin.",
        MessageKey.PIN_REMOVED to "PIN entfernt. Auf diesem Tablet mit dem Passwort anmelden.",
        MessageKey.LOCKED_OUT to "Zu viele falsche Passwörter: Das Konto ist vorübergehend gesperrt. Später erneut versuchen oder die Standortadministration bitten, die Sperre aufzuheben.",
        MessageKey.NOT_SITE_STAFF to "Dieses Konto gehört nicht zum ärztlichen oder Pflegepersonal des Standorts dieses Tablets und kann sich hier nicht anmelden.",
        MessageKey.HIDDEN_VALUES_PENDING to "%1\$d Felder, die nach den anderen Antworten nicht mehr zutreffen, enthalten noch Werte: mit Begründung löschen oder behalten, dann erneut abschließen.",
        MessageKey.EXPECTED_RANGE to "Außerhalb des erwarteten Bereichs (%1\$s–%2\$s%3\$s).",
        MessageKey.UNIT_SLIP to "Diese Zahl sieht nach einer anderen Einheit aus. Bitte die Einheit prüfen oder den Wert mit Begründung bestätigen.",
        MessageKey.CERTIFICATE_MISMATCH to "Das Repositorium hat nicht das Zertifikat vorgelegt, das der Registrierungs-QR-Code nennt: Es ist womöglich nicht das Repositorium Ihres Krankenhauses. Es wurde nichts gesendet. Vor einem neuen Versuch die Standortadministration fragen.",
        MessageKey.BAD_ENROLMENT_CODE to "Dies ist kein WardCRF-Registrierungs-QR-Code. Den Code scannen, den die Konsole des Repositoriums für dieses Tablet zeigt, oder Adresse und Code eingeben.",
    )

    private fun table(lang: Lang) = when (lang) {
        Lang.EN -> en
        Lang.JA -> ja
        Lang.DE -> de
    }

    fun text(key: MessageKey, lang: Lang, vararg args: Any): String =
        (table(lang)[key] ?: en.getValue(key)).format(*args)

    fun info(key: MessageKey, lang: Lang, vararg args: Any) = UiMessage(key, text(key, lang, *args), isError = false)
    fun error(key: MessageKey, lang: Lang, vararg args: Any) = UiMessage(key, text(key, lang, *args), isError = true)

    /** The message for a failure, in [lang]: what happened and what to do. */
    fun forError(e: Throwable, lang: Lang): UiMessage = when (e) {
        is CrfError -> forCrfError(e, lang)
        else -> error(MessageKey.UNEXPECTED, lang)
    }

    /** Every [CrfError] variant has its message: a new one does not compile until it has. */
    private fun forCrfError(e: CrfError, lang: Lang): UiMessage = when (e) {
        is CrfError.Cancelled -> info(MessageKey.SYNC_CANCELLED, lang)
        is CrfError.Network -> error(MessageKey.NETWORK, lang)
        is CrfError.Revoked -> error(MessageKey.REVOKED, lang)
        is CrfError.NotEnrolled -> error(MessageKey.NOT_ENROLLED, lang)
        is CrfError.Refused -> error(MessageKey.REFUSED, lang)
        is CrfError.CertificateMismatch -> error(MessageKey.CERTIFICATE_MISMATCH, lang)
        is CrfError.BadEnrolmentCode -> error(MessageKey.BAD_ENROLMENT_CODE, lang)
        is CrfError.UpdateRequired -> error(MessageKey.UPDATE_REQUIRED, lang)
        is CrfError.WrongKey -> error(MessageKey.WRONG_KEY, lang)
        is CrfError.KeyUnavailable -> error(MessageKey.KEY_UNAVAILABLE, lang)
        is CrfError.StorageDamaged -> error(MessageKey.STORAGE_DAMAGED, lang)
        is CrfError.Storage, is CrfError.NoStore, is CrfError.StoreExists -> error(MessageKey.STORAGE, lang)
        is CrfError.NotFound -> error(MessageKey.NOT_FOUND, lang)
        is CrfError.CaseDeleted -> error(MessageKey.CASE_DELETED, lang)
        is CrfError.Rejected -> error(MessageKey.VALUE_REJECTED, lang)
        is CrfError.NeedsConfirmation -> error(MessageKey.NEEDS_CONFIRMATION, lang)
        is CrfError.ReasonRequired -> error(MessageKey.REASON_REQUIRED, lang)
        is CrfError.NotComplete -> error(MessageKey.NOT_COMPLETE, lang, e.errors, e.missing, e.unconfirmed, e.conflicts)
        is CrfError.NotSignable -> error(MessageKey.NOT_SIGNABLE, lang)
        is CrfError.NoConflict -> error(MessageKey.NO_CONFLICT, lang)
        is CrfError.Mismatch -> error(MessageKey.MISMATCH, lang)
        is CrfError.InvalidInput -> error(MessageKey.INVALID_INPUT, lang)
        is CrfError.Locked -> error(MessageKey.LOCKED, lang)
        is CrfError.NotSignedIn -> error(MessageKey.NOT_SIGNED_IN, lang)
        is CrfError.OnlineSignInRequired -> error(MessageKey.ONLINE_SIGN_IN_REQUIRED, lang, e.user)
        is CrfError.WrongCredential -> error(MessageKey.WRONG_CREDENTIAL, lang)
        is CrfError.NoPin -> error(MessageKey.NO_PIN, lang, e.user)
        is CrfError.PinLocked -> error(MessageKey.PIN_LOCKED, lang, e.user)
        is CrfError.BadPin -> error(MessageKey.BAD_PIN, lang)
        is CrfError.AccountDeactivated -> error(MessageKey.ACCOUNT_DEACTIVATED, lang, e.user)
        is CrfError.SignatureRequired, is CrfError.UnknownMeaning -> error(MessageKey.SIGNATURE_REQUIRED, lang)
        is CrfError.RosterRefused -> error(MessageKey.REFUSED, lang)
        is CrfError.LockedOut -> error(MessageKey.LOCKED_OUT, lang)
        is CrfError.NotSiteStaff -> error(MessageKey.NOT_SITE_STAFF, lang)
        is CrfError.HiddenValuesPending -> error(MessageKey.HIDDEN_VALUES_PENDING, lang, e.count)
        // The app offers no recovery with the repository's unlock key: nothing to tell but support.
        is CrfError.BadUnlockKey, is CrfError.NoUnlockKey -> error(MessageKey.UNEXPECTED, lang)
    }
}
