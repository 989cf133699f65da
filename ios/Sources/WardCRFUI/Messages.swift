import Foundation
import WardCRF

/// What the UI tells the user after an action: a stable key and the text in the user's
/// language. The same table as Android's `:core-ui` (`org.wardcrf.ui.text.Messages`); form
/// labels and validation messages come from the Rust core in the same `Language`.
public struct UiMessage: Equatable, Sendable {
    public let key: MessageKey
    public let text: String
    public let isError: Bool
}

public enum MessageKey: String, CaseIterable, Sendable {
    case syncDone
    case syncCancelled
    case network
    case revoked
    case notEnrolled
    case refused
    case updateRequired
    case wrongKey
    case keyUnavailable
    case storageDamaged
    case storage
    case notFound
    case caseDeleted
    case valueRejected
    case needsConfirmation
    case reasonRequired
    case notComplete
    case notSignable
    case noConflict
    case mismatch
    case invalidInput
    case enrolled
    case notANumber
    case notAWholeNumber
    case resolved
    case saved
    case statusChanged
    case unexpected
    case locked
    case notSignedIn
    case onlineSignInRequired
    case wrongCredential
    case noPin
    case pinLocked
    case badPin
    case accountDeactivated
    case signatureRequired
    case signed
    case pinMismatch
    case pinSet
    case pinRemoved
    case lockedOut
    case notSiteStaff
    case hiddenValuesPending
    case hiddenCleared
    case certificateMismatch
    case badEnrolmentCode
    case cameraUnavailable
}

public enum Messages {
    private static let en: [MessageKey: String] = [
        .syncDone: "Synced: %1$d sent, %2$d received, %3$d open conflicts.",
        .syncCancelled: "Sync cancelled. What was already exchanged is kept; sync again to finish.",
        .network: "The repository could not be reached. Nothing is lost: try again when the network is back.",
        .revoked: "This tablet has been revoked by the site administrator. Ask them for a new enrolment code.",
        .notEnrolled: "This tablet is not enrolled yet. Enter the server address and the code from your site administrator.",
        .refused: "The repository refused the request. Check the address and the code with your site administrator.",
        .updateRequired: "The repository needs a newer version of this app. Please update it.",
        .wrongKey: "This tablet's key does not open the case store. Nothing was changed. Contact support.",
        .keyUnavailable: "The secure key is not available right now. Unlock the tablet and try again.",
        .storageDamaged: "The case store was damaged and has been set aside (not deleted). Contact support before entering new cases.",
        .storage: "The case store could not be written (storage full?). Try again.",
        .notFound: "This case or row no longer exists on this tablet.",
        .caseDeleted: "This case is deleted. Restore it before editing.",
        .valueRejected: "This value is impossible and was not saved. Check the entry.",
        .needsConfirmation: "This value is outside the expected range. Give a reason to confirm it.",
        .reasonRequired: "A reason is required for this change.",
        .notComplete: "The case cannot be completed yet: %1$d errors, %2$d required fields empty, %3$d unconfirmed warnings, %4$d open conflicts.",
        .notSignable: "Only a complete case can be signed.",
        .noConflict: "This conflict has already been resolved.",
        .mismatch: "Two tablets hold different cases under one id. Report this to your data manager.",
        .invalidInput: "This entry could not be used. Check it and try again.",
        .enrolled: "Enrolled with site %1$@.",
        .notANumber: "Enter a number.",
        .notAWholeNumber: "Enter a whole number.",
        .resolved: "Conflict resolved. Other tablets will see the resolution at their next sync.",
        .saved: "Saved.",
        .statusChanged: "Case status changed.",
        .unexpected: "Something went wrong. Try again; if it persists, contact support.",
        .locked: "The tablet is locked. Sign in with your password or PIN.",
        .notSignedIn: "Sign in to enter or change data.",
        .onlineSignInRequired: "%1$@ must sign in while connected to the repository (first sign-in on this tablet, a password reset, or too many wrong passwords).",
        .wrongCredential: "The staff ID, password or PIN is wrong. Nothing was changed.",
        .noPin: "No PIN is set on this tablet for %1$@. Sign in with the password.",
        .pinLocked: "Too many wrong PINs: the PIN of %1$@ no longer works. Sign in with the password.",
        .badPin: "A PIN is 4 to 12 digits.",
        .accountDeactivated: "The account of %1$@ is deactivated and cannot sign in.",
        .signatureRequired: "Signing a case needs your password and the meaning of the signature.",
        .signed: "Case signed.",
        .pinMismatch: "The two PINs differ. Type the new PIN twice.",
        .pinSet: "PIN set. From now on you can unlock this tablet with it; your password still works.",
        .pinRemoved: "PIN removed. Sign in on this tablet with your password.",
        .lockedOut: "Too many wrong passwords: the account is locked for a while. Try again later or ask your site administrator to lift the lock.",
        .notSiteStaff: "This account is not a clinician or site nurse of this tablet's site and cannot sign in here.",
        .hiddenValuesPending: "%1$d field(s) that do not apply given the other answers still hold values. Keep them, or clear them with a reason.",
        .hiddenCleared: "The values in fields that do not apply were cleared. The history keeps them with your reason.",
        .certificateMismatch: "The repository's certificate is not the one the enrolment code names. Nothing was stored. Check the network with your site administrator.",
        .badEnrolmentCode: "This is not a WardCRF enrolment code. Scan the code shown by your site's console, or type the address and the code.",
        .cameraUnavailable: "The camera is not available. Type the address and the code instead.",
    ]

