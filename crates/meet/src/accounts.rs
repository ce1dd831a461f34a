//! Accounts, sign-in sessions and OpenID Connect logins in flight.
//!
//! An account is an organizer row: the organizers made by `pont token create` are accounts
//! with no e-mail and no identity provider; an account signed in by OpenID Connect is found
//! again by its provider's `(issuer, subject)` pair, never by its e-mail (which a person may
//! change, and which another provider may assert too).
//!
//! A session is a server-side row behind a random cookie secret: only its SHA-256 is stored,
//! so a copy of the database opens no session. It ends when revoked (sign-out), when idle
//! longer than the caller's idle limit, or past its absolute lifetime.

use rusqlite::{OptionalExtension, Row, params};

use crate::store::{Organizer, OrganizerId, Store};
use crate::token::Token;
use crate::{MeetError, rfc3339};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Plans and runs meetings, owns recordings.
    #[default]
    Organizer,
    /// An organizer who also sees every account.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organizer => "organizer",
            Self::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Result<Self, MeetError> {
        match s {
            "organizer" => Ok(Self::Organizer),
            "admin" => Ok(Self::Admin),
            _ => Err(MeetError::Corrupt("organizers.role")),
        }
    }
}

/// A person who signs in: an organizer, with what the identity provider says of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: OrganizerId,
    pub name: String,
    /// From the identity provider; `None` for a token organizer.
    pub email: Option<String>,
    pub role: Role,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// The last sign-in or session use; `None` if the account never signed in.
    pub last_seen_at: Option<i64>,
}

impl Account {
    /// The organizer the rest of the store knows.
    pub fn organizer(&self) -> Organizer {
        Organizer {
            id: self.id,
            name: self.name.clone(),
            created_at: self.created_at,
        }
    }

    /// `created_at` as RFC 3339 UTC.
    pub fn created(&self) -> String {
        rfc3339::format_utc(self.created_at)
    }
}

/// What the identity provider asserted at a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
    pub name: String,
    pub email: Option<String>,
}

/// A live session, as found from its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account: Account,
    /// The synchronizer token the session's forms must send back.
    pub csrf: String,
}

/// How long sessions live, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused this long has ended.
    pub idle_secs: i64,
    /// A session this old has ended, however much it is used.
    pub absolute_secs: i64,
}

/// A session's last use is written at most this often: a page view is then a read, not a
/// write, except once a minute.
const TOUCH_EVERY_SECS: i64 = 60;

/// A login attempt not come back from the identity provider within this long is forgotten.
pub const LOGIN_ATTEMPT_SECS: i64 = 10 * 60;

/// What a login sent to the identity provider must find again at the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go once signed in (a local path).
    pub next: String,
}

const ACCOUNT_COLUMNS: &str = "id, name, email, role, created_at, last_seen_at";

fn account_row(r: &Row<'_>) -> rusqlite::Result<Result<Account, MeetError>> {
    let role: String = r.get(3)?;
    let (id, name, email, created_at, last_seen_at) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?);
    Ok(Role::parse(&role).map(|role| Account {
        id: OrganizerId(id),
        name,
        email,
        role,
        created_at,
        last_seen_at,
    }))
}

