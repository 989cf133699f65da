//! `wardcrf export`: a repository export (CSV in a ZIP, CDISC ODM 1.3.2 XML or an HL7 FHIR R4
//! Bundle in JSON) downloaded with the administrator token to a file. The file appears only
//! once complete: the download goes to `FILE.part`, renamed at the end, so an interrupted
//! export never leaves a file that looks whole.

use crate::CliError;
use crate::sync_cmd::{TlsOpts, admin_transport};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// An export format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// A ZIP of cases.csv and one CSV per repeating group.
    Csv,
    /// CDISC ODM 1.3.2 XML: the form's metadata and the clinical data with audit records.
    Odm,
    /// HL7 FHIR R4 JSON: a Bundle of the Questionnaire, a QuestionnaireResponse per case,
    /// Observations for vital signs, lab values and pathogen tests, and Conditions for coded
    /// diagnoses.
    Fhir,
}

/// A use of the data a research export needs (the consent form's scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Purpose {
    /// Secondary use of data for research (always implied).
    #[value(name = "secondary_use")]
    SecondaryUse,
    /// Genome and genetic analysis.
    #[value(name = "genome")]
    Genome,
    /// Provision to companies, including pharmaceutical companies.
    #[value(name = "companies")]
    Companies,
    /// Transfer between Japan and Germany.
    #[value(name = "jp_de_transfer")]
    JpDeTransfer,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SecondaryUse => "secondary_use",
            Purpose::Genome => "genome",
            Purpose::Companies => "companies",
            Purpose::JpDeTransfer => "jp_de_transfer",
        }
    }
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Odm => "odm",
            Format::Fhir => "fhir",
        }
    }
}

