//! The three languages of WardCRF forms and messages, and a text in all of them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A language a form label, help text or validation message is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (the language of the data dictionary).
    #[default]
    En,
    /// Japanese (JIHS / iCROWN sites).
    Ja,
    /// German (NUM sites).
    De,
}

impl Lang {
    /// Every supported language, in display order.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ja, Lang::De];

    /// The ISO 639-1 code (`en`, `ja`, `de`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
            Lang::De => "de",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The language code given is not one WardCRF speaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported language '{0}': use en, ja or de")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Ok(Lang::En),
            "ja" => Ok(Lang::Ja),
            "de" => Ok(Lang::De),
            other => Err(UnknownLang(other.to_string())),
        }
    }
}

/// A text given in every language of the form: labels, help, rule messages.
///
/// All three are required in a definition; the loader reports a missing one as a problem.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    #[serde(default)]
    pub en: String,
    #[serde(default)]
    pub ja: String,
    #[serde(default)]
    pub de: String,
}

impl Text {
    /// Builds a text from its three translations.
    pub fn new(en: impl Into<String>, ja: impl Into<String>, de: impl Into<String>) -> Self {
        Text {
            en: en.into(),
            ja: ja.into(),
            de: de.into(),
        }
    }

    /// The text in `lang`, falling back to English when that translation is empty.
    pub fn get(&self, lang: Lang) -> &str {
        let s = match lang {
            Lang::En => &self.en,
            Lang::Ja => &self.ja,
            Lang::De => &self.de,
        };
        if s.is_empty() { &self.en } else { s }
    }

    /// The languages whose translation is missing (empty or blank).
    pub fn missing(&self) -> Vec<Lang> {
        Lang::ALL
            .into_iter()
            .filter(|l| {
                match l {
                    Lang::En => &self.en,
                    Lang::Ja => &self.ja,
                    Lang::De => &self.de,
                }
                .trim()
                .is_empty()
            })
            .collect()
    }

    /// Applies `f` to each translation, in the language it is written in.
    pub fn map(&self, mut f: impl FnMut(Lang, &str) -> String) -> Text {
        Text {
            en: f(Lang::En, &self.en),
            ja: f(Lang::Ja, &self.ja),
            de: f(Lang::De, &self.de),
        }
    }

    /// Builds a text by calling `f` once per language.
    pub fn from_fn(mut f: impl FnMut(Lang) -> String) -> Text {
        Text {
            en: f(Lang::En),
            ja: f(Lang::Ja),
            de: f(Lang::De),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_language_codes_forgivingly() {
        assert_eq!("JA".parse::<Lang>(), Ok(Lang::Ja));
        assert_eq!(" de ".parse::<Lang>(), Ok(Lang::De));
        let err = "fr".parse::<Lang>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported language 'fr': use en, ja or de"
        );
    }

    #[test]
    fn falls_back_to_english_and_lists_missing() {
        let t = Text::new("Heart rate", "", "Herzfrequenz");
        assert_eq!(t.get(Lang::Ja), "Heart rate");
        assert_eq!(t.get(Lang::De), "Herzfrequenz");
        assert_eq!(t.missing(), vec![Lang::Ja]);
    }
}