/// `s` with SQL `LIKE` wildcards escaped by `\`.
fn like_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    pub fn account(&self, id: OrganizerId) -> Result<Option<Account>, MeetError> {
        // Cached: every signed-in page view reads the account.
        self.conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM organizers WHERE id = ?1"
            ))?
            .query_row(params![id.0], account_row)
            .optional()?
            .transpose()
    }

    /// The account with this e-mail (case-insensitive), if exactly one has it.
    pub fn account_by_email(&self, email: &str) -> Result<Option<Account>, MeetError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM organizers WHERE email = ?1 COLLATE NOCASE LIMIT 2"
        ))?;
        let found: Vec<Account> = stmt
            .query_map(params![email.trim()], account_row)?
            .map(|r| r?)
            .collect::<Result<_, _>>()?;
        Ok(match <[Account; 1]>::try_from(found) {
            Ok([one]) => Some(one),
            Err(_) => None,
        })
    }

    /// The account an API names: its id (a JSON number) or its e-mail (a string).
    pub fn account_by_id_or_email(
        &self,
        who: &serde_json::Value,
    ) -> Result<Option<Account>, MeetError> {
        match who {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(id) => self.account(OrganizerId(id)),
                None => Ok(None),
            },
            serde_json::Value::String(e) => self.account_by_email(e),
            _ => Ok(None),
        }
    }

    /// The one account that has signed in whose e-mail, else whose name, is `text`
    /// (case-insensitive): what a person types to name someone.
    pub fn find_account(&self, text: &str) -> Result<Option<Account>, MeetError> {
        if let Some(a) = self.account_by_email(text)? {
            return Ok(Some(a));
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM organizers
             WHERE name = ?1 COLLATE NOCASE AND last_seen_at IS NOT NULL LIMIT 2"
        ))?;
        let found: Vec<Account> = stmt
            .query_map(params![text.trim()], account_row)?
            .map(|r| r?)
            .collect::<Result<_, _>>()?;
        Ok(match <[Account; 1]>::try_from(found) {
            Ok([one]) => Some(one),
            Err(_) => None,
        })
    }

    /// Accounts that have signed in, matched on name or e-mail (case-insensitive substring;
    /// every account when `query` is empty), by name, at most `limit`.
    pub fn search_accounts(&self, query: &str, limit: usize) -> Result<Vec<Account>, MeetError> {
        let pattern = format!("%{}%", like_escaped(query.trim()));
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM organizers
             WHERE last_seen_at IS NOT NULL
               AND (name LIKE ?1 ESCAPE '\\' OR IFNULL(email, '') LIKE ?1 ESCAPE '\\')
             ORDER BY name COLLATE NOCASE, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![pattern, i64::try_from(limit).unwrap_or(i64::MAX)],
            account_row,
        )?;
        rows.map(|r| r?).collect()
    }

    /// Every account, signed in or not, the newest first.
    pub fn all_accounts(&self) -> Result<Vec<Account>, MeetError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM organizers ORDER BY created_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map([], account_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn set_email(&mut self, id: OrganizerId, email: &str) -> Result<bool, MeetError> {
        let n = self.conn.execute(
            "UPDATE organizers SET email = ?2 WHERE id = ?1",
            params![id.0, email.trim()],
        )?;
        Ok(n > 0)
    }

    pub fn set_role(&mut self, id: OrganizerId, role: Role) -> Result<bool, MeetError> {
        let n = self.conn.execute(
            "UPDATE organizers SET role = ?2 WHERE id = ?1",
            params![id.0, role.as_str()],
        )?;
        Ok(n > 0)
    }

    /// The account of an OpenID Connect sign-in: found by `(issuer, subject)` and refreshed
    /// with the provider's name and e-mail, or created at once on a first sign-in. `admin`
    /// says whether the configuration makes this person an admin (an account listed once and
    /// then removed from the list goes back to organizer).
    pub fn sign_in_oidc(
        &mut self,
        who: &OidcIdentity,
        admin: bool,
        now_unix: i64,
    ) -> Result<Account, MeetError> {
        let name = Some(who.name.trim())
            .filter(|n| !n.is_empty())
            .or(who.email.as_deref())
            .unwrap_or(&who.subject)
            .to_owned();
        let role = if admin { Role::Admin } else { Role::Organizer };
        let tx = self.conn.transaction()?;
        let found: Option<i64> = tx
            .query_row(
                "SELECT id FROM organizers WHERE oidc_issuer = ?1 AND oidc_subject = ?2",
                params![who.issuer, who.subject],
                |r| r.get(0),
            )
            .optional()?;
        let id = match found {
            Some(id) => {
                tx.execute(
                    "UPDATE organizers SET name = ?2, email = ?3, role = ?4, last_seen_at = ?5
                     WHERE id = ?1",
                    params![id, name, who.email, role.as_str(), now_unix],
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO organizers
                         (name, email, oidc_issuer, oidc_subject, role, created_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![
                        name,
                        who.email,
                        who.issuer,
                        who.subject,
                        role.as_str(),
                        now_unix
                    ],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.commit()?;
        self.account(OrganizerId(id))?
            .ok_or(MeetError::Corrupt("organizers: the signed-in row vanished"))
    }

    /// A new session for `account`; returns the cookie secret (shown once, stored hashed).
    pub fn create_session(
        &mut self,
        account: OrganizerId,
        now_unix: i64,
    ) -> Result<Token, MeetError> {
        let secret = Token::generate();
        let csrf = Token::generate();
        self.conn.execute(
            "INSERT INTO sessions (sha256, organizer_id, csrf, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![
                Token::hash(secret.expose()),
                account.0,
                csrf.expose(),
                now_unix
            ],
        )?;
        self.conn.execute(
            "UPDATE organizers SET last_seen_at = ?2 WHERE id = ?1",
            params![account.0, now_unix],
        )?;
        Ok(secret)
    }

    /// The live session a cookie secret opens, if any; its last use is updated (at most once a
    /// minute).
    pub fn session(
        &mut self,
        secret: &str,
        limits: SessionLimits,
        now_unix: i64,
    ) -> Result<Option<Session>, MeetError> {
        let hash = Token::hash(secret);
        let row: Option<(i64, i64, String, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, organizer_id, csrf, created_at, last_seen_at FROM sessions
                 WHERE sha256 = ?1 AND revoked = 0",
            )?
            .query_row(params![hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((id, organizer, csrf, created, last_seen)) = row else {
            return Ok(None);
        };
        if now_unix - last_seen > limits.idle_secs || now_unix - created > limits.absolute_secs {
            return Ok(None);
        }
        if now_unix - last_seen >= TOUCH_EVERY_SECS {
            self.conn.execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1",
                params![id, now_unix],
            )?;
            self.conn.execute(
                "UPDATE organizers SET last_seen_at = ?2 WHERE id = ?1",
                params![organizer, now_unix],
            )?;
        }
        Ok(self
            .account(OrganizerId(organizer))?
            .map(|account| Session { account, csrf }))
    }

    /// Ends a session (sign-out); `false` if it was not a live one.
    pub fn revoke_session(&mut self, secret: &str) -> Result<bool, MeetError> {
        let n = self.conn.execute(
            "UPDATE sessions SET revoked = 1 WHERE sha256 = ?1 AND revoked = 0",
            params![Token::hash(secret)],
        )?;
        Ok(n > 0)
    }

    /// Keeps what the callback of a login must find again, under its `state`; forgets
    /// attempts older than [`LOGIN_ATTEMPT_SECS`].
    pub fn save_login_attempt(
        &mut self,
        state: &str,
        attempt: &LoginAttempt,
        now_unix: i64,
    ) -> Result<(), MeetError> {
        self.conn.execute(
            "DELETE FROM login_attempts WHERE created_at < ?1",
            params![now_unix - LOGIN_ATTEMPT_SECS],
        )?;
        self.conn.execute(
            "INSERT INTO login_attempts (state_sha256, nonce, pkce_verifier, next, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                Token::hash(state),
                attempt.nonce,
                attempt.pkce_verifier,
                attempt.next,
                now_unix
            ],
        )?;
        Ok(())
    }

    /// The login attempt of `state`, removed so that it serves once; `None` if unknown,
    /// already used or too old.
    pub fn take_login_attempt(
        &mut self,
        state: &str,
        now_unix: i64,
    ) -> Result<Option<LoginAttempt>, MeetError> {
        let hash = Token::hash(state);
        let row: Option<(LoginAttempt, i64)> = self
            .conn
            .query_row(
                "DELETE FROM login_attempts WHERE state_sha256 = ?1
                 RETURNING nonce, pkce_verifier, next, created_at",
                params![hash],
                |r| {
                    Ok((
                        LoginAttempt {
                            nonce: r.get(0)?,
                            pkce_verifier: r.get(1)?,
                            next: r.get(2)?,
                        },
                        r.get(3)?,
                    ))
                },
            )
            .optional()?;
        Ok(row
            .filter(|(_, created)| now_unix - created <= LOGIN_ATTEMPT_SECS)
            .map(|(a, _)| a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SessionLimits = SessionLimits {
        idle_secs: 3600,
        absolute_secs: 24 * 3600,
    };

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("pont.sqlite3")).unwrap();
        (dir, store)
    }

    fn alice() -> OidcIdentity {
        OidcIdentity {
            issuer: "https://idp.example".into(),
            subject: "a-1".into(),
            name: "Alice Martin".into(),
            email: Some("alice@univ.example".into()),
        }
    }

    #[test]
    fn a_first_sign_in_creates_the_account_and_the_next_finds_it_by_subject() {
        let (_dir, mut store) = store();
        let first = store.sign_in_oidc(&alice(), false, 100).unwrap();
        assert_eq!(first.name, "Alice Martin");
        assert_eq!(first.email.as_deref(), Some("alice@univ.example"));
        assert_eq!(first.role, Role::Organizer);
        assert_eq!(first.last_seen_at, Some(100));

        // Same subject, new e-mail and name: the same account, refreshed.
        let mut moved = alice();
        moved.email = Some("a.martin@univ.example".into());
        moved.name = "Alice Martin-Durand".into();
        let again = store.sign_in_oidc(&moved, true, 200).unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.email.as_deref(), Some("a.martin@univ.example"));
        assert_eq!(again.role, Role::Admin);
        assert_eq!(again.last_seen_at, Some(200));

        // Same subject at another issuer: another person.
        let mut other = alice();
        other.issuer = "https://other-idp.example".into();
        assert_ne!(store.sign_in_oidc(&other, false, 300).unwrap().id, first.id);
        assert_eq!(store.all_accounts().unwrap().len(), 2);
    }

    #[test]
    fn search_finds_signed_in_accounts_by_name_or_email_and_escapes_wildcards() {
        let (_dir, mut store) = store();
        store.sign_in_oidc(&alice(), false, 1).unwrap();
        let bob = OidcIdentity {
            subject: "b-2".into(),
            name: "Bob Durand".into(),
            email: Some("bob_d@elsewhere.example".into()),
            ..alice()
        };
        store.sign_in_oidc(&bob, false, 1).unwrap();
        // A token organizer that never signed in is not offered.
        store.create_organizer("Never Seen", 1).unwrap();

        let names = |q: &str| -> Vec<String> {
            store
                .search_accounts(q, 10)
                .unwrap()
                .into_iter()
                .map(|a| a.name)
                .collect()
        };
        assert_eq!(names(""), ["Alice Martin", "Bob Durand"]);
        assert_eq!(names("durand"), ["Bob Durand"]);
        assert_eq!(names("UNIV.EXAMPLE"), ["Alice Martin"]);
        assert_eq!(names("never"), Vec::<String>::new());
        // `_` is a letter here, not "any character".
        assert_eq!(names("b_d"), ["Bob Durand"]);
        assert_eq!(names("e_m"), Vec::<String>::new());
        assert_eq!(names("%"), Vec::<String>::new());
    }

    #[test]
    fn a_session_opens_until_revoked_idle_or_too_old() {
        let (_dir, mut store) = store();
        let account = store.sign_in_oidc(&alice(), false, 0).unwrap();
        let secret = store.create_session(account.id, 1000).unwrap();
        let live = store
            .session(secret.expose(), LIMITS, 1000)
            .unwrap()
            .unwrap();
        assert_eq!(live.account.id, account.id);
        assert!(live.csrf.len() >= 32);
        assert!(store.session("pont_other", LIMITS, 1000).unwrap().is_none());

        // Used every 50 minutes it stays open past one idle hour...
        for t in (1000..=1000 + 6 * 3000).step_by(3000) {
            assert!(
                store.session(secret.expose(), LIMITS, t).unwrap().is_some(),
                "{t}"
            );
        }
        // ...an hour and a second after the last use it has ended.
        assert!(
            store
                .session(secret.expose(), LIMITS, 1000 + 6 * 3000 + 3601)
                .unwrap()
                .is_none()
        );

        // However used, it ends a day after it began.
        let secret = store.create_session(account.id, 100_000).unwrap();
        let mut t = 100_000;
        while t <= 100_000 + 24 * 3600 {
            assert!(store.session(secret.expose(), LIMITS, t).unwrap().is_some());
            t += 1800;
        }
        assert!(store.session(secret.expose(), LIMITS, t).unwrap().is_none());

        // Sign-out ends it at once, and only once.
        let secret = store.create_session(account.id, 200_000).unwrap();
        assert!(store.revoke_session(secret.expose()).unwrap());
        assert!(!store.revoke_session(secret.expose()).unwrap());
        assert!(
            store
                .session(secret.expose(), LIMITS, 200_000)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_login_attempt_serves_once_and_not_after_ten_minutes() {
        let (_dir, mut store) = store();
        let attempt = LoginAttempt {
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            next: "/".into(),
        };
        store.save_login_attempt("s1", &attempt, 0).unwrap();
        assert_eq!(store.take_login_attempt("s2", 1).unwrap(), None);
        assert_eq!(
            store.take_login_attempt("s1", 1).unwrap(),
            Some(attempt.clone())
        );
        assert_eq!(store.take_login_attempt("s1", 2).unwrap(), None);

        store.save_login_attempt("s3", &attempt, 0).unwrap();
        assert_eq!(
            store
                .take_login_attempt("s3", LOGIN_ATTEMPT_SECS + 1)
                .unwrap(),
            None
        );
    }
}