    private static let ja: [MessageKey: String] = [
        .syncDone: "同期しました：送信 %1$d 件、受信 %2$d 件、未解決の競合 %3$d 件。",
        .syncCancelled: "同期を中止しました。送受信済みのデータは保持されています。もう一度同期して完了してください。",
        .network: "リポジトリに接続できません。データは失われていません。ネットワーク回復後に再試行してください。",
        .revoked: "この端末は施設管理者により無効化されました。新しい登録コードを管理者に依頼してください。",
        .notEnrolled: "この端末はまだ登録されていません。サーバーのアドレスと施設管理者から受け取ったコードを入力してください。",
        .refused: "リポジトリが要求を拒否しました。アドレスとコードを施設管理者に確認してください。",
        .updateRequired: "リポジトリはこのアプリの新しいバージョンを必要としています。アプリを更新してください。",
        .wrongKey: "この端末の鍵では症例データを開けません。何も変更されていません。サポートに連絡してください。",
        .keyUnavailable: "安全な鍵を現在利用できません。端末のロックを解除して再試行してください。",
        .storageDamaged: "症例データベースが破損していたため退避しました（削除はしていません）。新しい症例を入力する前にサポートに連絡してください。",
        .storage: "症例データを書き込めませんでした（空き容量不足の可能性）。再試行してください。",
        .notFound: "この症例または行はこの端末にもう存在しません。",
        .caseDeleted: "この症例は削除されています。編集する前に復元してください。",
        .valueRejected: "この値はありえない値のため保存されませんでした。入力を確認してください。",
        .needsConfirmation: "この値は想定範囲外です。確認のため理由を入力してください。",
        .reasonRequired: "この変更には理由の入力が必要です。",
        .notComplete: "まだ完了にできません：エラー %1$d 件、未入力の必須項目 %2$d 件、未確認の警告 %3$d 件、未解決の競合 %4$d 件。",
        .notSignable: "署名できるのは完了した症例のみです。",
        .noConflict: "この競合はすでに解決されています。",
        .mismatch: "2台の端末が同じIDで異なる症例を保持しています。データマネージャーに報告してください。",
        .invalidInput: "この入力は使用できません。確認して再試行してください。",
        .enrolled: "施設 %1$@ に登録しました。",
        .notANumber: "数値を入力してください。",
        .notAWholeNumber: "整数を入力してください。",
        .resolved: "競合を解決しました。他の端末には次回の同期で反映されます。",
        .saved: "保存しました。",
        .statusChanged: "症例のステータスを変更しました。",
        .unexpected: "問題が発生しました。再試行し、解決しない場合はサポートに連絡してください。",
        .locked: "端末はロックされています。パスワードまたはPINでログインしてください。",
        .notSignedIn: "データの入力・変更にはログインが必要です。",
        .onlineSignInRequired: "%1$@ はリポジトリに接続した状態でログインする必要があります（この端末での初回ログイン、パスワードのリセット、またはパスワードの誤入力が多すぎるため）。",
        .wrongCredential: "職員ID、パスワードまたはPINが正しくありません。何も変更されていません。",
        .noPin: "%1$@ のPINはこの端末に設定されていません。パスワードでログインしてください。",
        .pinLocked: "PINの誤入力が多すぎるため、%1$@ のPINは無効になりました。パスワードでログインしてください。",
        .badPin: "PINは4～12桁の数字です。",
        .accountDeactivated: "%1$@ のアカウントは無効化されているためログインできません。",
        .signatureRequired: "症例への署名には、パスワードと署名の意味の選択が必要です。",
        .signed: "症例に署名しました。",
        .pinMismatch: "2つのPINが一致しません。新しいPINを2回入力してください。",
        .pinSet: "PINを設定しました。今後はこのPINで端末のロックを解除できます（パスワードも引き続き使えます）。",
        .pinRemoved: "PINを削除しました。この端末ではパスワードでログインしてください。",
        .lockedOut: "パスワードの誤入力が多すぎるため、アカウントは一時的にロックされています。しばらくしてから再試行するか、施設管理者にロックの解除を依頼してください。",
        .notSiteStaff: "このアカウントはこの端末の施設の医師・看護師ではないため、ここではログインできません。",
        .hiddenValuesPending: "他の回答により該当しなくなった %1$d 項目に値が残っています。残すか、理由を入力して消去してください。",
        .hiddenCleared: "該当しない項目の値を消去しました。履歴には理由とともに残ります。",
        .certificateMismatch: "リポジトリの証明書が登録コードの指定と一致しません。何も保存していません。施設の管理者にネットワークを確認してください。",
        .badEnrolmentCode: "WardCRF の登録コードではありません。施設のコンソールに表示されたコードを読み取るか、アドレスとコードを入力してください。",
        .cameraUnavailable: "カメラを使用できません。アドレスとコードを入力してください。",
    ]

