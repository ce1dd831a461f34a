//! One caller's way through the IVR: room number, PIN, joining, then `*6` while in the call.

use std::collections::VecDeque;
use std::time::Duration;

use pont_types::{Pii, Pt, RoomId, Timestamp};

use crate::info::InfoError;
use crate::player::PromptPlayer;
use crate::prompt::{Language, Prompt};
use crate::receiver::{DtmfConfig, DtmfReceiver, DtmfStats};
use crate::{Digit, FRAME_SAMPLES};

/// Limits and timers of one IVR call; `Default` explains each number.
#[derive(Debug, Clone)]
pub struct IvrConfig {
    /// The dial-in number's language.
    pub language: Language,
    /// Keys in a room number before `#`. 12: room numbers are at most 12 digits (fits `u64`
    /// with room to spare); a 13th key makes the entry a wrong one at once.
    pub max_room_digits: usize,
    /// Keys in a PIN before `#`, same reasoning.
    pub max_pin_digits: usize,
    /// Wrong room numbers, and separately wrong PINs, before goodbye. 3, as the issue asks.
    pub max_attempts: u32,
    /// Silence after a prompt before "please try again". 10 s: time to find the invitation.
    pub first_digit_timeout: Duration,
    /// Silence between two keys before "please try again". 5 s (the common IVR default).
    pub inter_digit_timeout: Duration,
    /// Longest one entry (prompt end or first key, to `#`) may take, however keys keep coming:
    /// 60 s, so slow endless keying ends too.
    pub entry_timeout: Duration,
    /// Timeouts in the whole call before goodbye: 3 (so "try again" is said twice).
    pub max_timeouts: u32,
    /// Longest time from answer to joining, whatever happens: 3 minutes.
    pub max_ivr_time: Duration,
    /// How long the application may take to answer a room lookup or PIN check: 10 s.
    pub app_timeout: Duration,
    /// In the call, `6` counts as `*6` when it follows `*` within this: 2 s.
    pub mute_key_window: Duration,
    /// De-duplication and rate limit of the DTMF paths.
    pub dtmf: DtmfConfig,
}

impl Default for IvrConfig {
    fn default() -> Self {
        Self {
            language: Language::En,
            max_room_digits: 12,
            max_pin_digits: 12,
            max_attempts: 3,
            first_digit_timeout: Duration::from_secs(10),
            inter_digit_timeout: Duration::from_secs(5),
            entry_timeout: Duration::from_secs(60),
            max_timeouts: 3,
            max_ivr_time: Duration::from_secs(180),
            app_timeout: Duration::from_secs(10),
            mute_key_window: Duration::from_secs(2),
            dtmf: DtmfConfig::default(),
        }
    }
}

/// The application's answer to [`IvrEvent::LookupRoom`] when the room exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomInfo {
    /// Ask for a PIN (the IVR never sees the PIN itself, only [`IvrEvent::VerifyPin`]).
    pub has_pin: bool,
    /// Say "this meeting is being recorded" before joining.
    pub recording: bool,
}

/// The application's answer to [`IvrEvent::VerifyPin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    Correct,
    Wrong,
    /// Too many failures for this caller or room ([`crate::PinGuard`]): goodbye at once.
    Blocked,
}

/// Why the IVR hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupReason {
    /// `max_attempts` wrong room numbers.
    WrongRoom,
    /// `max_attempts` wrong PINs.
    WrongPin,
    /// The application refused PIN attempts (guessing protection).
    PinBlocked,
    /// `max_timeouts` timeouts without a complete entry.
    NoInput,
    /// `max_ivr_time` passed before joining.
    TooLong,
    /// The application did not answer a lookup or PIN check in time.
    AppTimeout,
    /// The room exists but cannot be joined now (locked by its organizer, or full).
    RoomUnavailable,
    /// A moderator removed the caller, turned them away or ended the meeting.
    Moderator,
}

