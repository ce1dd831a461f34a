//! One caller's DTMF from all three paths, de-duplicated and rate-limited.

use std::collections::VecDeque;
use std::time::Duration;

use pont_types::{Pii, Pt, Timestamp};

use crate::Digit;
use crate::inband::InbandDetector;
use crate::info::{InfoError, parse_info};
use crate::rfc4733::{EventTracker, TelephoneEvent};

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event RTP packets.
    Rfc4733,
    /// A SIP INFO body.
    SipInfo,
    /// Tones in the audio, found by the Goertzel detector.
    Inband,
}

impl DtmfSource {
    const fn bit(self) -> u8 {
        match self {
            Self::Rfc4733 => 1,
            Self::SipInfo => 2,
            Self::Inband => 4,
        }
    }
}

/// A key press, once, whichever way it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    pub digit: Digit,
    /// The first path it arrived on.
    pub source: DtmfSource,
    pub at: Timestamp,
}

/// Limits of a [`DtmfReceiver`]; `Default` explains each number.
#[derive(Debug, Clone)]
pub struct DtmfConfig {
    /// The same digit from a *different* path within this window is the same key press.
    /// 500 ms: the in-band detector reports ~30 ms after the RFC 4733 start packet, a SIP INFO
    /// may lag the media by a few hundred ms; a human cannot press a key twice in that time
    /// *and* have it arrive by two paths but counted once wrongly, because each accepted press
    /// absorbs at most one copy per other path.
    pub dedup_window: Duration,
    /// Token bucket: a burst of this many digits passes at any speed (an auto-dialled
    /// "room # PIN #" string of up to 24 keys) ...
    pub burst: u32,
    /// ... then one digit per this interval (100 ms: 10 digits/s, above the fastest human
    /// keying and near Q.24's 40 ms tone + 40 ms pause). Digits above the rate are dropped.
    pub refill_every: Duration,
    /// Whether to run the in-band detector on [`DtmfReceiver::handle_pcm`].
    pub inband: bool,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_millis(500),
            burst: 24,
            refill_every: Duration::from_millis(100),
            inband: true,
        }
    }
}

/// What the receiver did with its input, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfStats {
    pub accepted: u64,
    /// The same press from a second path.
    pub duplicates: u64,
    /// Dropped by the rate limit.
    pub rate_limited: u64,
    /// Telephone-event payloads too short, INFO bodies without a valid signal.
    pub malformed: u64,
}

/// Pending digits kept when nobody polls; more are dropped (and counted as rate-limited).
const MAX_QUEUED: usize = 64;
/// Recently accepted digits kept for de-duplication.
const MAX_RECENT: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Recent {
    digit: Digit,
    at: Timestamp,
    sources: u8,
}

/// Collects one caller's DTMF: RFC 4733 events, SIP INFO bodies and in-band tones, and hands
/// each key press out once through [`poll_digit`](Self::poll_digit).
#[derive(Debug)]
pub struct DtmfReceiver {
    config: DtmfConfig,
    te_pt: Option<Pt>,
    events: EventTracker,
    inband: InbandDetector,
    recent: VecDeque<Recent>,
    out: VecDeque<DtmfDigit>,
    tokens: u32,
    refilled_at: Timestamp,
    stats: DtmfStats,
    scratch: Vec<Digit>,
}

impl DtmfReceiver {
    pub fn new(now: Timestamp, config: DtmfConfig) -> Self {
        Self {
            tokens: config.burst,
            config,
            te_pt: None,
            events: EventTracker::default(),
            inband: InbandDetector::new(),
            recent: VecDeque::with_capacity(MAX_RECENT),
            out: VecDeque::new(),
            refilled_at: now,
            stats: DtmfStats::default(),
            scratch: Vec::new(),
        }
    }

    pub fn stats(&self) -> DtmfStats {
        self.stats
    }

    pub fn telephone_event_pt(&self) -> Option<Pt> {
        self.te_pt
    }

