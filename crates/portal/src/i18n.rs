//! The portal's languages: one Fluent catalogue per language (`i18n/en.ftl`, `i18n/fr.ftl`),
//! compiled into the binary and parsed once at start; the visitor's language from the
//! `pont_lang` cookie (the language switch), else the browser's `Accept-Language`.
//!
//! Pages never hold a user-visible string: templates call [`Tr::get`] with a message id, and
//! the meeting page's script gets its strings (the `meeting-*` messages) from
//! [`Catalog::browser_strings`].

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use axum::http::header;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// The cookie the language switch sets (readable by scripts: it is not a secret).
pub const LANG_COOKIE: &str = "pont_lang";

const EN_FTL: &str = include_str!("../i18n/en.ftl");
const FR_FTL: &str = include_str!("../i18n/fr.ftl");

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Self; 2] = [Self::En, Self::Fr];

    /// The BCP 47 tag, as in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    /// The language's own name, for the switch (the same in every language).
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Fr => "Français",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        let primary = code.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("en") {
            Some(Self::En)
        } else if primary.eq_ignore_ascii_case("fr") {
            Some(Self::Fr)
        } else {
            None
        }
    }

    /// The visitor's language: the switch's cookie, else the best of `Accept-Language`
    /// (RFC 9110 §12.5.4 quality values), else English.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        crate::auth::cookie(headers, LANG_COOKIE)
            .and_then(|c| Self::from_code(&c))
            .or_else(|| {
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Self::from_accept_language)
            })
            .unwrap_or_default()
    }

    /// The first language of ours in an `Accept-Language` value, by quality then order.
    pub fn from_accept_language(value: &str) -> Option<Self> {
        let mut best: Option<(u16, Self)> = None;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(|t| Self::from_code(t.trim())) else {
                continue;
            };
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if !(0.0..=1.0).contains(&quality) || quality == 0.0 {
                continue;
            }
            // Thousandths, as RFC 9110 allows three decimals.
            let q = (quality * 1000.0).round() as u16;
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }
}

/// Both languages' catalogues, parsed.
pub struct Catalog {
    en: FluentBundle<FluentResource>,
    fr: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

fn bundle(lang: Lang, ftl: &str) -> FluentBundle<FluentResource> {
    // The catalogues are part of the binary: a syntax error is a build mistake, which the
    // catalogue tests catch before any release.
    let resource = FluentResource::try_new(ftl.to_owned())
        .unwrap_or_else(|(_, errors)| panic!("{}.ftl does not parse: {errors:?}", lang.code()));
    let id: unic_langid::LanguageIdentifier =
        lang.code().parse().expect("en and fr are language tags");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: they would show up in HTML attributes and
    // copied text; our arguments are names and numbers in the same direction as the text.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("{}.ftl repeats ids: {errors:?}", lang.code()));
    bundle
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    pub fn new() -> Self {
        Self {
            en: bundle(Lang::En, EN_FTL),
            fr: bundle(Lang::Fr, FR_FTL),
        }
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::En => &self.en,
            Lang::Fr => &self.fr,
        }
    }

    /// The message `id` in `lang` with `args`; a missing message is shown as its id (and the
    /// catalogue tests fail), never a panic in front of a visitor.
    pub fn format(&self, lang: Lang, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = self.bundle(lang);
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            tracing::warn!(id, lang = lang.code(), "missing message");
            return id.to_owned();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(id, ?errors, "message formatted with errors");
        }
        text.into_owned()
    }

    /// Every message id of `lang`'s catalogue.
    pub fn ids(&self, lang: Lang) -> Vec<String> {
        let source = match lang {
            Lang::En => EN_FTL,
            Lang::Fr => FR_FTL,
        };
        let resource = FluentResource::try_new(source.to_owned()).unwrap_or_else(|(r, _)| r);
        resource
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The `meeting-*` messages of `lang`, without the prefix: what the meeting page's script
    /// shows (`assets/i18n.js` is generated from them).
    pub fn browser_strings(&self, lang: Lang) -> BTreeMap<String, String> {
        self.ids(lang)
            .into_iter()
            .filter_map(|id| {
                let key = id.strip_prefix("meeting-")?.to_owned();
                Some((key, self.format(lang, &id, None)))
            })
            .collect()
    }
}