/// What the IVR asks of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrEvent {
    /// A prompt was queued (for logs and tests; the audio comes from `poll_frame`).
    Play(Prompt),
    /// Does this room exist, has it a PIN, is it recording? Answer with
    /// [`IvrCall::room_info`].
    LookupRoom(RoomId),
    /// Is this the room's PIN? Answer with [`IvrCall::pin_result`] (through
    /// [`crate::PinGuard::check`]). The PIN is wrapped so logging the event redacts it.
    VerifyPin { room: RoomId, pin: Pii<String> },
    /// Add the caller to the room as a `pstn` participant; the prompts are over. Keep feeding
    /// DTMF and polling: `*6` still works.
    Join { room: RoomId },
    /// The caller keyed `*6` in the call: flip their mute. A confirmation tone is queued.
    ToggleMute,
    /// The caller keyed 1–9 in the call (not after `*`): a vote, when a poll is open.
    Key(u8),
    /// Send BYE; the goodbye prompt has been played. Nothing more will happen.
    Hangup(HangupReason),
}

/// Where the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    EnterRoom,
    LookupRoom,
    EnterPin,
    VerifyPin,
    Joining,
    InCall,
    Leaving,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Room,
    Pin { room: RoomId, recording: bool },
}

#[derive(Debug)]
enum State {
    Entry {
        kind: Entry,
        digits: String,
        /// When the prompt ended or the first key came: the entry timeout runs from here.
        started: Option<Timestamp>,
        /// When the prompt ended or `*` cleared: the first-digit timeout runs from here.
        waiting_since: Option<Timestamp>,
        last_digit: Option<Timestamp>,
    },
    Lookup {
        room: RoomId,
        since: Timestamp,
    },
    Verify {
        room: RoomId,
        recording: bool,
        since: Timestamp,
    },
    Joining {
        room: RoomId,
    },
    InCall {
        star_at: Option<Timestamp>,
    },
    Leaving(HangupReason),
    Ended,
}

impl State {
    fn entry(kind: Entry) -> Self {
        Self::Entry {
            kind,
            digits: String::new(),
            started: None,
            waiting_since: None,
            last_digit: None,
        }
    }
}

/// One phone caller in the IVR, from answer to hang-up or join (and `*6` after).
///
/// Methods, in quinn-proto's four families:
/// - getters: [`phase`](Self::phase), [`dtmf_stats`](Self::dtmf_stats);
/// - inputs: [`handle_rtp_event`](Self::handle_rtp_event),
///   [`handle_sip_info`](Self::handle_sip_info), [`handle_pcm`](Self::handle_pcm),
///   [`handle_digit`](Self::handle_digit), [`handle_timeout`](Self::handle_timeout);
/// - commands (answers from the application): [`room_info`](Self::room_info),
///   [`pin_result`](Self::pin_result), [`set_telephone_event_pt`](Self::set_telephone_event_pt);
/// - outputs: [`poll_event`](Self::poll_event) until `None`, then
///   [`poll_frame`](Self::poll_frame) on each 20 ms packetisation tick until `None`, then
///   [`poll_timeout`](Self::poll_timeout) for the next `handle_timeout`.
#[derive(Debug)]
pub struct IvrCall {
    config: IvrConfig,
    answered_at: Timestamp,
    state: State,
    player: PromptPlayer,
    dtmf: DtmfReceiver,
    events: VecDeque<IvrEvent>,
    room_failures: u32,
    pin_failures: u32,
    timeouts: u32,
}

impl IvrCall {
    /// The call was answered at `now`: the welcome prompt starts.
    pub fn new(now: Timestamp, config: IvrConfig) -> Self {
        let mut call = Self {
            player: PromptPlayer::new(config.language),
            dtmf: DtmfReceiver::new(now, config.dtmf.clone()),
            config,
            answered_at: now,
            state: State::entry(Entry::Room),
            events: VecDeque::new(),
            room_failures: 0,
            pin_failures: 0,
            timeouts: 0,
        };
        call.play(now, Prompt::Welcome);
        call.play(now, Prompt::EnterRoom);
        call
    }

