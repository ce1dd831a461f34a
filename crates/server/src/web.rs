//! The web client: the home page and the meeting page, plain HTML/CSS/JS embedded in the
//! binary (`include_str!`), no build step. `assets/room.js` speaks `docs/signalling.md`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const ROOM_HTML: &str = include_str!("../assets/room.html");
const ROOM_JS: &str = include_str!("../assets/room.js");
const ROOM_CSS: &str = include_str!("../assets/room.css");
const I18N_JS: &str = include_str!("../assets/i18n.js");

/// `GET /`: join by room number, in French or English.
pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

/// The meeting page for `room`; `known` is whether the meet store has it.
pub(crate) fn room_page(room: &str, known: bool) -> Html<String> {
    // The room comes from the URL: keep only digits, so nothing can be injected.
    let room: String = room.chars().filter(char::is_ascii_digit).take(20).collect();
    Html(
        ROOM_HTML
            .replace("{{ROOM}}", &room)
            .replace("{{KNOWN}}", if known { "1" } else { "0" }),
    )
}

/// `GET /assets/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "room.js" => (ROOM_JS, "text/javascript; charset=utf-8"),
        "i18n.js" => (I18N_JS, "text/javascript; charset=utf-8"),
        "room.css" => (ROOM_CSS, "text/css; charset=utf-8"),
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