    private static let de: [MessageKey: String] = [
        .syncDone: "Synchronisiert: %1$d gesendet, %2$d empfangen, %3$d offene Konflikte.",
        .syncCancelled: "Synchronisation abgebrochen. Bereits Übertragenes bleibt erhalten; erneut synchronisieren, um abzuschließen.",
        .network: "Das Repositorium ist nicht erreichbar. Es geht nichts verloren: später erneut versuchen.",
        .revoked: "Dieses Tablet wurde von der Standortadministration gesperrt. Bitte einen neuen Registrierungscode anfordern.",
        .notEnrolled: "Dieses Tablet ist noch nicht registriert. Serveradresse und den Code der Standortadministration eingeben.",
        .refused: "Das Repositorium hat die Anfrage abgelehnt. Adresse und Code mit der Standortadministration prüfen.",
        .updateRequired: "Das Repositorium benötigt eine neuere Version dieser App. Bitte aktualisieren.",
        .wrongKey: "Der Schlüssel dieses Tablets öffnet den Fallspeicher nicht. Es wurde nichts geändert. Bitte den Support kontaktieren.",
        .keyUnavailable: "Der sichere Schlüssel ist gerade nicht verfügbar. Tablet entsperren und erneut versuchen.",
        .storageDamaged: "Der Fallspeicher war beschädigt und wurde beiseitegelegt (nicht gelöscht). Vor neuen Eingaben bitte den Support kontaktieren.",
        .storage: "Der Fallspeicher konnte nicht geschrieben werden (Speicher voll?). Erneut versuchen.",
        .notFound: "Dieser Fall oder diese Zeile existiert auf diesem Tablet nicht mehr.",
        .caseDeleted: "Dieser Fall ist gelöscht. Vor dem Bearbeiten wiederherstellen.",
        .valueRejected: "Dieser Wert ist unmöglich und wurde nicht gespeichert. Eingabe prüfen.",
        .needsConfirmation: "Dieser Wert liegt außerhalb des erwarteten Bereichs. Zur Bestätigung einen Grund angeben.",
        .reasonRequired: "Für diese Änderung ist ein Grund erforderlich.",
        .notComplete: "Der Fall kann noch nicht abgeschlossen werden: %1$d Fehler, %2$d leere Pflichtfelder, %3$d unbestätigte Warnungen, %4$d offene Konflikte.",
        .notSignable: "Nur ein vollständiger Fall kann signiert werden.",
        .noConflict: "Dieser Konflikt wurde bereits gelöst.",
        .mismatch: "Zwei Tablets führen unter einer ID verschiedene Fälle. Bitte dem Datenmanagement melden.",
        .invalidInput: "Diese Eingabe ist nicht verwendbar. Prüfen und erneut versuchen.",
        .enrolled: "Beim Standort %1$@ registriert.",
        .notANumber: "Bitte eine Zahl eingeben.",
        .notAWholeNumber: "Bitte eine ganze Zahl eingeben.",
        .resolved: "Konflikt gelöst. Andere Tablets übernehmen die Lösung bei der nächsten Synchronisation.",
        .saved: "Gespeichert.",
        .statusChanged: "Fallstatus geändert.",
        .unexpected: "Etwas ist schiefgegangen. Erneut versuchen; bleibt der Fehler, den Support kontaktieren.",
        .locked: "Das Tablet ist gesperrt. Mit Passwort oder PIN anmelden.",
        .notSignedIn: "Zum Erfassen oder Ändern von Daten bitte anmelden.",
        .onlineSignInRequired: "%1$@ muss sich mit Verbindung zum Repositorium anmelden (erste Anmeldung auf diesem Tablet, Passwort zurückgesetzt oder zu viele falsche Passwörter).",
        .wrongCredential: "Kennung, Passwort oder PIN ist falsch. Es wurde nichts geändert.",
        .noPin: "Für %1$@ ist auf diesem Tablet keine PIN gesetzt. Mit dem Passwort anmelden.",
        .pinLocked: "Zu viele falsche PINs: Die PIN von %1$@ gilt nicht mehr. Mit dem Passwort anmelden.",
        .badPin: "Eine PIN hat 4 bis 12 Ziffern.",
        .accountDeactivated: "Das Konto von %1$@ ist deaktiviert und kann sich nicht anmelden.",
        .signatureRequired: "Zum Signieren eines Falls sind Ihr Passwort und die Bedeutung der Signatur nötig.",
        .signed: "Fall signiert.",
        .pinMismatch: "Die beiden PINs stimmen nicht überein. Die neue PIN zweimal eingeben.",
        .pinSet: "PIN gesetzt. Ab jetzt können Sie dieses Tablet damit entsperren; Ihr Passwort gilt weiterhin.",
        .pinRemoved: "PIN entfernt. Auf diesem Tablet mit dem Passwort anmelden.",
        .lockedOut: "Zu viele falsche Passwörter: Das Konto ist vorübergehend gesperrt. Später erneut versuchen oder die Standortadministration bitten, die Sperre aufzuheben.",
        .notSiteStaff: "Dieses Konto gehört nicht zum ärztlichen oder Pflegepersonal des Standorts dieses Tablets und kann sich hier nicht anmelden.",
        .hiddenValuesPending: "%1$d Feld(er), die nach den übrigen Antworten nicht zutreffen, enthalten noch Werte. Behalten Sie sie oder löschen Sie sie mit einer Begründung.",
        .hiddenCleared: "Die Werte in nicht zutreffenden Feldern wurden gelöscht. Der Verlauf behält sie mit Ihrer Begründung.",
        .certificateMismatch: "Das Zertifikat des Repositorys ist nicht das im Registrierungscode genannte. Es wurde nichts gespeichert. Prüfen Sie das Netzwerk mit Ihrer Standortverwaltung.",
        .badEnrolmentCode: "Dies ist kein WardCRF-Registrierungscode. Scannen Sie den Code aus der Konsole Ihres Standorts oder geben Sie Adresse und Code ein.",
        .cameraUnavailable: "Die Kamera ist nicht verfügbar. Geben Sie stattdessen Adresse und Code ein.",
    ]