    /// The negotiated `telephone-event/8000` payload type, from the SDP answer; call again
    /// after every re-INVITE (it may change, or go away). Changing it forgets the event in
    /// progress, since the new stream's timestamps are unrelated.
    pub fn set_telephone_event_pt(&mut self, pt: Option<Pt>) {
        if pt != self.te_pt {
            self.events.reset();
        }
        self.te_pt = pt;
    }

    /// An RTP packet's payload type, timestamp and payload. Returns `false` (and does nothing)
    /// when `pt` is not the telephone-event payload type, so the caller can hand the packet to
    /// the audio decoder instead.
    pub fn handle_rtp_event(
        &mut self,
        now: Timestamp,
        pt: Pt,
        rtp_timestamp: u32,
        payload: &[u8],
    ) -> bool {
        if Some(pt) != self.te_pt {
            return false;
        }
        let Some(ev) = TelephoneEvent::parse(payload) else {
            self.stats.malformed += 1;
            return true;
        };
        if let Some(d) = self.events.handle(now, rtp_timestamp, ev) {
            self.handle_digit(now, d, DtmfSource::Rfc4733);
        }
        true
    }

    /// A SIP INFO request's Content-Type and body. `Err(NotDtmf)` means the INFO was about
    /// something else; answer it as the dialog layer sees fit.
    pub fn handle_sip_info(
        &mut self,
        now: Timestamp,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), InfoError> {
        match parse_info(content_type, body) {
            Ok(info) => {
                self.handle_digit(now, info.digit, DtmfSource::SipInfo);
                Ok(())
            }
            Err(InfoError::NotDtmf) => Err(InfoError::NotDtmf),
            Err(e) => {
                self.stats.malformed += 1;
                Err(e)
            }
        }
    }

    /// The caller's audio, decoded to 8 kHz 16-bit PCM (G.711 as received; a wide-band leg
    /// must be downsampled to 8 kHz first), in RTP order. `now` is the arrival time.
    pub fn handle_pcm(&mut self, now: Timestamp, pcm: &[i16]) {
        if !self.config.inband {
            return;
        }
        let mut found = std::mem::take(&mut self.scratch);
        self.inband.process(pcm, |d| found.push(d));
        for d in found.drain(..) {
            self.handle_digit(now, d, DtmfSource::Inband);
        }
        self.scratch = found;
    }

    /// A digit from any path: de-duplicated against the other paths, then rate-limited.
    pub fn handle_digit(&mut self, now: Timestamp, digit: Digit, source: DtmfSource) {
        let window = self.config.dedup_window;
        while let Some(r) = self.recent.front() {
            if now.saturating_since(r.at) > window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        // The oldest press of this digit that has not yet been seen on this path absorbs it.
        if let Some(r) = self
            .recent
            .iter_mut()
            .find(|r| r.digit == digit && r.sources & source.bit() == 0)
        {
            r.sources |= source.bit();
            self.stats.duplicates += 1;
            tracing::trace!(digit = %Pii(digit), ?source, "duplicate DTMF");
            return;
        }
        if !self.take_token(now) || self.out.len() >= MAX_QUEUED {
            self.stats.rate_limited += 1;
            tracing::trace!(?source, "DTMF over the rate limit");
            return;
        }
        if self.recent.len() == MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Recent {
            digit,
            at: now,
            sources: source.bit(),
        });
        self.stats.accepted += 1;
        tracing::debug!(digit = %Pii(digit), ?source, "DTMF");
        self.out.push_back(DtmfDigit {
            digit,
            source,
            at: now,
        });
    }

    fn take_token(&mut self, now: Timestamp) -> bool {
        let every = self.config.refill_every.as_micros().max(1) as u64;
        let elapsed = now.saturating_since(self.refilled_at).as_micros() as u64;
        let new = elapsed / every;
        if new > 0 {
            let new = u32::try_from(new).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(new).min(self.config.burst);
            self.refilled_at += Duration::from_micros(u64::from(new) * every);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// The next key press, in arrival order.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.out.pop_front()
    }
}
