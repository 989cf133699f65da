//! The console's own words in English, Japanese and German (form labels and validation
//! messages come from the core, in the same three languages).

use axum::http::{HeaderMap, header};
use wardcrf_core::Lang;

/// The cookie that keeps the language a user chose.
pub const LANG_COOKIE: &str = "wardcrf_lang";

macro_rules! messages {
    ($($key:ident => $en:expr, $ja:expr, $de:expr;)*) => {
        /// A text of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum M { $($key),* }

        impl M {
            /// The text in `lang`.
            pub fn get(self, lang: Lang) -> &'static str {
                match self {
                    $(M::$key => match lang { Lang::En => $en, Lang::Ja => $ja, Lang::De => $de }),*
                }
            }
        }
    };
}

messages! {
    AppName => "WardCRF repository", "WardCRF リポジトリ", "WardCRF-Repository";
    SkipToContent => "Skip to content", "本文へ移動", "Zum Inhalt springen";
    Language => "Language", "言語", "Sprache";
    SignIn => "Sign in", "ログイン", "Anmelden";
    SignOut => "Sign out", "ログアウト", "Abmelden";
    SignedInAs => "Signed in as", "ログイン中:", "Angemeldet als";
    Username => "User name", "ユーザー名", "Benutzername";
    Password => "Password", "パスワード", "Passwort";
    WrongLogin => "The user name or password is wrong, or the account is locked: after 5 failed sign-ins an account is locked for 15 minutes. Try again later or ask an administrator.", "ユーザー名またはパスワードが正しくないか、アカウントがロックされています（ログインに5回失敗すると15分間ロックされます）。しばらくしてから再度お試しいただくか、管理者に連絡してください。", "Benutzername oder Passwort ist falsch, oder das Konto ist gesperrt: Nach 5 fehlgeschlagenen Anmeldungen wird ein Konto für 15 Minuten gesperrt. Versuchen Sie es später erneut oder wenden Sie sich an eine Administratorin / einen Administrator.";
    TooManySignIns => "Too many sign-in attempts from this address or for this user name. Wait a minute and try again.", "このアドレスまたはこのユーザー名からのログイン試行が多すぎます。1分ほど待ってから再度お試しください。", "Zu viele Anmeldeversuche von dieser Adresse oder für diesen Benutzernamen. Warten Sie eine Minute und versuchen Sie es erneut.";
    StaleForm => "This form was out of date or did not come from this console. Reload the page and try again.", "このフォームは古いか、このコンソールから送信されたものではありません。ページを再読み込みしてやり直してください。", "Dieses Formular war veraltet oder stammt nicht aus dieser Konsole. Laden Sie die Seite neu und versuchen Sie es erneut.";
    Forbidden => "Your role does not allow this page.", "あなたの役割ではこのページを利用できません。", "Ihre Rolle erlaubt diese Seite nicht.";
    NotFound => "Not found: it does not exist or is not visible to you.", "見つかりません（存在しないか、閲覧権限がありません）。", "Nicht gefunden: existiert nicht oder ist für Sie nicht sichtbar.";
    ServerError => "The repository failed; try again later.", "リポジトリでエラーが発生しました。しばらくしてから再度お試しください。", "Das Repository ist fehlgeschlagen; versuchen Sie es später erneut.";
    BadRequest => "The request could not be used", "リクエストを処理できませんでした", "Die Anfrage konnte nicht verarbeitet werden";
    Overview => "Overview", "概要", "Übersicht";
    Cases => "Cases", "症例", "Fälle";
    Conflicts => "Conflicts", "競合", "Konflikte";
    OpenConflicts => "Open conflicts", "未解決の競合", "Offene Konflikte";
    Exports => "Exports", "エクスポート", "Exporte";
    Sites => "Sites", "施設", "Standorte";
    Site => "Site", "施設", "Standort";
    Staff => "Staff users", "スタッフユーザー", "Mitarbeitende";
    Devices => "Devices", "端末", "Geräte";
    Device => "Device", "端末", "Gerät";
    EnrolmentCodes => "Enrolment codes", "登録コード", "Registrierungscodes";
    Status => "Status", "状態", "Status";
    Draft => "Draft", "下書き", "Entwurf";
    Complete => "Complete", "完了", "Vollständig";
    Signed => "Signed", "署名済み", "Signiert";
    Deleted => "Deleted", "削除済み", "Gelöscht";
    Any => "Any", "すべて", "Alle";
    Yes => "Yes", "はい", "Ja";
    No => "No", "いいえ", "Nein";
    Flagged => "Data-quality flags", "データ品質フラグ", "Datenqualitäts-Hinweise";
    Filter => "Filter", "絞り込み", "Filtern";
    Case => "Case", "症例", "Fall";
    Form => "Form", "フォーム", "Formular";
    Updated => "Updated", "更新", "Aktualisiert";
    NoCases => "No cases match.", "該当する症例はありません。", "Keine passenden Fälle.";
    NoConflicts => "No open conflicts.", "未解決の競合はありません。", "Keine offenen Konflikte.";
    LastSync => "Last sync", "最終同期", "Letzte Synchronisierung";
    Never => "never", "なし", "nie";
    Enrolled => "Enrolled", "登録日時", "Registriert";
    Revoked => "Revoked", "無効化済み", "Gesperrt";
    Revoke => "Revoke", "無効化", "Sperren";
    Active => "Active", "有効", "Aktiv";
    Total => "Total", "合計", "Gesamt";
    Field => "Field", "項目", "Feld";
    Value => "Value", "値", "Wert";
    Who => "Who", "入力者", "Wer";
    When => "When", "日時", "Wann";
    Why => "Reason", "理由", "Grund";
    Change => "Change", "変更", "Änderung";
    History => "History", "履歴", "Verlauf";
    Errors => "Errors", "エラー", "Fehler";
    Warnings => "Warnings", "警告", "Warnungen";
    Row => "Row", "行", "Zeile";
    Repository => "repository", "リポジトリ", "Repository";
    ReviewConflicts => "Review conflicts", "競合を確認", "Konflikte prüfen";
    Candidates => "Candidate values", "候補値", "Kandidatenwerte";
    KeepThis => "Keep this value", "この値を採用", "Diesen Wert übernehmen";
    OtherValue => "Another value", "別の値", "Anderer Wert";
    OtherValueHelp => "In the field's unit; used only when \"Another value\" is chosen.", "項目の単位で入力（「別の値」を選んだ場合のみ使用）。", "In der Einheit des Feldes; nur bei „Anderer Wert“ verwendet.";
    ReasonHelp => "Required: why this value is right (kept in the audit trail).", "必須：この値が正しい理由（監査証跡に残ります）。", "Pflicht: warum dieser Wert richtig ist (bleibt im Prüfpfad).";
    Resolve => "Resolve", "解決", "Auflösen";
    Resolved => "Resolved. The devices of the site receive the resolution at their next sync.", "解決しました。施設の端末は次回の同期で解決内容を受け取ります。", "Aufgelöst. Die Geräte des Standorts erhalten die Auflösung bei ihrer nächsten Synchronisierung.";
    AlreadyResolved => "This conflict is no longer open (resolved meanwhile). Review the current values.", "この競合はすでに解決されています。現在の値を確認してください。", "Dieser Konflikt ist nicht mehr offen (inzwischen aufgelöst). Prüfen Sie die aktuellen Werte.";
    ReasonRequired => "Give a reason for the resolution.", "解決の理由を入力してください。", "Geben Sie einen Grund für die Auflösung an.";
    ChooseValue => "Choose a candidate value or enter another value.", "候補値を選ぶか、別の値を入力してください。", "Wählen Sie einen Kandidatenwert oder geben Sie einen anderen Wert ein.";
    ValueRefused => "The value was not stored", "値は保存されませんでした", "Der Wert wurde nicht gespeichert";
    Damaged => "Damaged", "破損", "Beschädigt";
    AwaitingProjection => "{n} case(s) awaiting projection, the oldest for {s} s: their values and flags shown here are from before their last sync and update shortly.", "{n} 件の症例が集計待ちです（最も古いものは {s} 秒前から）。ここに表示される値とフラグは最終同期より前のもので、まもなく更新されます。", "{n} Fall/Fälle warten auf die Aufbereitung, der älteste seit {s} s: Die hier gezeigten Werte und Hinweise stammen von vor ihrer letzten Synchronisierung und werden in Kürze aktualisiert.";
    ProjectionFailed => "{n} case(s) could not be updated from their last sync (their stored documents cannot be read): what is shown for them is older. A device of their site will push them again.", "{n} 件の症例を最終同期の内容で更新できませんでした（保存データを読み込めません）。表示は古い内容です。施設の端末が再送信します。", "{n} Fall/Fälle konnten nicht aus ihrer letzten Synchronisierung aktualisiert werden (ihre gespeicherten Dokumente sind nicht lesbar): Das Gezeigte ist älter. Ein Gerät ihres Standorts überträgt sie erneut.";
    Unprojected => "Cases that could not be projected", "集計できなかった症例", "Fälle, die nicht aufbereitet werden konnten";
    Stale => "Updating", "更新待ち", "Wird aktualisiert";
    StaleHelp => "A newer version of this case was synced: its values and flags shown here are from before it.", "この症例の新しい版が同期されました。ここに表示される値とフラグはそれより前のものです。", "Eine neuere Fassung dieses Falls wurde synchronisiert: Die hier gezeigten Werte und Hinweise stammen von davor.";
    DamagedCases => "Damaged cases (quarantined)", "破損した症例（隔離中）", "Beschädigte Fälle (in Quarantäne)";
    DamagedHelp => "These cases' stored documents cannot be read. They are left out of exports; a device of their site will push them again at its next sync.", "これらの症例の保存データを読み込めません。エクスポートから除外されています。施設の端末が次回の同期で再送信します。", "Die gespeicherten Dokumente dieser Fälle sind nicht lesbar. Sie fehlen in Exporten; ein Gerät ihres Standorts überträgt sie bei seiner nächsten Synchronisierung erneut.";
    CaseDamaged => "This case's stored document is damaged and quarantined; a device of its site will push it again at its next sync. It is left out of exports until then.", "この症例の保存データは破損しているため隔離されています。施設の端末が次回の同期で再送信します。それまでエクスポートから除外されます。", "Das gespeicherte Dokument dieses Falls ist beschädigt und in Quarantäne; ein Gerät seines Standorts überträgt es bei seiner nächsten Synchronisierung erneut. Bis dahin fehlt es in Exporten.";
    CaseDeleted => "The case is deleted; it must be restored on a device first.", "この症例は削除されています。先に端末で復元してください。", "Der Fall ist gelöscht; er muss zuerst auf einem Gerät wiederhergestellt werden.";
    EmptyCase => "No values entered yet.", "まだ値が入力されていません。", "Noch keine Werte eingegeben.";
    CasesPerSite => "Cases per site and status", "施設・状態別の症例数", "Fälle je Standort und Status";
    DevicesLastSync => "Devices and their last sync", "端末と最終同期", "Geräte und ihre letzte Synchronisierung";
    AddSite => "Add a site", "施設を追加", "Standort hinzufügen";
    SiteId => "Site id", "施設ID", "Standort-ID";
    SiteIdHelp => "1–64 lowercase letters, digits and '-'.", "英小文字・数字・「-」で1〜64文字。", "1–64 Kleinbuchstaben, Ziffern und „-“.";
    Name => "Name", "名称", "Name";
    Add => "Add", "追加", "Hinzufügen";
    IdentifyingOnDevice => "Identifying data stays on the devices", "個人識別情報を端末内に限定", "Identifizierende Daten bleiben auf den Geräten";
    IdentifyingOnDeviceHelp => "Name, hospital record number and date of birth are never synced from this site's devices (fixed when the site is created).", "この施設の端末から氏名・カルテ番号・生年月日を同期しません（施設作成時に決定し、変更できません）。", "Name, Fallnummer und Geburtsdatum werden von den Geräten dieses Standorts nie synchronisiert (beim Anlegen festgelegt).";
    SiteAdded => "Site added.", "施設を追加しました。", "Standort hinzugefügt.";
    SiteExists => "A site with this id already exists.", "このIDの施設は既に存在します。", "Ein Standort mit dieser ID existiert bereits.";
    BadSiteId => "The site id must be 1–64 lowercase letters, digits and '-', and the name 1–200 characters.", "施設IDは英小文字・数字・「-」で1〜64文字、名称は1〜200文字にしてください。", "Die Standort-ID muss aus 1–64 Kleinbuchstaben, Ziffern und „-“ bestehen, der Name aus 1–200 Zeichen.";
    UnknownSite => "No such site.", "その施設は存在しません。", "Diesen Standort gibt es nicht.";
    AddStaff => "Add a staff user", "スタッフユーザーを追加", "Mitarbeitende hinzufügen";
    Role => "Role", "役割", "Rolle";
    RoleAdmin => "Administrator", "管理者", "Administration";
    RoleDataManager => "Data manager", "データマネージャー", "Datenmanagement";
    RoleSiteNurse => "Site research nurse", "施設リサーチナース", "Studienpflege (Standort)";
    RoleClinician => "Clinician (ward tablets)", "臨床医（病棟タブレット）", "Ärztin / Arzt (Stationstablets)";
    ClinicianNoConsole => "Clinicians enter data on their site's tablets; this console is not for your role. Sign in on a ward tablet instead.", "臨床医は施設のタブレットでデータを入力します。このコンソールはあなたの役割では利用できません。病棟のタブレットでログインしてください。", "Ärztinnen und Ärzte erfassen Daten auf den Tablets ihres Standorts; diese Konsole ist für Ihre Rolle nicht vorgesehen. Melden Sie sich stattdessen an einem Stationstablet an.";
    SiteForNurse => "Site (site nurses and clinicians only)", "施設（施設ナースと臨床医のみ）", "Standort (nur Studienpflege und Ärztinnen/Ärzte)";
    PasswordHelp => "At least 10 characters.", "10文字以上。", "Mindestens 10 Zeichen.";
    StaffAdded => "Staff user added.", "スタッフユーザーを追加しました。", "Mitarbeitende hinzugefügt.";
    StaffExists => "This user name is taken.", "このユーザー名は使用されています。", "Dieser Benutzername ist vergeben.";
    BadUsername => "The user name must be 1–64 lowercase letters, digits, '.', '_' or '-'.", "ユーザー名は英小文字・数字・「.」「_」「-」で1〜64文字にしてください。", "Der Benutzername muss aus 1–64 Kleinbuchstaben, Ziffern, „.“, „_“ oder „-“ bestehen.";
    BadPassword => "The password must be 10 to 1024 characters.", "パスワードは10〜1024文字にしてください。", "Das Passwort muss 10 bis 1024 Zeichen lang sein.";
    NurseNeedsSite => "A site nurse or a clinician needs a site; other roles have none.", "施設ナースと臨床医には施設が必要です（他の役割には不要）。", "Studienpflege und Ärztinnen/Ärzte brauchen einen Standort; andere Rollen haben keinen.";
    BadDisplayName => "The display name must be at most 200 characters, without line breaks.", "表示名は200文字以内で、改行を含めないでください。", "Der Anzeigename darf höchstens 200 Zeichen lang sein und keine Zeilenumbrüche enthalten.";
    DisplayName => "Display name (printed with entries and signatures)", "表示名（入力と署名に表示）", "Anzeigename (bei Einträgen und Signaturen)";
    Disable => "Disable", "無効にする", "Deaktivieren";
    Enable => "Enable", "有効にする", "Aktivieren";
    Disabled => "Disabled", "無効", "Deaktiviert";
    Locked => "Locked", "ロック中", "Gesperrt";
    Unverified => "unverified:", "未確認:", "nicht verifiziert:";
    Signatures => "Electronic signatures", "電子署名", "Elektronische Signaturen";
    Signer => "Signer", "署名者", "Unterzeichner";
    Meaning => "Meaning", "署名の意味", "Bedeutung";
    SignatureState => "State", "状態", "Status";
    SignatureValid => "valid", "有効", "gültig";
    SignatureSuperseded => "superseded by a later edit", "後の編集により失効", "durch eine spätere Änderung überholt";
    Unlock => "Unlock", "ロック解除", "Entsperren";
    Unlocked => "The account is unlocked.", "アカウントのロックを解除しました。", "Das Konto ist entsperrt.";
    ResetPassword => "Reset password", "パスワード再設定", "Passwort zurücksetzen";
    NewPassword => "New password", "新しいパスワード", "Neues Passwort";
    PasswordWasReset => "The password is reset: the user's next sign-in on each tablet is an online one.", "パスワードを再設定しました。各タブレットでの次回ログインはオンラインで行われます。", "Das Passwort ist zurückgesetzt: Die nächste Anmeldung auf jedem Tablet erfolgt online.";
    CannotDisableSelf => "You cannot disable your own account.", "自分のアカウントは無効にできません。", "Sie können Ihr eigenes Konto nicht deaktivieren.";
    NewCode => "New enrolment code", "新しい登録コード", "Neuer Registrierungscode";
    CodeFor => "One-time enrolment code for", "登録用ワンタイムコード：", "Einmaliger Registrierungscode für";
    CodeExpires => "Valid once, until", "1回限り有効。有効期限：", "Einmal gültig, bis";
    CodeHelp => "Scan the QR code with the ward app, or type the code. On a command line:", "病棟アプリでQRコードを読み取るか、コードを入力してください。コマンドラインでは：", "Scannen Sie den QR-Code mit der Stations-App oder tippen Sie den Code ein. Auf der Kommandozeile:";
    QrAlt => "QR code of the enrolment code, the repository address and its certificate fingerprint", "登録コード、リポジトリのアドレスとその証明書フィンガープリントのQRコード", "QR-Code mit Registrierungscode, Repository-Adresse und Zertifikat-Fingerabdruck";
    EnrolUriHelp => "What the QR code holds (to paste into the app, or: wardcrf device enroll --qr '…'):", "QRコードの内容（アプリに貼り付けるか、wardcrf device enroll --qr '…' で使用）：", "Inhalt des QR-Codes (in die App einfügen, oder: wardcrf device enroll --qr '…'):";
    EnrolPin => "Devices enrolled with it trust only the certificate with the SHA-256 fingerprint", "これで登録した端末は、次のSHA-256フィンガープリントの証明書のみを信頼します：", "Damit registrierte Geräte vertrauen nur dem Zertifikat mit dem SHA-256-Fingerabdruck";
    Create => "Create", "作成", "Erstellen";
    ExportsHelp => "Every case not deleted, as the repository holds it now. Identifying fields are included: handle the file as patient data.", "削除されていない全症例（現時点）を出力します。個人を特定できる項目を含むため、患者データとして扱ってください。", "Alle nicht gelöschten Fälle im aktuellen Stand. Identifizierende Felder sind enthalten: Behandeln Sie die Datei als Patientendaten.";
    AllSites => "All sites", "全施設", "Alle Standorte";
    LabelsIn => "Choice labels in", "選択肢ラベルの言語", "Auswahl-Beschriftungen auf";
    NoLabels => "Codes only", "コードのみ", "Nur Codes";
    Download => "Download", "ダウンロード", "Herunterladen";
    FormatCsv => "CSV (ZIP of one file per table)", "CSV（表ごとのファイルをZIPにまとめたもの）", "CSV (ZIP mit einer Datei je Tabelle)";
    FormatOdm => "CDISC ODM 1.3.2 (XML)", "CDISC ODM 1.3.2（XML）", "CDISC ODM 1.3.2 (XML)";
    ViewCase => "Open case", "症例を開く", "Fall öffnen";
    Actions => "Actions", "操作", "Aktionen";
    DemoNote => "Demo data: synthetic cases, no real patients.", "デモデータ：架空の症例であり、実在の患者ではありません。", "Demodaten: erfundene Fälle, keine echten Patienten.";
}

/// The language of a request: the user's choice (cookie), else the browser's preference
/// (`Accept-Language`), else English.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(l) = super::auth::cookie(headers, LANG_COOKIE).and_then(|v| v.parse().ok()) {
        return l;
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for part in accept.split(',') {
        let tag = part.split(';').next().unwrap_or("").trim();
        let primary = tag.split('-').next().unwrap_or("");
        if let Ok(l) = primary.parse::<Lang>() {
            return l;
        }
    }
    Lang::En
}

/// The name of a language in itself.
pub fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "English",
        Lang::Ja => "日本語",
        Lang::De => "Deutsch",
    }
}

/// A case status in `lang`.
pub fn status_label(status: &str, lang: Lang) -> &'static str {
    match status {
        "complete" => M::Complete.get(lang),
        "signed" => M::Signed.get(lang),
        _ => M::Draft.get(lang),
    }
}