    private static func table(_ lang: Language) -> [MessageKey: String] {
        switch lang {
        case .en: return en
        case .ja: return ja
        case .de: return de
        }
    }

    public static func text(_ key: MessageKey, _ lang: Language, _ args: CVarArg...) -> String {
        let format = table(lang)[key] ?? en[key] ?? key.rawValue
        return String(format: format, arguments: args)
    }

    public static func info(_ key: MessageKey, _ lang: Language, _ args: CVarArg...) -> UiMessage {
        UiMessage(key: key, text: String(format: table(lang)[key] ?? key.rawValue, arguments: args), isError: false)
    }

    public static func error(_ key: MessageKey, _ lang: Language, _ args: CVarArg...) -> UiMessage {
        UiMessage(key: key, text: String(format: table(lang)[key] ?? key.rawValue, arguments: args), isError: true)
    }

    /// The message for a failure, in `lang`: what happened and what to do.
    public static func forError(_ error: Error, _ lang: Language) -> UiMessage {
        guard let e = error as? WardcrfError else { return self.error(.unexpected, lang) }
        switch e {
        case .Cancelled: return info(.syncCancelled, lang)
        case .Network: return self.error(.network, lang)
        case .Revoked: return self.error(.revoked, lang)
        case .NotEnrolled: return self.error(.notEnrolled, lang)
        case .Refused: return self.error(.refused, lang)
        case .UpdateRequired: return self.error(.updateRequired, lang)
        case .WrongKey: return self.error(.wrongKey, lang)
        case .KeyUnavailable: return self.error(.keyUnavailable, lang)
        case .StorageDamaged: return self.error(.storageDamaged, lang)
        case .Storage, .NoStore, .StoreExists: return self.error(.storage, lang)
        case .NotFound: return self.error(.notFound, lang)
        case .CaseDeleted: return self.error(.caseDeleted, lang)
        case .ValidationRejected: return self.error(.valueRejected, lang)
        case .NeedsConfirmation: return self.error(.needsConfirmation, lang)
        case .ReasonRequired: return self.error(.reasonRequired, lang)
        case let .NotComplete(errors, missing, unconfirmed, conflicts):
            return self.error(.notComplete, lang, Int(errors), Int(missing), Int(unconfirmed), Int(conflicts))
        case .NotSignable: return self.error(.notSignable, lang)
        case .NoConflict: return self.error(.noConflict, lang)
        case .Mismatch: return self.error(.mismatch, lang)
        case .InvalidInput: return self.error(.invalidInput, lang)
        case .Locked: return self.error(.locked, lang)
        case .NotSignedIn: return self.error(.notSignedIn, lang)
        case let .OnlineSignInRequired(user): return self.error(.onlineSignInRequired, lang, user)
        case .WrongCredential: return self.error(.wrongCredential, lang)
        case let .NoPin(user): return self.error(.noPin, lang, user)
        case let .PinLocked(user): return self.error(.pinLocked, lang, user)
        case .BadPin: return self.error(.badPin, lang)
        case let .AccountDeactivated(user): return self.error(.accountDeactivated, lang, user)
        case .SignatureRequired, .UnknownMeaning: return self.error(.signatureRequired, lang)
        case .BadUnlockKey, .NoUnlockKey: return self.error(.invalidInput, lang)
        case .RosterRefused: return self.error(.refused, lang)
        case .LockedOut: return self.error(.lockedOut, lang)
        case .NotSiteStaff: return self.error(.notSiteStaff, lang)
        case let .HiddenValuesPending(count, _): return self.error(.hiddenValuesPending, lang, Int(count))
        case .CertificateMismatch: return self.error(.certificateMismatch, lang)
        case .BadEnrolmentCode: return self.error(.badEnrolmentCode, lang)
        }
    }
}
