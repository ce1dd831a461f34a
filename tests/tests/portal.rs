//! The organizer portal with real parts: the `pont` binary, npm's certified `oidc-provider`
//! (tests/oidc/provider.mjs) and headless Chromium.
//!
//! - In Chromium: "Sign in", the provider's login form, back signed in; the account has the
//!   provider's name and e-mail; the language switch; sign-out ends the session (the old
//!   cookie opens nothing); signing in again finds the same account.
//! - Over HTTP (a cookie jar, no browser): a replayed callback, a replayed code, a forged
//!   `state`, an ID token for another audience, expired, or signed by an unknown key, and an
//!   e-mail outside `allowed_domains` each get a clear page, no account and no session; the
//!   provider's HTML in a name is escaped; forms without the CSRF token change nothing.
//! - The provider down: a clear page, the rest of the portal unaffected.
//! - Without OIDC: token sign-in, both languages, bad and expired sessions, bad forms.
//!
//! Skips (and passes) with a message when node/oidc-provider or chromium is not installed.

use std::collections::BTreeMap;
use std::path::Path;

use pont_tests::oidc::OidcProvider;
use pont_tests::webdriver::{Driver, browser_available, poll};
use pont_tests::{EVENT_WAIT, ServeOptions, Server, create_token, get, send, workspace_root};
use serde_json::{Value, json};

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A pont with `[oidc]` pointing at `issuer`, on a port chosen before (the provider must know
/// the redirect URI before pont starts).
fn start_pont(dir: &Path, port: u16, issuer: &str, allowed: &[&str]) -> Server {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("pont.toml"),
        format!(
            "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"pont\"\nclient_secret = \"pont-secret\"\n\
             allowed_domains = {allowed:?}\nadmins = [\"alice.martin@univ-exemple.fr\"]\n"
        ),
    )
    .unwrap();
    let mut options = ServeOptions::new(dir);
    let http = options.args.iter().position(|a| a == "--http").unwrap();
    options.args[http + 1] = format!("127.0.0.1:{port}");
    Server::start_with(options).unwrap_or_else(|e| panic!("pont serve: {e:#?}"))
}

struct Setup {
    server: Server,
    provider: OidcProvider,
    base: String,
    _dir: tempfile::TempDir,
}

fn setup(allowed: &[&str]) -> Option<Setup> {
    let port = free_tcp_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = match OidcProvider::start(&[&format!("{base}/auth/callback")]) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return None;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_pont(dir.path(), port, provider.issuer(), allowed);
    Some(Setup {
        server,
        provider,
        base,
        _dir: dir,
    })
}

/// One hop of a browser-like client: status, `Location`, body, what it set.
#[derive(Debug)]
struct Hop {
    status: u16,
    location: Option<String>,
    body: String,
    set_cookies: Vec<String>,
}

