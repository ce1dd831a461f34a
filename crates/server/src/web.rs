//! The web client's meeting page, plain HTML/CSS/JS embedded in the binary (`include_str!`),
//! no build step. `assets/room.js` speaks `docs/signalling.md`; its strings come from the
//! portal's catalogues (`i18n.js` is generated from them at start). The home page is the
//! portal's (`pont-portal`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

const ROOM_HTML: &str = include_str!("../assets/room.html");
const ROOM_JS: &str = include_str!("../assets/room.js");
const ROOM_CSS: &str = include_str!("../assets/room.css");
const I18N_JS: &str = include_str!("../assets/i18n.js");

/// The meeting page for `room`; `known` is whether the meet store has it. `dialin` (the
/// trunk's numbers) and `pin` are shown for people who must fall back to the phone.
pub(crate) fn room_page(
    room: &str,
    known: bool,
    dialin: &[String],
    pin: Option<&str>,
) -> Html<String> {
    // The room comes from the URL: keep only digits, so nothing can be injected.
    let room: String = room.chars().filter(char::is_ascii_digit).take(20).collect();
    // Numbers and PINs are digits, `+` and spaces: anything else is left out.
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.'))
            .collect()
    };
    let numbers: Vec<String> = dialin.iter().map(|n| clean(n)).collect();
    Html(
        ROOM_HTML
            .replace("{{ROOM}}", &room)
            .replace("{{KNOWN}}", if known { "1" } else { "0" })
            .replace("{{DIALIN}}", &numbers.join(", "))
            .replace("{{PIN}}", &pin.map(clean).unwrap_or_default()),
    )
}

/// `GET /assets/{file}`.
/// "This meeting is being recorded" for the meeting page to play: the dial-in prompt, as
/// 16-bit PCM WAV (every browser plays it; the prompt files are G.711 µ-law).
fn notice_wav(lang: pont_ivr::Language) -> Response {
    let Some(wav) = pont_ivr::Prompt::Recorded.audio(lang) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let mut pcm = vec![0i16; wav.len()];
    wav.decode_into(0, &mut pcm);
    let body = pont_ivr::pcm16_wav(pont_ivr::SAMPLE_RATE, &pcm);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `assets/i18n.js` with both languages' `meeting-*` messages, built once.
fn i18n_js() -> Response {
    static JS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let js = JS.get_or_init(|| {
        let catalog = pont_portal::Catalog::new();
        let strings: serde_json::Map<String, serde_json::Value> = pont_portal::Lang::ALL
            .iter()
            .map(|lang| {
                let map = catalog.browser_strings(*lang);
                (lang.code().to_owned(), serde_json::json!(map))
            })
            .collect();
        // JSON is a JavaScript expression; `</` is escaped so no string can end a script.
        let json = serde_json::Value::Object(strings)
            .to_string()
            .replace("</", "<\\/");
        I18N_JS.replace("/*STRINGS*/", &json)
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        js.clone(),
    )
        .into_response()
}

pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "room.js" => (ROOM_JS, "text/javascript; charset=utf-8"),
        "i18n.js" => return i18n_js(),
        "room.css" => (ROOM_CSS, "text/css; charset=utf-8"),
        "recorded-en.wav" => return notice_wav(pont_ivr::Language::En),
        "recorded-fr.wav" => return notice_wav(pont_ivr::Language::Fr),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string the meeting page names (`data-i18n*` in its HTML, `t("…")` in its script)
    /// is a `meeting-*` message of both catalogues.
    #[test]
    fn the_meeting_page_finds_its_strings_in_both_catalogues() {
        let catalog = pont_portal::Catalog::new();
        let mut keys = Vec::new();
        for marker in ["data-i18n=\"", "data-i18n-label=\"", "data-i18n-ph=\""] {
            for (i, _) in ROOM_HTML.match_indices(marker) {
                let rest = &ROOM_HTML[i + marker.len()..];
                keys.push(rest.split('"').next().unwrap().to_owned());
            }
        }
        // Keys reach the catalogue through t(), message(), status() and the roster's button().
        for marker in ["t(\"", "message(\"", "status(\"", "button(\"", "kind_"] {
            for (i, _) in ROOM_JS.match_indices(marker) {
                // A whole word: `t("…")`, not `createElement("…")` or `params.get("…")`.
                let before = ROOM_JS[..i].chars().next_back().unwrap_or(' ');
                if marker != "kind_" && (before.is_ascii_alphanumeric() || before == '.') {
                    continue;
                }
                let rest = &ROOM_JS[i + marker.len()..];
                let key = rest.split('"').next().unwrap();
                let key = if marker == "kind_" {
                    format!("kind_{key}")
                } else {
                    key.to_owned()
                };
                if key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && key.len() > 1
                    && !key.ends_with('_')
                {
                    keys.push(key);
                }
            }
        }
        keys.extend(
            [
                "you",
                "rejoin",
                "unmute_mic",
                "start_camera",
                "turned_away",
                "ended",
                "removed",
                "chat_rate_limited",
                "chat_too_long",
                "not_moderator",
                "participant_not_found",
                "not_waiting",
                "still_waiting",
            ]
            .map(String::from),
        );
        assert!(keys.len() > 10, "{keys:?}");
        for lang in pont_portal::Lang::ALL {
            let strings = catalog.browser_strings(lang);
            let missing: Vec<_> = keys.iter().filter(|k| !strings.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{}: {missing:?}", lang.code());
        }
        // No words of its own: the text between tags is empty but for the brand, marks and
        // the language menu (each language in its own name).
        let mut text = String::new();
        let mut in_tag = false;
        for c in ROOM_HTML.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !["pont", "●", "{{ROOM}}", "EnglishFrançais", "·", "#"].contains(w))
            .filter(|w| !w.starts_with("pont"))
            .collect();
        assert!(words.is_empty(), "{words:?}");
    }
}