/// `wardcrf export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The repository address, like https://crf.example-hospital.org.
    #[arg(long, value_name = "URL")]
    server: String,
    /// A file holding the administrator token (never give it on the command line).
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    #[arg(long)]
    format: Format,
    /// Only the cases of this site.
    #[arg(long, value_name = "SITE_ID")]
    site: Option<String>,
    /// Also the labels of coded answers in this language (en, ja, de).
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
    /// A de-identified research export: only the cases whose consent covers it (see
    /// --purpose), no identifying field, no quasi-identifying field (see
    /// --include-quasi-identifiers), the age at admission instead of the date of birth (90 and
    /// over as "90+"), pseudonyms for case and row ids made for --recipient.
    #[arg(long, requires = "recipient")]
    research: bool,
    /// Who receives the research export (the same name gets the same pseudonyms each time).
    #[arg(long, value_name = "NAME", requires = "research")]
    recipient: Option<String>,
    /// The uses the research export needs besides secondary use (always implied), comma
    /// separated: genome, companies, jp_de_transfer. A case is exported only when the patient
    /// consented to secondary use and every use named (an ethics-committee waiver covers
    /// secondary use only); a withdrawn consent covers nothing.
    #[arg(
        long,
        value_name = "PURPOSE",
        value_delimiter = ',',
        requires = "research"
    )]
    purpose: Vec<Purpose>,
    /// Shift every date and time of a case by a number of days (-180 to +180, never 0) that
    /// differs between cases and recipients and is not in the file: intervals within a case
    /// are kept. Dates known only to the year or month are left out.
    #[arg(long, requires = "research")]
    date_shift: bool,
    /// Also export the fields the form marks quasi-identifying (free-text diagnoses, places),
    /// which a research export leaves out by default.
    #[arg(long, requires = "research")]
    include_quasi_identifiers: bool,
    /// Where to write the export.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    tls: TlsOpts,
    /// Machine-readable output: JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn export(args: &ExportArgs) -> Result<ExitCode, CliError> {
    let path = export_path(args)?;
    let repo = admin_transport(&args.server, &args.token_file, &args.tls)?;
    let mut part = args.out.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let write_error =
        |e: std::io::Error| CliError::Input(format!("cannot write {}: {e}", part.display()));
    let mut file = std::fs::File::create(&part).map_err(write_error)?;
    let copied = repo.download(&path, &mut file);
    let finished = copied
        .map_err(|e| CliError::Repository {
            doing: "export",
            source: e,
        })
        .and_then(|n| {
            file.flush().map_err(write_error)?;
            file.sync_all().map_err(write_error)?;
            Ok(n)
        });
    let bytes = match finished {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, &args.out)
        .map_err(|e| CliError::Input(format!("cannot write {}: {e}", args.out.display())))?;
    if args.json {
        crate::print_json(&json!({
            "format": args.format.as_str(),
            "research": args.research,
            "purposes": args.purpose.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "date_shift": args.date_shift,
            "quasi_identifiers": args.include_quasi_identifiers,
            "file": args.out.display().to_string(),
            "bytes": bytes,
        }));
    } else {
        println!(
            "Wrote the {} export to {} ({bytes} bytes).",
            args.format.as_str(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The API path of the export `args` ask for: `/api/exports/{format}` with its query.
fn export_path(args: &ExportArgs) -> Result<String, CliError> {
    let mut query = Vec::new();
    if let Some(site) = &args.site {
        if site.is_empty()
            || !site
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(CliError::Input(format!(
                "'{site}' is not a site id (lowercase letters, digits and '-')"
            )));
        }
        query.push(format!("site={site}"));
    }
    if let Some(lang) = &args.lang {
        if !["en", "ja", "de"].contains(&lang.as_str()) {
            return Err(CliError::Input(format!(
                "'{lang}' is not a language of the forms: use en, ja or de"
            )));
        }
        query.push(format!("lang={lang}"));
    }
    if args.research {
        query.push("research=true".into());
    }
    if let Some(recipient) = &args.recipient {
        if recipient.trim().is_empty() {
            return Err(CliError::Input(
                "--recipient needs the name of who receives the research export".into(),
            ));
        }
        query.push(format!("recipient={}", percent_encode(recipient)));
    }
    if !args.purpose.is_empty() {
        let mut codes: Vec<&str> = args.purpose.iter().map(|p| p.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        query.push(format!("purpose={}", codes.join(",")));
    }
    if args.date_shift {
        query.push("date_shift=true".into());
    }
    if args.include_quasi_identifiers {
        query.push("quasi=include".into());
    }
    let mut path = format!("/api/exports/{}", args.format.as_str());
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    Ok(path)
}

/// A query value with every byte but unreserved ASCII percent-encoded (RFC 3986).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExportArgs,
    }

    fn path_of(extra: &[&str]) -> Result<String, String> {
        let base = [
            "wardcrf",
            "--server",
            "https://crf.example",
            "--token-file",
            "token",
            "--format",
            "odm",
            "--out",
            "out.xml",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra)).map_err(|e| e.to_string())?;
        export_path(&cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn research_options_become_the_query_and_need_research() {
        assert_eq!(path_of(&[]).unwrap(), "/api/exports/odm");
        assert_eq!(
            path_of(&[
                "--research",
                "--recipient",
                "Uni Tokyo",
                "--purpose",
                "jp_de_transfer,genome",
                "--purpose",
                "genome",
                "--date-shift",
                "--include-quasi-identifiers",
            ])
            .unwrap(),
            "/api/exports/odm?research=true&recipient=Uni%20Tokyo\
             &purpose=genome,jp_de_transfer&date_shift=true&quasi=include"
        );
        assert_eq!(
            path_of(&["--research", "--recipient", "r"]).unwrap(),
            "/api/exports/odm?research=true&recipient=r"
        );
        for without_research in [
            &["--purpose", "genome"][..],
            &["--date-shift"][..],
            &["--include-quasi-identifiers"][..],
        ] {
            let e = path_of(without_research).unwrap_err();
            assert!(e.contains("--research"), "{e}");
        }
        let e = path_of(&["--research", "--recipient", "r", "--purpose", "marketing"]).unwrap_err();
        assert!(e.contains("genome"), "{e}");
    }

    #[test]
    fn recipients_are_percent_encoded() {
        assert_eq!(super::percent_encode("Uni Tokyo"), "Uni%20Tokyo");
        assert_eq!(super::percent_encode("Charité&x=1"), "Charit%C3%A9%26x%3D1");
        assert_eq!(super::percent_encode("a-b_c.d~"), "a-b_c.d~");
    }
}