/// One visitor's language and the catalogue: what a template formats its strings with.
#[derive(Clone, Copy)]
pub struct Tr<'a> {
    pub lang: Lang,
    catalog: &'a Catalog,
}

impl<'a> Tr<'a> {
    pub fn new(lang: Lang, catalog: &'a Catalog) -> Self {
        Self { lang, catalog }
    }

    /// The message `id`.
    pub fn get(&self, id: &str) -> String {
        self.catalog.format(self.lang, id, None)
    }

    /// The message `id` with one argument.
    pub fn arg(&self, id: &str, name: &str, value: &str) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_owned(), FluentValue::from(value.to_owned()));
        self.catalog.format(self.lang, id, Some(&args))
    }

    /// The message `id` with a number (plural forms follow the language's rules).
    pub fn args(&self, id: &str, args: &FluentArgs<'_>) -> String {
        self.catalog.format(self.lang, id, Some(args))
    }

    pub fn count(&self, id: &str, name: &str, n: i64) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_owned(), FluentValue::from(n));
        self.catalog.format(self.lang, id, Some(&args))
    }

    /// The other languages, for the switch.
    pub fn others(&self) -> Vec<Lang> {
        Lang::ALL.into_iter().filter(|l| *l != self.lang).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_of_ours() {
        let pick = Lang::from_accept_language;
        assert_eq!(pick("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(pick("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4"), Some(Lang::En));
        assert_eq!(pick("en;q=0.2, fr-CA;q=0.7"), Some(Lang::Fr));
        assert_eq!(pick("de, it"), None);
        assert_eq!(pick("fr;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(pick("garbage;;;q=x,,"), None);
    }

    #[test]
    fn the_cookie_wins_over_the_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, "en-GB,en".parse().unwrap());
        assert_eq!(Lang::negotiate(&headers), Lang::En);
        headers.insert(header::COOKIE, "a=b; pont_lang=fr".parse().unwrap());
        assert_eq!(Lang::negotiate(&headers), Lang::Fr);
        headers.insert(header::COOKIE, "pont_lang=xx".parse().unwrap());
        assert_eq!(Lang::negotiate(&headers), Lang::En);
    }

    #[test]
    fn both_catalogues_have_the_same_messages_and_format_without_errors() {
        let catalog = Catalog::new();
        let mut en = catalog.ids(Lang::En);
        let mut fr = catalog.ids(Lang::Fr);
        en.sort();
        fr.sort();
        let only_en: Vec<_> = en.iter().filter(|id| !fr.contains(id)).collect();
        let only_fr: Vec<_> = fr.iter().filter(|id| !en.contains(id)).collect();
        assert!(only_en.is_empty(), "missing in fr.ftl: {only_en:?}");
        assert!(only_fr.is_empty(), "missing in en.ftl: {only_fr:?}");
        for lang in Lang::ALL {
            let bundle = catalog.bundle(lang);
            for id in catalog.ids(lang) {
                let pattern = bundle.get_message(&id).and_then(|m| m.value());
                let pattern = pattern.unwrap_or_else(|| panic!("{id} has no value"));
                // Every variable a message uses gets a value: a name and a number both work.
                let mut args = FluentArgs::new();
                for name in [
                    "name",
                    "email",
                    "room",
                    "count",
                    "subject",
                    "when",
                    "domain",
                    "organizer",
                    "number",
                    "pin",
                    "until",
                    "days",
                    "who",
                    "from",
                    "to",
                    "address",
                    "weekday",
                    "day",
                    "month",
                    "year",
                    "zone",
                    "seconds",
                ] {
                    args.set(name, FluentValue::from(1));
                }
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
                assert!(errors.is_empty(), "{}: {id}: {errors:?}", lang.code());
                assert!(!text.trim().is_empty(), "{}: {id} is empty", lang.code());
            }
        }
        assert!(catalog.browser_strings(Lang::Fr).contains_key("join"));
    }
}