/// Cookies by name (everything here is on 127.0.0.1, and the provider's names differ from
/// ours).
#[derive(Debug, Default, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn request(&mut self, url: &str, form: Option<&str>) -> Hop {
        let agent = pont_tests::client();
        let cookie: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cookie = cookie.join("; ");
        let result = match form {
            Some(body) => agent
                .post(url)
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .send(body),
            None => agent.get(url).header("cookie", &cookie).call(),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{url}: {e}"));
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                let gone = v.is_empty()
                    || c.contains("Max-Age=0")
                    || c.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
                if gone {
                    self.0.remove(k.trim());
                } else {
                    self.0.insert(k.trim().to_owned(), v.to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Hop {
            status: response.status().as_u16(),
            location,
            body,
            set_cookies,
        }
    }

    fn session(&self) -> Option<&str> {
        self.0.get("pont_session").map(String::as_str)
    }
}

/// `location` resolved against `from`'s origin.
fn resolve(from: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let origin_end = from[7..].find('/').map_or(from.len(), |i| i + 7);
    format!("{}{location}", &from[..origin_end])
}

/// A query parameter of `url`.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Starts a sign-in at pont, fills the provider's login form as `login`, and returns the
/// callback URL the provider sends back to pont (not yet visited).
fn to_callback(jar: &mut Jar, base: &str, login: &str) -> String {
    let hop = jar.request(&format!("{base}/auth/login"), None);
    assert_eq!(hop.status, 303, "{hop:?}");
    let mut url = hop.location.expect("to the provider");
    for _ in 0..12 {
        if url.starts_with(base) {
            return url;
        }
        let hop = jar.request(&url, None);
        match hop.status {
            302 | 303 => url = resolve(&url, hop.location.as_deref().unwrap()),
            200 => {
                // The provider's login form.
                let form = &hop.body[hop.body.find("<form").expect("a login form")..];
                let action = form
                    .split("action=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let posted = jar.request(
                    &resolve(&url, action),
                    Some(&format!("prompt=login&login={login}&password=x")),
                );
                assert!(matches!(posted.status, 302 | 303), "{posted:?}");
                url = resolve(&url, posted.location.as_deref().unwrap());
            }
            _ => panic!("unexpected answer from {url}: {hop:?}"),
        }
    }
    panic!("the provider never sent the browser back");
}

fn me(base: &str, session: &str) -> pont_tests::Reply {
    get(
        &format!("{base}/api/v1/me"),
        &[("cookie", &format!("pont_session={session}"))],
    )
}

fn accounts_matching(base: &str, session: &str, q: &str) -> Vec<Value> {
    let r = get(
        &format!("{base}/api/v1/accounts?q={q}"),
        &[("cookie", &format!("pont_session={session}"))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["accounts"].as_array().unwrap().clone()
}

/// The CSRF token of the page's forms.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form with a csrf field")
        .to_owned()
}

#[test]
fn sign_in_by_openid_connect_refuses_every_forgery_and_ends_at_sign_out() {
    let Some(s) = setup(&["univ-exemple.fr"]) else {
        return;
    };
    let base = s.base.clone();

    // Alice signs in: a session cookie, HttpOnly and SameSite=Lax, and back home.
    let mut alice = Jar::default();
    let callback = to_callback(&mut alice, &base, "alice");
    let hop = alice.request(&callback, None);
    assert_eq!(hop.status, 303, "{hop:?}");
    assert_eq!(hop.location.as_deref(), Some("/"));
    let cookie = hop
        .set_cookies
        .iter()
        .find(|c| c.starts_with("pont_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = alice.session().unwrap().to_owned();
    let who = me(&base, &session);
    assert_eq!(who.status, 200, "{who:?}");
    let who = who.json();
    assert_eq!(who["name"], "Alice Martin");
    assert_eq!(who["email"], "alice.martin@univ-exemple.fr");
    assert_eq!(who["role"], "admin", "alice is in [oidc] admins");
    let home = alice.request(&format!("{base}/"), None);
    assert!(home.body.contains("Hello, Alice Martin"), "{}", home.body);

    // The same callback again (its state is used up): refused, no new session.
    let mut replay = Jar::default();
    replay
        .0
        .insert("pont_login".into(), param(&callback, "state").unwrap());
    let hop = replay.request(&callback, None);
    assert_eq!(hop.status, 400, "{hop:?}");
    assert!(hop.body.contains("already used"), "{}", hop.body);
    assert!(replay.session().is_none());

    // The same code under a fresh login of this browser: the provider refuses it.
    let mut again = Jar::default();
    let start = again.request(&format!("{base}/auth/login"), None);
    let state = param(start.location.as_deref().unwrap(), "state").unwrap();
    let code = param(&callback, "code").unwrap();
    let hop = again.request(
        &format!("{base}/auth/callback?code={code}&state={state}"),
        None,
    );
    assert_eq!(hop.status, 403, "{hop:?}");
    assert!(hop.body.contains("refused"), "{}", hop.body);
    assert!(again.session().is_none());

    // A forged state with no login behind it.
    let mut forged = Jar::default();
    forged.0.insert("pont_login".into(), "abc".into());
    let hop = forged.request(&format!("{base}/auth/callback?code=x&state=abc"), None);
    assert_eq!(hop.status, 400, "{hop:?}");
    assert!(forged.session().is_none());
    // A real state from another browser (no login cookie here): refused as well.
    let mut victim = Jar::default();
    let callback_of_other = to_callback(&mut Jar::default(), &base, "eve");
    let hop = victim.request(&callback_of_other, None);
    assert_eq!(hop.status, 400, "{hop:?}");
    assert!(accounts_matching(&base, &session, "eve").is_empty());

    // Outside allowed_domains: the provider vouches for Bob, pont does not let him in.
    let mut bob = Jar::default();
    let callback = to_callback(&mut bob, &base, "bob");
    let hop = bob.request(&callback, None);
    assert_eq!(hop.status, 403, "{hop:?}");
    assert!(hop.body.contains("domain is not allowed"), "{}", hop.body);
    assert!(bob.session().is_none());
    assert!(accounts_matching(&base, &session, "durand").is_empty());

    // ID tokens for another audience, expired, or signed by a key not in the provider's JWKS.
    for (i, change) in [
        json!({"aud": "someone-else"}),
        json!({"exp": "past"}),
        json!({"key": "other"}),
    ]
    .into_iter()
    .enumerate()
    {
        s.provider.tamper(change.clone());
        let login = format!("forged{i}");
        let mut jar = Jar::default();
        let callback = to_callback(&mut jar, &base, &login);
        let hop = jar.request(&callback, None);
        assert_eq!(hop.status, 403, "{change}: {hop:?}");
        assert!(
            hop.body.contains("could not be verified"),
            "{change}: {}",
            hop.body
        );
        assert!(jar.session().is_none(), "{change}");
        assert!(
            accounts_matching(&base, &session, &login).is_empty(),
            "{change}"
        );
    }
    s.provider.tamper(json!({}));

    // What the provider says is text, never markup.
    let mut mallory = Jar::default();
    let callback = to_callback(&mut mallory, &base, "mallory");
    assert_eq!(mallory.request(&callback, None).status, 303);
    let page = mallory.request(&format!("{base}/"), None);
    assert!(
        page.body.contains("&#60;script&#62;alert("),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert_eq!(accounts_matching(&base, &session, "mallory").len(), 1);

    // Forms without the session's token change nothing.
    let hop = alice.request(&format!("{base}/meetings/instant"), Some("subject=forged"));
    assert_eq!(hop.status, 403, "{hop:?}");
    let hop = alice.request(&format!("{base}/auth/logout"), Some(""));
    assert_eq!(hop.status, 403, "{hop:?}");
    assert_eq!(me(&base, &session).status, 200, "still signed in");
    // A cookie-borne API call from another site: refused; from our pages: accepted.
    let cross = send(
        "POST",
        &format!("{base}/api/v1/meetings/instant"),
        &[
            ("cookie", &format!("pont_session={session}")),
            ("content-type", "application/json"),
            ("origin", "https://evil.example"),
        ],
        r#"{"subject":"cross-site"}"#,
    );
    assert_eq!(cross.status, 403, "{cross:?}");
    assert_eq!(cross.error_code(), "csrf_failed");
    // With the token, the form starts a meeting and opens its page.
    let token = csrf_of(&home.body);
    let hop = alice.request(
        &format!("{base}/meetings/instant"),
        Some(&format!("csrf={token}&subject=Seminar")),
    );
    assert_eq!(hop.status, 303, "{hop:?}");
    let room = hop.location.unwrap();
    assert!(room.starts_with("/r/"), "{room}");
    let meetings = alice.request(&format!("{base}/meetings"), None);
    assert!(meetings.body.contains("Seminar"), "{}", meetings.body);

    // Sign-out ends the session: the old cookie opens nothing, the pages are signed out.
    let hop = alice.request(
        &format!("{base}/auth/logout"),
        Some(&format!("csrf={token}")),
    );
    assert_eq!(hop.status, 303, "{hop:?}");
    assert!(alice.session().is_none(), "the cookie is cleared");
    assert_eq!(me(&base, &session).status, 401);
    let mut old = Jar::default();
    old.0.insert("pont_session".into(), session.clone());
    let page = old.request(&format!("{base}/"), None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("href=\"/signin\""), "{}", page.body);
    let hop = old.request(&format!("{base}/meetings"), None);
    assert_eq!(hop.status, 303);
    assert_eq!(hop.location.as_deref(), Some("/signin?next=/meetings"));

    // Signing in again finds the same account.
    let mut alice2 = Jar::default();
    let callback = to_callback(&mut alice2, &base, "alice");
    assert_eq!(alice2.request(&callback, None).status, 303);
    let again = me(&base, alice2.session().unwrap()).json();
    assert_eq!(again["id"], who["id"]);
    assert!(s.server.stderr().lines().all(|l| !l.contains("panicked")));
}

#[test]
fn with_the_provider_down_sign_in_says_so_and_the_rest_works() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let issuer = format!("http://127.0.0.1:{}", free_tcp_port());
    let server = start_pont(dir.path(), free_tcp_port(), &issuer, &[]);
    let r = get(&server.url("/auth/login"), &[("accept-language", "fr")]);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("ne répond pas"), "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(get(&server.url("/"), &[]).status, 200);
    assert_eq!(get(&server.url("/signin"), &[]).status, 200);
    assert_eq!(get(&server.url("/healthz"), &[]).status, 200);
    let token = create_token(&dir.path().join("data"), "ops");
    let r = send(
        "POST",
        &server.url("/api/v1/meetings/instant"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        r#"{"subject":"still works"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
}

#[test]
fn pages_speak_both_languages_and_bad_sessions_and_forms_get_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let link = server
        .stdout
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("/signin?token=")))
        .expect("first-start link")
        .to_owned();

    // Signed out, by the browser's language.
    let en = get(&server.url("/"), &[("accept-language", "en-GB,en;q=0.9")]);
    assert!(en.body.contains("<html lang=\"en\">") && en.body.contains("Join a meeting"));
    let fr = get(
        &server.url("/"),
        &[("accept-language", "fr-FR,fr;q=0.9,en;q=0.5")],
    );
    assert!(fr.body.contains("<html lang=\"fr\">"), "{}", fr.body);
    assert!(fr.body.contains("Rejoindre une réunion"), "{}", fr.body);
    // The switch remembers the choice (a cookie scripts can read) and goes back.
    let r = get(&server.url("/lang/fr?next=/signin"), &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/signin"));
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.starts_with("pont_lang=fr;") && !set.contains("HttpOnly"),
        "{set}"
    );
    let r = get(&server.url("/lang/fr?next=//evil.example"), &[]);
    assert_eq!(r.header("location"), Some("/"));
    let signin = get(
        &server.url("/signin"),
        &[("cookie", "pont_lang=fr"), ("accept-language", "en")],
    );
    assert!(signin.body.contains("Connexion"), "{}", signin.body);
    // The meeting page's script gets the same catalogues.
    let js = get(&server.url("/assets/i18n.js"), &[]).body;
    assert!(
        js.contains("Couper le micro") && js.contains("Mute microphone"),
        "{js}"
    );

    // The first-start link opens a session for the default organizer, an admin.
    let r = get(&link, &[]);
    assert_eq!(r.status, 303, "{r:?}");
    let pair = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(pair.starts_with("pont_session="), "{pair}");
    let home = get(
        &server.url("/"),
        &[("cookie", &pair), ("accept-language", "fr")],
    );
    assert!(
        home.body.contains("Lancer une réunion immédiate"),
        "{}",
        home.body
    );
    let admin = get(&server.url("/admin/accounts"), &[("cookie", &pair)]);
    assert_eq!(admin.status, 200);
    assert!(admin.body.contains("default"), "{}", admin.body);

    // An organizer who is not an admin does not see the accounts.
    let token = create_token(&dir.path().join("data"), "Bea");
    let r = get(&server.url(&format!("/signin?token={token}")), &[]);
    let bea = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = get(&server.url("/admin/accounts"), &[("cookie", &bea)]);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("administrators"), "{}", r.body);
    let me = get(&server.url("/api/v1/me"), &[("cookie", &bea)]).json();
    assert_eq!(me["name"], "Bea");
    assert_eq!(me["role"], "organizer");
    assert_eq!(me["email"], Value::Null);

    // Unknown, malformed or expired sessions: the signed-out pages, never a 500.
    for bad in [
        "pont_session=pont_00",
        "pont_session=%%%<>",
        "pont_session=\"x;;=",
    ] {
        let r = get(&server.url("/"), &[("cookie", bad)]);
        assert_eq!(r.status, 200, "{bad}: {r:?}");
        assert!(r.body.contains("href=\"/signin\""), "{bad}");
        let r = get(&server.url("/meetings"), &[("cookie", bad)]);
        assert_eq!(r.status, 303, "{bad}");
        assert_eq!(
            get(&server.url("/api/v1/me"), &[("cookie", bad)]).status,
            401
        );
    }

    // A subject too long: the form again, with the message in the visitor's language.
    let csrf = csrf_of(&home.body);
    let long = "x".repeat(201);
    let r = send(
        "POST",
        &server.url("/meetings/instant"),
        &[
            ("cookie", &pair),
            ("accept-language", "fr"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &format!("csrf={csrf}&subject={long}"),
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body
            .contains("objet est trop long : 200 caractères au plus."),
        "{}",
        r.body
    );
    assert!(r.body.contains("aria-invalid=\"true\""));
    // A body past the form limit, and one that is not a form: the page again, with why.
    let huge = format!("csrf={csrf}&subject={}", "y".repeat(64 * 1024));
    let r = send(
        "POST",
        &server.url("/meetings/instant"),
        &[
            ("cookie", &pair),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &huge,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("The form is too large"), "{}", r.body);
    let r = send(
        "POST",
        &server.url("/meetings/instant"),
        &[("cookie", &pair), ("content-type", "application/json")],
        "{}",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("could not be read"), "{}", r.body);
    // Nothing of that made a meeting.
    let meetings = get(&server.url("/meetings"), &[("cookie", &pair)]);
    assert!(
        meetings.body.contains("You have no meeting yet."),
        "{}",
        meetings.body
    );
    assert!(server.stderr().lines().all(|l| !l.contains("panicked")));
}

#[test]
fn a_person_signs_in_with_their_institution_in_chromium_and_out_again() {
    let (chromium, driver) = match browser_available() {
        Ok(paths) => paths,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let Some(s) = setup(&[]) else {
        return;
    };
    let base = s.base.clone();
    let shots = workspace_root().join("target").join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start(&chromium, &driver);
    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(profile.path(), &["--lang=en-US".into()]);
    let wait = |what: &str, script: &str| {
        poll(EVENT_WAIT, || {
            b.exec(script, json!([]))
                .as_bool()
                .unwrap_or(false)
                .then_some(())
        })
        .unwrap_or_else(|| panic!("{what}: at {}", b.current_url()));
    };

    b.navigate(&format!("{base}/"));
    wait(
        "the home page",
        "return !!document.querySelector('a[href=\"/signin\"]');",
    );
    std::fs::write(shots.join("portal-home-signed-out-en.png"), b.screenshot()).unwrap();
    b.exec(
        "document.querySelector('header a[href=\"/signin\"]').click();",
        json!([]),
    );
    wait(
        "the sign-in page",
        "return !!document.getElementById('signin-sso');",
    );
    b.exec("document.getElementById('signin-sso').click();", json!([]));
    wait(
        "the provider's login form",
        "return !!document.querySelector('input[name=login]');",
    );
    b.exec(
        "document.querySelector('input[name=login]').value = 'alice';
         document.querySelector('input[name=password]').value = 'secret';
         document.querySelector('button[type=submit]').click();",
        json!([]),
    );
    let signed_in = format!(
        "return location.href === '{base}/' && \
         document.querySelector('h1').textContent.includes('Alice Martin');"
    );
    wait("back signed in", &signed_in);
    let who = b.exec_async(
        "const done = arguments[arguments.length - 1];
         fetch('/api/v1/me').then(r => r.json()).then(done, e => done(String(e)));",
    );
    assert_eq!(who["name"], "Alice Martin", "{who}");
    assert_eq!(who["email"], "alice.martin@univ-exemple.fr", "{who}");
    std::fs::write(shots.join("portal-home-signed-in-en.png"), b.screenshot()).unwrap();

    // The language switch, kept for the next pages.
    b.exec(
        "document.querySelector('a[hreflang=fr]').click();",
        json!([]),
    );
    wait(
        "the French home page",
        "return document.documentElement.lang === 'fr' && \
         document.querySelector('h1').textContent.includes('Bonjour');",
    );
    std::fs::write(shots.join("portal-home-signed-in-fr.png"), b.screenshot()).unwrap();
    b.navigate(&format!("{base}/meetings"));
    wait(
        "the meetings page in French",
        "return document.querySelector('h1').textContent === 'Réunions';",
    );

    // Sign out with the button; the old cookie opens nothing afterwards.
    let cookie = b.cookie("pont_session").expect("a session cookie");
    b.exec(
        "document.querySelector('form[action=\"/auth/logout\"] button').click();",
        json!([]),
    );
    wait(
        "signed out",
        "return !!document.querySelector('header a[href=\"/signin\"]');",
    );
    assert!(b.cookie("pont_session").is_none());
    assert_eq!(me(&base, &cookie).status, 401);
    b.exec(
        "document.querySelector('a[hreflang=en]').click();",
        json!([]),
    );
    wait(
        "English again",
        "return document.documentElement.lang === 'en';",
    );

    // Signing in again (the provider remembers the person): the same account.
    b.navigate(&format!("{base}/auth/login"));
    wait(
        "back signed in",
        &signed_in.replace("Alice Martin", "Alice"),
    );
    let again = b.exec_async(
        "const done = arguments[arguments.length - 1];
         fetch('/api/v1/me').then(r => r.json()).then(done, e => done(String(e)));",
    );
    assert_eq!(again["id"], who["id"], "{again}");
}