    // ---- getters ----

    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Entry {
                kind: Entry::Room, ..
            } => Phase::EnterRoom,
            State::Entry {
                kind: Entry::Pin { .. },
                ..
            } => Phase::EnterPin,
            State::Lookup { .. } => Phase::LookupRoom,
            State::Verify { .. } => Phase::VerifyPin,
            State::Joining { .. } => Phase::Joining,
            State::InCall { .. } => Phase::InCall,
            State::Leaving(_) => Phase::Leaving,
            State::Ended => Phase::Ended,
        }
    }

    pub fn dtmf_stats(&self) -> DtmfStats {
        self.dtmf.stats()
    }

    /// Whether a prompt or tone is being played at `now`.
    pub fn is_playing(&self, now: Timestamp) -> bool {
        self.player.end_time().is_some_and(|end| end > now)
    }

    // ---- inputs ----

    /// See [`DtmfReceiver::set_telephone_event_pt`].
    pub fn set_telephone_event_pt(&mut self, pt: Option<Pt>) {
        self.dtmf.set_telephone_event_pt(pt);
    }

    /// An RTP packet of the caller's leg; `false` when it is not a telephone-event (decode it
    /// as audio and pass it to [`handle_pcm`](Self::handle_pcm)).
    pub fn handle_rtp_event(
        &mut self,
        now: Timestamp,
        pt: Pt,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> bool {
        let used = self.dtmf.handle_rtp_event(now, pt, rtp_timestamp, payload);
        self.pump(now);
        used
    }

    /// A SIP INFO in the caller's dialog; `Err(NotDtmf)` when it is about something else.
    pub fn handle_sip_info(
        &mut self,
        now: Timestamp,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), InfoError> {
        let r = self.dtmf.handle_sip_info(now, content_type, body);
        self.pump(now);
        r
    }

    /// The caller's decoded audio at 8 kHz, in RTP order (in-band DTMF).
    pub fn handle_pcm(&mut self, now: Timestamp, pcm: &[i16]) {
        self.dtmf.handle_pcm(now, pcm);
        self.pump(now);
    }

    /// A key press known some other way (it goes through de-duplication as if it were an
    /// RFC 4733 event).
    pub fn handle_digit(&mut self, now: Timestamp, digit: Digit) {
        self.dtmf
            .handle_digit(now, digit, crate::DtmfSource::Rfc4733);
        self.pump(now);
    }

    fn pump(&mut self, now: Timestamp) {
        self.handle_timeout(now);
        while let Some(d) = self.dtmf.poll_digit() {
            self.on_digit(now, d.digit);
        }
    }

    /// Runs whatever is due at `now`: the end of a prompt, timeouts.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if matches!(self.state, State::Ended) {
            return;
        }
        let before_call = !matches!(
            self.state,
            State::InCall { .. } | State::Leaving(_) | State::Ended
        );
        if before_call && now.saturating_since(self.answered_at) >= self.config.max_ivr_time {
            tracing::debug!("too long in the IVR");
            self.leave(now, None, HangupReason::TooLong);
            return;
        }
        if let Some(end) = self.player.end_time()
            && end <= now
        {
            self.player.stop();
            self.on_playback_done(end);
        }
        let cfg = &self.config;
        match &self.state {
            State::Entry {
                kind,
                digits,
                started,
                waiting_since,
                last_digit,
            } => {
                let kind = *kind;
                let expired = started.is_some_and(|t| now.saturating_since(t) >= cfg.entry_timeout)
                    || match (digits.is_empty(), waiting_since, last_digit) {
                        (true, Some(w), _) => now.saturating_since(*w) >= cfg.first_digit_timeout,
                        (false, _, Some(l)) => now.saturating_since(*l) >= cfg.inter_digit_timeout,
                        _ => false,
                    };
                if expired {
                    self.on_entry_timeout(now, kind);
                }
            }
            State::Lookup { since, .. } | State::Verify { since, .. }
                if now.saturating_since(*since) >= cfg.app_timeout =>
            {
                tracing::warn!("no answer from the application");
                self.leave(now, None, HangupReason::AppTimeout);
            }
            _ => {}
        }
    }

    /// The application's answer to [`IvrEvent::LookupRoom`]: `None` when there is no such room.
    pub fn room_info(&mut self, now: Timestamp, info: Option<RoomInfo>) {
        self.handle_timeout(now);
        let State::Lookup { room, .. } = self.state else {
            tracing::debug!("room_info without a lookup pending; ignored");
            return;
        };
        match info {
            None => self.wrong_room(now),
            Some(RoomInfo {
                has_pin: true,
                recording,
            }) => {
                self.state = State::entry(Entry::Pin { room, recording });
                self.play(now, Prompt::EnterPin);
            }
            Some(RoomInfo {
                has_pin: false,
                recording,
            }) => self.join(now, room, recording),
        }
    }

    /// The application's answer to [`IvrEvent::LookupRoom`] or [`IvrEvent::VerifyPin`] when
    /// the room exists but cannot be joined now (locked, full): the caller is told so, then
    /// goodbye and hang-up. Ignored unless a lookup or a PIN check is pending.
    pub fn room_unavailable(&mut self, now: Timestamp) {
        self.handle_timeout(now);
        if matches!(self.state, State::Lookup { .. } | State::Verify { .. }) {
            self.leave(
                now,
                Some(Prompt::Unavailable),
                HangupReason::RoomUnavailable,
            );
        } else {
            tracing::debug!("room_unavailable without a lookup or check pending; ignored");
        }
    }

    /// The application's answer to [`IvrEvent::VerifyPin`].
    pub fn pin_result(&mut self, now: Timestamp, check: PinCheck) {
        self.handle_timeout(now);
        let State::Verify {
            room, recording, ..
        } = self.state
        else {
            tracing::debug!("pin_result without a check pending; ignored");
            return;
        };
        match check {
            PinCheck::Correct => self.join(now, room, recording),
            PinCheck::Wrong => self.wrong_pin(now, room, recording),
            PinCheck::Blocked => self.leave(now, None, HangupReason::PinBlocked),
        }
    }

    // ---- outputs ----

    pub fn poll_event(&mut self) -> Option<IvrEvent> {
        self.events.pop_front()
    }

    /// The next 20 ms of 8 kHz PCM to send the caller, when a prompt or tone is due; see
    /// [`PromptPlayer::poll_frame`]. `None`: send silence before joining, the room's mix after.
    pub fn poll_frame(&mut self, now: Timestamp) -> Option<&[i16; FRAME_SAMPLES]> {
        self.player.poll_frame(now)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` once ended (or in the
    /// call with nothing playing).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let cfg = &self.config;
        let mut next = self.player.end_time();
        let mut at = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        match &self.state {
            State::Ended => return None,
            State::InCall { .. } | State::Leaving(_) => return next,
            State::Entry {
                digits,
                started,
                waiting_since,
                last_digit,
                ..
            } => {
                if let Some(t) = started {
                    at(*t + cfg.entry_timeout);
                }
                match (digits.is_empty(), waiting_since, last_digit) {
                    (true, Some(w), _) => at(*w + cfg.first_digit_timeout),
                    (false, _, Some(l)) => at(*l + cfg.inter_digit_timeout),
                    _ => {}
                }
            }
            State::Lookup { since, .. } | State::Verify { since, .. } => {
                at(*since + cfg.app_timeout);
            }
            State::Joining { .. } => {}
        }
        at(self.answered_at + cfg.max_ivr_time);
        next
    }

    // ---- the flow ----

    fn play(&mut self, now: Timestamp, prompt: Prompt) {
        self.player.play(now, prompt);
        self.events.push_back(IvrEvent::Play(prompt));
    }

    fn on_playback_done(&mut self, end: Timestamp) {
        match &mut self.state {
            State::Entry {
                digits,
                started,
                waiting_since,
                ..
            } => {
                if digits.is_empty() && waiting_since.is_none() {
                    *waiting_since = Some(end);
                }
                started.get_or_insert(end);
            }
            State::Joining { room } => {
                let room = *room;
                tracing::info!(%room, "joining");
                self.events.push_back(IvrEvent::Join { room });
                self.state = State::InCall { star_at: None };
            }
            State::Leaving(reason) => {
                let reason = *reason;
                tracing::info!(?reason, "IVR hangs up");
                self.events.push_back(IvrEvent::Hangup(reason));
                self.state = State::Ended;
            }
            _ => {}
        }
    }

    fn on_digit(&mut self, now: Timestamp, digit: Digit) {
        let max_digits = match &self.state {
            State::Entry {
                kind: Entry::Room, ..
            } => self.config.max_room_digits,
            State::Entry { .. } => self.config.max_pin_digits,
            State::InCall { star_at } => {
                let star_at = *star_at;
                self.in_call_digit(now, digit, star_at);
                return;
            }
            _ => {
                tracing::trace!("key ignored in {:?}", self.phase());
                return;
            }
        };
        // Barge-in: a key stops the prompt and counts.
        if self.is_playing(now) {
            self.player.stop();
        }
        let State::Entry {
            kind,
            digits,
            started,
            waiting_since,
            last_digit,
        } = &mut self.state
        else {
            unreachable!("checked above");
        };
        let kind = *kind;
        started.get_or_insert(now);
        // After a barge-in the prompt never "ended": the first-digit timer starts here.
        waiting_since.get_or_insert(now);
        if digit == Digit::STAR {
            digits.clear();
            *waiting_since = Some(now);
            *last_digit = None;
            tracing::debug!("entry cleared");
            return;
        }
        if digit == Digit::POUND {
            let entered = std::mem::take(digits);
            tracing::debug!(entered = %Pii(&entered), ?kind, "entry complete");
            self.submit(now, kind, entered);
            return;
        }
        let Some(d) = digit.decimal() else {
            return; // A–D mean nothing here.
        };
        digits.push(char::from(b'0' + d));
        *last_digit = Some(now);
        tracing::trace!(so_far = %Pii(&*digits), "key");
        if digits.len() > max_digits {
            tracing::debug!("entry too long");
            let entered = std::mem::take(digits);
            self.reject(now, kind, entered);
        }
    }

    fn submit(&mut self, now: Timestamp, kind: Entry, entered: String) {
        if entered.is_empty() {
            return self.reject(now, kind, entered);
        }
        match kind {
            Entry::Room => match entered.parse::<RoomId>() {
                Ok(room) => {
                    self.state = State::Lookup { room, since: now };
                    self.events.push_back(IvrEvent::LookupRoom(room));
                }
                Err(_) => self.wrong_room(now),
            },
            Entry::Pin { room, recording } => {
                self.state = State::Verify {
                    room,
                    recording,
                    since: now,
                };
                self.events.push_back(IvrEvent::VerifyPin {
                    room,
                    pin: Pii(entered),
                });
            }
        }
    }

    fn reject(&mut self, now: Timestamp, kind: Entry, _entered: String) {
        match kind {
            Entry::Room => self.wrong_room(now),
            Entry::Pin { room, recording } => self.wrong_pin(now, room, recording),
        }
    }

    fn wrong_room(&mut self, now: Timestamp) {
        self.room_failures += 1;
        tracing::debug!(failures = self.room_failures, "wrong room number");
        if self.room_failures >= self.config.max_attempts {
            return self.leave(now, Some(Prompt::WrongRoom), HangupReason::WrongRoom);
        }
        self.state = State::entry(Entry::Room);
        self.player.stop();
        self.play(now, Prompt::WrongRoom);
        self.play(now, Prompt::EnterRoom);
    }

    fn wrong_pin(&mut self, now: Timestamp, room: RoomId, recording: bool) {
        self.pin_failures += 1;
        tracing::debug!(failures = self.pin_failures, "wrong PIN");
        if self.pin_failures >= self.config.max_attempts {
            return self.leave(now, Some(Prompt::WrongPin), HangupReason::WrongPin);
        }
        self.state = State::entry(Entry::Pin { room, recording });
        self.player.stop();
        self.play(now, Prompt::WrongPin);
        self.play(now, Prompt::EnterPin);
    }

    fn on_entry_timeout(&mut self, now: Timestamp, kind: Entry) {
        self.timeouts += 1;
        tracing::debug!(timeouts = self.timeouts, "entry timed out");
        if self.timeouts >= self.config.max_timeouts {
            return self.leave(now, None, HangupReason::NoInput);
        }
        self.state = State::entry(kind);
        self.player.stop();
        self.play(now, Prompt::TryAgain);
        self.play(
            now,
            match kind {
                Entry::Room => Prompt::EnterRoom,
                Entry::Pin { .. } => Prompt::EnterPin,
            },
        );
    }

    fn join(&mut self, now: Timestamp, room: RoomId, recording: bool) {
        self.state = State::Joining { room };
        self.player.stop();
        self.play(now, Prompt::Joining);
        if recording {
            self.play(now, Prompt::Recorded);
        }
    }

    fn leave(&mut self, now: Timestamp, before: Option<Prompt>, reason: HangupReason) {
        self.state = State::Leaving(reason);
        self.player.stop();
        if let Some(p) = before {
            self.play(now, p);
        }
        self.play(now, Prompt::Goodbye);
    }

    fn in_call_digit(&mut self, now: Timestamp, digit: Digit, star_at: Option<Timestamp>) {
        let mut next_star = None;
        let after_star =
            star_at.is_some_and(|t| now.saturating_since(t) <= self.config.mute_key_window);
        if digit == Digit::STAR {
            next_star = Some(now);
        } else if digit.decimal() == Some(6) && after_star {
            tracing::debug!("*6: toggle mute");
            self.events.push_back(IvrEvent::ToggleMute);
            self.confirmation_tone(now);
        } else if !after_star && let Some(n) = digit.decimal().filter(|n| (1..=9).contains(n)) {
            self.events.push_back(IvrEvent::Key(n));
        }
        self.state = State::InCall { star_at: next_star };
    }

    /// Says `prompt` to a caller in the call (over the room's mix): "a moderator has muted
    /// you". Ignored in the other phases.
    pub fn announce(&mut self, now: Timestamp, prompt: Prompt) {
        if matches!(self.state, State::InCall { .. }) {
            self.player.stop();
            self.play(now, prompt);
        }
    }

    /// Says `prompt`, then goodbye, then asks to hang up ([`IvrEvent::Hangup`] with
    /// [`HangupReason::Moderator`]): a caller removed or turned away, or a meeting ended.
    pub fn dismiss(&mut self, now: Timestamp, prompt: Prompt) {
        if !matches!(self.state, State::Leaving(_) | State::Ended) {
            self.leave(now, Some(prompt), HangupReason::Moderator);
        }
    }

    /// Two short 1 kHz beeps at -12 dBm0: audible over the mix, clearly not speech.
    fn confirmation_tone(&mut self, now: Timestamp) {
        self.player.stop();
        let beep = Duration::from_millis(80);
        self.player.tone(now, 1000.0, -12.0, beep);
        self.player.silence(now, Duration::from_millis(60));
        self.player.tone(now, 1000.0, -12.0, beep);
    }
}
