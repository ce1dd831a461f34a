//! The mix-minus mixer of one room.
//!
//! ## Driving it (the order the server follows)
//! 1. `Mixer::new(config, now)`; `add_leg(id, LegConfig)` for each participant with audio
//!    (SIP/phone legs with `receives_mix`, browsers without it), `remove_leg` when they leave.
//! 2. For every inbound RTP packet of a leg: `handle_packet(now, id, InboundPacket { .. })`,
//!    with the payload, sequence number, timestamp and the RFC 6464 level if the packet had one.
//! 3. When `poll_timeout()` is due: `handle_timeout(now)`. It runs every 20 ms tick that is due.
//! 4. After every call, drain: `poll_output()` (mixed payloads for legs, to packetize and send),
//!    `poll_published()` (Opus for legs published to browsers), `poll_event()` (levels for
//!    `MediaCore::handle_audio_level`, talker changes), `poll_full_mix()` (recorder tap).
//!
//! ## One tick
//! Each leg's jitter buffer yields one frame (or a loss). Levels come from the packet's RFC 6464
//! extension, else from the G.711 bytes (a table of squares, no decode), else from decoding.
//! The loudest `talkers` legs by smoothed level (with hysteresis, so two similar voices do not
//! flap) are decoded and summed: that sum is the *full mix*, which every leg that is not a
//! talker hears. Each talker hears the full mix minus itself. Every distinct mix goes through
//! its own limiter, is resampled once per codec rate and encoded once per codec; every leg that
//! takes that mix shares the same `Bytes`. So the cost of a tick grows with the number of
//! talkers and codecs, and only a packet header's worth per listener.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use pont_types::{AudioLevel, ParticipantId, Pt, Timestamp};

use crate::codec::{AudioCodec, Decoder, Encoder, MAX_FRAME_SAMPLES};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Popped};
use crate::resample::Resampler;
use crate::{AudioError, level};

const TICK: Duration = Duration::from_millis(20);
/// After a stall of the driver longer than this, the mixer jumps to the present instead of
/// running every missed tick (each would play stale audio late).
const MAX_CATCH_UP_TICKS: u32 = 5;
/// Loudness (127 − level) a leg needs to be a talker: −80 dBov is below any microphone's noise,
/// so only digital silence is excluded.
const MIN_TALKER_LOUDNESS: f32 = 47.0;
/// Smoothed loudness falls by this much per tick (1 dB per 20 ms): a pause between words does
/// not drop a talker, a finished sentence does within a second or so.
const RELEASE_PER_TICK: f32 = 1.0;
/// A talker keeps its place unless a newcomer is this many dB louder.
const HYSTERESIS_DB: f32 = 6.0;
/// Frames of the full-mix tap kept for a slow reader (1 s); older ones are dropped.
const TAP_CAPACITY: usize = 50;

/// Settings of one room's mixer.
#[derive(Debug, Clone)]
pub struct MixerConfig {
    /// The rate the mix is made at: 8000, 16000 or 48000, or `None` (the default) for the
    /// lowest rate that carries every leg's codec — 8 kHz for a room of G.711 phones (the
    /// cheapest, and all they can hear), 16 kHz once a G.722 leg joins, 48 kHz with Opus. The
    /// rate follows legs joining and leaving.
    pub mix_rate: Option<u32>,
    /// How many of the loudest legs are decoded and mixed: 3, as conference bridges do — a
    /// fourth simultaneous voice is noise to the listener.
    pub talkers: usize,
    /// Keep the full mix (after the limiter) for `poll_full_mix`: the recorder's tap.
    pub full_mix_tap: bool,
}

impl Default for MixerConfig {
    fn default() -> Self {
        Self {
            mix_rate: None,
            talkers: 3,
            full_mix_tap: false,
        }
    }
}

/// One leg: a participant's audio in and, if `receives_mix`, the mix out.
#[derive(Debug, Clone)]
pub struct LegConfig {
    pub codec: AudioCodec,
    /// Payload type of the leg's audio; packets of any other type are dropped (counted).
    pub pt: Pt,
    /// Packet time of what the leg is sent: 20 ms, or a multiple up to 120 ms for G.711/G.722.
    pub ptime_ms: u32,
    /// Whether the leg gets the mix (SIP and phone legs); browsers get the SFU's streams instead.
    pub receives_mix: bool,
    /// Re-encode this leg's audio as 48 kHz Opus (`poll_published`), so browsers can subscribe
    /// to it like any publisher. The leg is then decoded every tick.
    pub publish_opus: bool,
    /// First RTP timestamp and sequence number of what the leg is sent (random, per RFC 3550).
    pub initial_timestamp: u32,
    pub initial_seq: u16,
}

impl LegConfig {
    /// A SIP or phone leg of `codec` at 20 ms, with its static (or given) payload type.
    pub fn sip(codec: AudioCodec, pt: Pt) -> Self {
        Self {
            codec,
            pt,
            ptime_ms: 20,
            receives_mix: true,
            publish_opus: false,
            initial_timestamp: 0,
            initial_seq: 0,
        }
    }

    /// A browser's Opus: mixed for the SIP legs when loud enough, never sent a mix.
    pub fn browser(pt: Pt) -> Self {
        Self {
            receives_mix: false,
            ..Self::sip(AudioCodec::Opus, pt)
        }
    }
}

/// One inbound RTP packet's audio, as the caller parsed it.
#[derive(Debug, Clone)]
pub struct InboundPacket {
    pub pt: Pt,
    pub seq: u16,
    pub timestamp: u32,
    pub payload: Bytes,
    /// The RFC 6464 level from the header extension, if the packet carried one.
    pub level: Option<AudioLevel>,
}

/// A payload of the mix for one leg. The caller writes the RTP header (its SSRC and payload
/// type; [`MixedPacket::write_rtp`] does it) and sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedPacket {
    pub leg: ParticipantId,
    pub codec: AudioCodec,
    /// Shared with every leg that hears the same mix in the same codec.
    pub payload: Bytes,
    /// Continuous per leg, in the codec's RTP clock.
    pub timestamp: u32,
    pub seq: u16,
    /// Set on the first packet and after a gap (RFC 3551 §4.1).
    pub marker: bool,
}

impl MixedPacket {
    /// Writes the RTP packet (RFC 3550 §5.1, no CSRCs or extensions) into `buf`.
    pub fn write_rtp(&self, ssrc: u32, pt: Pt, buf: &mut Vec<u8>) {
        buf.clear();
        buf.reserve(12 + self.payload.len());
        buf.push(0x80);
        buf.push((pt.0 & 0x7F) | if self.marker { 0x80 } else { 0 });
        buf.extend_from_slice(&self.seq.to_be_bytes());
        buf.extend_from_slice(&self.timestamp.to_be_bytes());
        buf.extend_from_slice(&ssrc.to_be_bytes());
        buf.extend_from_slice(&self.payload);
    }
}

/// A leg's own audio re-encoded as 48 kHz Opus, to forward to browsers as its track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPacket {
    pub leg: ParticipantId,
    pub payload: Bytes,
    /// 48 kHz RTP clock, continuous.
    pub timestamp: u32,
    /// The level of this frame, for the RFC 6464 extension of the forwarded packet.
    pub level: AudioLevel,
}

/// One frame of the full mix (the recorder's tap), after the limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixFrame {
    /// The tick that made it.
    pub at: Timestamp,
    pub rate: u32,
    pub pcm: Vec<i16>,
}

/// Something the caller may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A level the mixer measured (the packet carried none): hand it to
    /// `MediaCore::handle_audio_level(at, leg, level)`.
    Level {
        at: Timestamp,
        leg: ParticipantId,
        level: AudioLevel,
    },
    /// The set of legs being mixed changed.
    TalkersChanged { talkers: Vec<ParticipantId> },
}

/// Counters of one leg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegStats {
    /// The leg's jitter buffer.
    pub jitter: JitterStats,
    /// Packets of a payload type other than the leg's.
    pub wrong_pt: u64,
    /// Payloads the decoder rejected (concealed instead).
    pub undecodable: u64,
    /// Frames decoded (or concealed) for the mix or for publishing.
    pub decoded: u64,
    /// Packets sent to the leg.
    pub sent: u64,
}

/// A look-ahead-free limiter that never lets a sample past `THRESHOLD`: the gain for a frame
/// comes from the frame's own peak (the frame is its own look-ahead), through a soft knee so
/// that loud but legal mixes are only gently compressed; attack within 2.5 ms, release at about
/// 1 dB per frame; and a per-sample guard for the attack ramp, so no output sample can exceed
/// the threshold whatever the input.
#[derive(Debug, Clone, Copy)]
struct Limiter {
    gain: f32,
}

/// −1 dBFS: the mix never reaches i16 saturation, and a codec's own overshoot has room.
const THRESHOLD: f32 = 29204.0;
/// Where the soft knee starts (−6 dBFS).
const KNEE: f32 = 16384.0;
const RELEASE_PER_FRAME: f32 = 1.122; // +1 dB

impl Limiter {
    fn new() -> Self {
        Self { gain: 1.0 }
    }

    /// Limits `input` (a sum of i16 frames) into `out`.
    fn process(&mut self, input: &[i32], out: &mut [i16]) {
        let peak = input.iter().map(|&v| v.unsigned_abs()).max().unwrap_or(0) as f32;
        let target = if peak <= KNEE {
            1.0
        } else {
            // Soft knee: output peak approaches THRESHOLD smoothly and never reaches it.
            let over = (peak - KNEE) / (THRESHOLD - KNEE);
            (KNEE + (THRESHOLD - KNEE) * over.tanh()) / peak
        };
        let start = self.gain;
        let end = if target < start {
            target
        } else {
            target.min(start * RELEASE_PER_FRAME)
        };
        let n = input.len().max(1);
        // Attack over the first eighth of the frame (2.5 ms), release over the whole frame.
        let ramp = if end < start { (n / 8).max(1) } else { n };
        for (i, (&x, o)) in input.iter().zip(out.iter_mut()).enumerate() {
            let mut g = if i >= ramp {
                end
            } else {
                start + (end - start) * (i + 1) as f32 / ramp as f32
            };
            let ax = x.unsigned_abs() as f32;
            if ax * g > THRESHOLD {
                g = THRESHOLD / ax;
            }
            *o = (x as f32 * g) as i16;
        }
        self.gain = end;
    }
}

/// The encoder side of one distinct mix in one codec.
#[derive(Debug)]
struct EncodePath {
    encoder: Encoder,
    /// Mix rate → codec rate, `None` when they are equal.
    down: Option<Resampler>,
}

impl EncodePath {
    fn new(codec: AudioCodec, mix_rate: u32) -> Result<Self, AudioError> {
        Ok(Self {
            encoder: Encoder::new(codec)?,
            down: resampler(mix_rate, codec.sample_rate())?,
        })
    }

    fn fork(&self) -> Result<Self, AudioError> {
        Ok(Self {
            encoder: self.encoder.fork()?,
            down: self.down.clone(),
        })
    }

    fn encode(&mut self, mix: &[i16], scratch: &mut [i16], out: &mut Vec<u8>) -> Bytes {
        out.clear();
        let pcm = match &mut self.down {
            Some(r) => {
                let n = r.output_len(mix.len());
                r.process(mix, &mut scratch[..n]);
                &scratch[..n]
            }
            None => mix,
        };
        if self.encoder.encode(pcm, out).is_err() {
            out.clear();
        }
        Bytes::copy_from_slice(out)
    }
}

fn resampler(from: u32, to: u32) -> Result<Option<Resampler>, AudioError> {
    if from == to {
        return Ok(None);
    }
    Resampler::new(from, to)
        .map(Some)
        .ok_or(AudioError::UnsupportedRate(from))
}

/// What a talker hears: the mix without itself.
#[derive(Debug)]
struct MinusStream {
    limiter: Limiter,
    path: EncodePath,
}

#[derive(Debug)]
struct Publisher {
    encoder: Encoder,
    up: Option<Resampler>,
}

#[derive(Debug)]
struct Leg {
    id: ParticipantId,
    config: LegConfig,
    jb: JitterBuffer,
    decoder: Decoder,
    up: Option<Resampler>,
    /// This tick's frame from the jitter buffer.
    current: Popped,
    /// This tick's level, and whether it came from the packet.
    level: AudioLevel,
    /// Decoded this tick, at the codec's rate and at the mix rate (32-bit: an upsampling
    /// filter's overshoot is left to the limiter).
    pcm: Vec<i16>,
    pcm_mix: Vec<i32>,
    decoded_tick: Option<u64>,
    loudness: f32,
    talker: bool,
    muted: bool,
    minus: Option<MinusStream>,
    publisher: Option<Publisher>,
    /// RTP timestamp of the published Opus stream: it runs every tick, published or not, so
    /// publishing that stops and starts again keeps the timeline true to wall-clock time.
    publish_timestamp: u32,
    out_timestamp: u32,
    out_seq: u16,
    marker: bool,
    /// Frames waiting to fill a packet longer than 20 ms, and the timestamp of the first.
    pending: Vec<u8>,
    pending_frames: u32,
    pending_timestamp: u32,
    stats: LegStats,
}

/// The mixer of one room (see the module docs for the calling order).
#[derive(Debug)]
pub struct Mixer {
    config: MixerConfig,
    /// The mixing rate now, and samples per 20 ms frame at it.
    rate: u32,
    frame: usize,
    legs: BTreeMap<ParticipantId, Leg>,
    next_tick: Timestamp,
    tick_count: u64,
    talkers: Vec<ParticipantId>,
    shared_limiter: Limiter,
    shared_paths: BTreeMap<AudioCodec, EncodePath>,
    // Scratch buffers reused every tick.
    acc: Vec<i32>,
    shared_pcm: Vec<i16>,
    minus_acc: Vec<i32>,
    minus_pcm: Vec<i16>,
    scratch: Vec<i16>,
    enc_buf: Vec<u8>,
    outputs: VecDeque<MixedPacket>,
    published: VecDeque<PublishedPacket>,
    events: VecDeque<Event>,
    taps: VecDeque<MixFrame>,
    skipped_ticks: u64,
    /// A notice everyone hears (and the recording holds), played once through the mix.
    announcement: Option<Announcement>,
}

/// A notice played into the mix ([`Mixer::announce`]): 20 ms of it per tick, resampled to the
/// mix rate.
#[derive(Debug)]
struct Announcement {
    rate: u32,
    pcm: Vec<i16>,
    pos: usize,
    /// To the mix rate it was started at; a rate change ends the notice.
    up: Option<Resampler>,
    mix_rate: u32,
    frame: Vec<i32>,
}

impl Mixer {
    /// A mixer whose first tick is at `now`.
    pub fn new(config: MixerConfig, now: Timestamp) -> Result<Self, AudioError> {
        let rate = config.mix_rate.unwrap_or(8000);
        if !matches!(rate, 8000 | 16000 | 48000) {
            return Err(AudioError::UnsupportedRate(rate));
        }
        let frame = (rate / 50) as usize;
        Ok(Self {
            rate,
            frame,
            legs: BTreeMap::new(),
            next_tick: now,
            tick_count: 0,
            talkers: Vec::new(),
            shared_limiter: Limiter::new(),
            shared_paths: BTreeMap::new(),
            acc: vec![0; frame],
            shared_pcm: vec![0; frame],
            minus_acc: vec![0; frame],
            minus_pcm: vec![0; frame],
            scratch: vec![0; MAX_FRAME_SAMPLES],
            enc_buf: Vec::with_capacity(1500),
            outputs: VecDeque::new(),
            published: VecDeque::new(),
            events: VecDeque::new(),
            taps: VecDeque::new(),
            skipped_ticks: 0,
            announcement: None,
            config,
        })
    }

    // ---- getters ----

    /// The legs being mixed, loudest first.
    pub fn talkers(&self) -> &[ParticipantId] {
        &self.talkers
    }

    pub fn leg_stats(&self, id: ParticipantId) -> Option<LegStats> {
        self.legs.get(&id).map(|l| LegStats {
            jitter: l.jb.stats().clone(),
            ..l.stats.clone()
        })
    }

    /// The jitter buffer's current target delay of a leg.
    pub fn leg_delay(&self, id: ParticipantId) -> Option<Duration> {
        self.legs.get(&id).map(|l| l.jb.target_delay())
    }

    /// The rate the mix is made at now.
    pub fn mix_rate(&self) -> u32 {
        self.rate
    }

    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.tick_count
    }

    /// Ticks skipped because the driver called too late.
    pub fn skipped_ticks(&self) -> u64 {
        self.skipped_ticks
    }

    // ---- commands ----

    pub fn add_leg(&mut self, id: ParticipantId, config: LegConfig) -> Result<(), AudioError> {
        if self.legs.contains_key(&id) {
            return Err(AudioError::DuplicateLeg);
        }
        let ptime = config.ptime_ms;
        let ok_ptime = if config.codec == AudioCodec::Opus {
            ptime == 20
        } else {
            (20..=120).contains(&ptime) && ptime.is_multiple_of(20)
        };
        if !ok_ptime {
            return Err(AudioError::UnsupportedPtime(ptime, config.codec));
        }
        let codec = config.codec;
        if self.config.mix_rate.is_none() && codec.sample_rate() > self.rate {
            self.set_rate(codec.sample_rate())?;
        }
        let publisher = if config.publish_opus {
            Some(Publisher::new(codec)?)
        } else {
            None
        };
        if config.receives_mix && !self.shared_paths.contains_key(&codec) {
            self.shared_paths
                .insert(codec, EncodePath::new(codec, self.rate)?);
        }
        let leg = Leg {
            id,
            jb: JitterBuffer::new(JitterConfig::new(
                codec.frame_rtp_ticks(),
                codec.frame_bytes(),
            )),
            decoder: Decoder::new(codec)?,
            up: resampler(codec.sample_rate(), self.rate)?,
            current: Popped::Empty,
            level: AudioLevel::SILENCE,
            pcm: vec![0; codec.frame_samples()],
            pcm_mix: vec![0; self.frame],
            decoded_tick: None,
            loudness: 0.0,
            talker: false,
            muted: false,
            minus: None,
            publisher,
            publish_timestamp: config.initial_timestamp,
            out_timestamp: config.initial_timestamp,
            out_seq: config.initial_seq,
            marker: true,
            pending: Vec::new(),
            pending_frames: 0,
            pending_timestamp: 0,
            stats: LegStats::default(),
            config,
        };
        self.legs.insert(id, leg);
        Ok(())
    }

    pub fn remove_leg(&mut self, id: ParticipantId) -> Result<(), AudioError> {
        self.legs.remove(&id).ok_or(AudioError::UnknownLeg)?;
        if self.talkers.contains(&id) {
            self.talkers.retain(|&t| t != id);
            self.events.push_back(Event::TalkersChanged {
                talkers: self.talkers.clone(),
            });
        }
        let used: Vec<AudioCodec> = self
            .legs
            .values()
            .filter(|l| l.config.receives_mix)
            .map(|l| l.config.codec)
            .collect();
        self.shared_paths.retain(|c, _| used.contains(c));
        if self.config.mix_rate.is_none() {
            let need = self
                .legs
                .values()
                .map(|l| l.config.codec.sample_rate())
                .max()
                .unwrap_or(8000);
            if need != self.rate {
                self.set_rate(need)?;
            }
        }
        Ok(())
    }

    /// Changes the mixing rate: every path through the mix is rebuilt for it (talkers are
    /// chosen afresh on the next tick).
    fn set_rate(&mut self, rate: u32) -> Result<(), AudioError> {
        let frame = (rate / 50) as usize;
        let mut paths = BTreeMap::new();
        for &codec in self.shared_paths.keys() {
            paths.insert(codec, EncodePath::new(codec, rate)?);
        }
        for leg in self.legs.values_mut() {
            leg.up = resampler(leg.config.codec.sample_rate(), rate)?;
            leg.pcm_mix = vec![0; frame];
            leg.minus = None;
            leg.talker = false;
            leg.decoded_tick = None;
        }
        self.shared_paths = paths;
        self.talkers.clear();
        self.rate = rate;
        self.frame = frame;
        self.acc = vec![0; frame];
        self.shared_pcm = vec![0; frame];
        self.minus_acc = vec![0; frame];
        self.minus_pcm = vec![0; frame];
        Ok(())
    }

    /// A muted leg is never mixed (it still receives the mix).
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> Result<(), AudioError> {
        self.legs.get_mut(&id).ok_or(AudioError::UnknownLeg)?.muted = muted;
        Ok(())
    }

    /// Starts or stops re-encoding a leg as Opus for browsers (`poll_published`). Publishing
    /// costs a decode and an Opus encode every tick, so a room with no browser should not pay
    /// for it; the published stream's timestamps keep running while it is off.
    pub fn set_publish_opus(&mut self, id: ParticipantId, publish: bool) -> Result<(), AudioError> {
        let leg = self.legs.get_mut(&id).ok_or(AudioError::UnknownLeg)?;
        match (publish, leg.publisher.is_some()) {
            (true, false) => leg.publisher = Some(Publisher::new(leg.config.codec)?),
            (false, true) => leg.publisher = None,
            _ => {}
        }
        leg.config.publish_opus = publish;
        Ok(())
    }

    // ---- input ----

    /// One inbound packet of a leg. Unknown legs and wrong payload types are dropped; any
    /// payload is accepted (a bad one is concealed when decoded).
    pub fn handle_packet(&mut self, now: Timestamp, id: ParticipantId, packet: InboundPacket) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if packet.pt != leg.config.pt {
            leg.stats.wrong_pt += 1;
            return;
        }
        leg.jb.handle_packet(
            now,
            packet.seq,
            packet.timestamp,
            packet.payload,
            packet.level,
        );
    }

    /// Runs every tick due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let mut run = 0;
        while self.next_tick <= now {
            if run == MAX_CATCH_UP_TICKS {
                // The driver stalled: jump to the present; legs' timestamps still advance.
                let behind = now.saturating_since(self.next_tick).as_micros() / 20_000;
                let behind = behind as u64;
                self.skipped_ticks += behind;
                for leg in self.legs.values_mut() {
                    let ticks = leg.config.codec.frame_rtp_ticks() as u64 * behind;
                    leg.out_timestamp = leg.out_timestamp.wrapping_add(ticks as u32);
                    leg.marker = true;
                    leg.pending.clear();
                    leg.pending_frames = 0;
                }
                self.next_tick += TICK * behind as u32;
                if self.next_tick > now {
                    break;
                }
            }
            let at = self.next_tick;
            self.tick(at);
            self.next_tick += TICK;
            run += 1;
        }
    }

    // ---- output ----

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Timestamp {
        self.next_tick
    }

    pub fn poll_output(&mut self) -> Option<MixedPacket> {
        self.outputs.pop_front()
    }

    pub fn poll_published(&mut self) -> Option<PublishedPacket> {
        self.published.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Plays `pcm` (mono at `rate`: 8, 16 or 48 kHz) once into the mix, from the next tick: every
    /// leg hears it, talkers included, and the full mix (the recording) holds it. It is not a
    /// talker and takes no one's place. A new notice replaces one still playing.
    pub fn announce(&mut self, rate: u32, pcm: Vec<i16>) -> Result<(), AudioError> {
        if !matches!(rate, 8000 | 16000 | 48000) {
            return Err(AudioError::UnsupportedRate(rate));
        }
        self.announcement = Some(Announcement {
            up: resampler(rate, self.rate)?,
            rate,
            pcm,
            pos: 0,
            mix_rate: self.rate,
            frame: vec![0; self.frame],
        });
        Ok(())
    }

    /// Whether a notice is still playing.
    pub fn announcing(&self) -> bool {
        self.announcement.is_some()
    }

    /// Turns the full-mix tap on or off (a recording starts or stops); off drops what is
    /// queued.
    pub fn set_full_mix_tap(&mut self, on: bool) {
        self.config.full_mix_tap = on;
        if !on {
            self.taps.clear();
        }
    }

    /// The next frame of the full mix, when `full_mix_tap` is on.
    pub fn poll_full_mix(&mut self) -> Option<MixFrame> {
        self.taps.pop_front()
    }

    // ---- the tick ----

    fn tick(&mut self, now: Timestamp) {
        let tick = self.tick_count;
        self.tick_count += 1;

        // 1. One frame per leg; levels; decode where the level needs it or a publisher does.
        for leg in self.legs.values_mut() {
            leg.current = leg.jb.pop(now);
            let (level, measured) = match &leg.current {
                Popped::Frame { level: Some(l), .. } => (*l, false),
                Popped::Frame { payload, .. } => {
                    match Decoder::cheap_level(leg.config.codec, payload) {
                        Some(l) => (l, true),
                        None => {
                            leg.decode(tick);
                            (level::measure(&leg.pcm), true)
                        }
                    }
                }
                Popped::Lost { .. } | Popped::Empty => (AudioLevel::SILENCE, false),
            };
            if leg.publisher.is_some() {
                leg.decode(tick);
            }
            leg.level = if leg.muted {
                AudioLevel::SILENCE
            } else {
                level
            };
            if measured {
                self.events.push_back(Event::Level {
                    at: now,
                    leg: leg.id,
                    level,
                });
            }
            let loud = leg.level.loudness() as f32;
            leg.loudness = loud.max(leg.loudness - RELEASE_PER_TICK);
        }

        // 2. The loudest few, with hysteresis.
        let mut ranked: Vec<(f32, ParticipantId)> = self
            .legs
            .values()
            .filter(|l| !l.muted && l.loudness >= MIN_TALKER_LOUDNESS)
            .map(|l| {
                let bonus = if l.talker { HYSTERESIS_DB } else { 0.0 };
                (l.loudness + bonus, l.id)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.truncate(self.config.talkers);
        let talkers: Vec<ParticipantId> = ranked.into_iter().map(|(_, id)| id).collect();
        if talkers != self.talkers {
            for leg in self.legs.values_mut() {
                let now_talker = talkers.contains(&leg.id);
                if now_talker && !leg.talker && leg.config.receives_mix {
                    // Fork the shared path so the leg's decoder sees a continuous stream.
                    let path = match self.shared_paths.get(&leg.config.codec) {
                        Some(p) => p.fork(),
                        None => EncodePath::new(leg.config.codec, self.rate),
                    };
                    leg.minus = path.ok().map(|path| MinusStream {
                        limiter: self.shared_limiter,
                        path,
                    });
                }
                if !now_talker {
                    leg.minus = None;
                }
                leg.talker = now_talker;
            }
            self.talkers = talkers;
            self.events.push_back(Event::TalkersChanged {
                talkers: self.talkers.clone(),
            });
        }

        // 3. Decode the talkers and sum them.
        self.acc.fill(0);
        for id in &self.talkers {
            let Some(leg) = self.legs.get_mut(id) else {
                continue;
            };
            leg.decode(tick);
            leg.resample_for_mix();
            for (a, &s) in self.acc.iter_mut().zip(&leg.pcm_mix) {
                *a += s;
            }
        }

        // 3b. The notice, if one is playing: in the shared mix and, through `acc`, in every
        // mix-minus.
        if let Some(a) = &mut self.announcement {
            if a.mix_rate != self.rate || a.pos >= a.pcm.len() {
                self.announcement = None;
            } else {
                let n = (a.rate / 50) as usize;
                if a.pcm.len() < a.pos + n {
                    // The last frame, padded with silence to a whole 20 ms.
                    a.pcm.resize(a.pos + n, 0);
                }
                let input = &a.pcm[a.pos..a.pos + n];
                a.pos += n;
                match &mut a.up {
                    Some(up) => up.process_wide(input, &mut a.frame),
                    None => {
                        for (f, &s) in a.frame.iter_mut().zip(input) {
                            *f = i32::from(s);
                        }
                    }
                }
                for (acc, &s) in self.acc.iter_mut().zip(&a.frame) {
                    *acc += s;
                }
            }
        }

        // 4. The shared mix (what every non-talker hears), once per codec.
        self.shared_limiter.process(&self.acc, &mut self.shared_pcm);
        let mut shared: [Option<Bytes>; 4] = Default::default();
        let needs_shared = |c: AudioCodec, legs: &BTreeMap<ParticipantId, Leg>| {
            legs.values()
                .any(|l| l.config.receives_mix && l.minus.is_none() && l.config.codec == c)
        };
        for (codec, path) in self.shared_paths.iter_mut() {
            if needs_shared(*codec, &self.legs) {
                shared[codec_index(*codec)] =
                    Some(path.encode(&self.shared_pcm, &mut self.scratch, &mut self.enc_buf));
            } else {
                // Keep the path's state moving so a later fork starts from the present.
                let _ = path.encode(&self.shared_pcm, &mut self.scratch, &mut self.enc_buf);
            }
        }
        if self.config.full_mix_tap {
            if self.taps.len() >= TAP_CAPACITY {
                self.taps.pop_front();
            }
            self.taps.push_back(MixFrame {
                at: now,
                rate: self.rate,
                pcm: self.shared_pcm.clone(),
            });
        }

        // 5. Each leg's payload: its mix-minus if it talks, else the shared one.
        for leg in self.legs.values_mut() {
            if !leg.config.receives_mix {
                continue;
            }
            let payload = match &mut leg.minus {
                Some(minus) => {
                    for ((m, &a), &s) in self.minus_acc.iter_mut().zip(&self.acc).zip(&leg.pcm_mix)
                    {
                        *m = a - s;
                    }
                    minus.limiter.process(&self.minus_acc, &mut self.minus_pcm);
                    minus
                        .path
                        .encode(&self.minus_pcm, &mut self.scratch, &mut self.enc_buf)
                }
                None => match &shared[codec_index(leg.config.codec)] {
                    Some(p) => p.clone(),
                    None => continue,
                },
            };
            leg.emit(payload, &mut self.outputs);
        }

        // 6. Legs published to browsers as Opus.
        for leg in self.legs.values_mut() {
            if let Some(p) = leg.publish() {
                self.published.push_back(p);
            }
        }
    }
}

impl Publisher {
    fn new(codec: AudioCodec) -> Result<Self, AudioError> {
        Ok(Self {
            encoder: Encoder::new(AudioCodec::Opus)?,
            up: resampler(codec.sample_rate(), 48000)?,
        })
    }
}

fn codec_index(c: AudioCodec) -> usize {
    match c {
        AudioCodec::Pcmu => 0,
        AudioCodec::Pcma => 1,
        AudioCodec::G722 => 2,
        AudioCodec::Opus => 3,
    }
}

impl Leg {
    /// Decodes (or conceals) this tick's frame into `pcm`, once per tick.
    fn decode(&mut self, tick: u64) {
        if self.decoded_tick == Some(tick) {
            return;
        }
        if self.decoded_tick.is_none_or(|t| t + 1 != tick) {
            // Not decoded last tick: the decoder's state is stale; start clean.
            self.decoder.reset();
            if let Some(up) = &mut self.up {
                up.reset();
            }
        }
        self.decoded_tick = Some(tick);
        self.stats.decoded += 1;
        match &self.current {
            Popped::Frame { payload, .. } => {
                if self.decoder.decode(payload, &mut self.pcm).is_err() {
                    self.stats.undecodable += 1;
                }
            }
            Popped::Lost { next } => self.decoder.conceal(next.as_deref(), &mut self.pcm),
            Popped::Empty => self.pcm.fill(0),
        }
        if self.muted {
            self.pcm.fill(0);
        }
    }

    fn resample_for_mix(&mut self) {
        match &mut self.up {
            Some(r) => r.process_wide(&self.pcm, &mut self.pcm_mix),
            None => {
                for (o, &s) in self.pcm_mix.iter_mut().zip(&self.pcm) {
                    *o = s as i32;
                }
            }
        }
    }

    /// Queues this tick's payload, packetized by the leg's packet time.
    fn emit(&mut self, payload: Bytes, out: &mut VecDeque<MixedPacket>) {
        let frames = self.config.ptime_ms / 20;
        let ticks = self.config.codec.frame_rtp_ticks();
        let packet = if frames <= 1 {
            let ts = self.out_timestamp;
            Some((payload, ts))
        } else {
            if self.pending_frames == 0 {
                self.pending_timestamp = self.out_timestamp;
            }
            self.pending.extend_from_slice(&payload);
            self.pending_frames += 1;
            if self.pending_frames == frames {
                self.pending_frames = 0;
                Some((
                    Bytes::from(std::mem::take(&mut self.pending)),
                    self.pending_timestamp,
                ))
            } else {
                None
            }
        };
        self.out_timestamp = self.out_timestamp.wrapping_add(ticks);
        if let Some((payload, timestamp)) = packet {
            out.push_back(MixedPacket {
                leg: self.id,
                codec: self.config.codec,
                payload,
                timestamp,
                seq: self.out_seq,
                marker: std::mem::take(&mut self.marker),
            });
            self.out_seq = self.out_seq.wrapping_add(1);
            self.stats.sent += 1;
        }
    }

    /// This tick's decoded frame as 48 kHz Opus, for a leg published to browsers.
    fn publish(&mut self) -> Option<PublishedPacket> {
        let timestamp = self.publish_timestamp;
        self.publish_timestamp = timestamp.wrapping_add(960);
        let p = self.publisher.as_mut()?;
        let mut buf = [0i16; MAX_FRAME_SAMPLES];
        let pcm48: &[i16] = match &mut p.up {
            Some(up) => {
                up.process(&self.pcm, &mut buf);
                &buf
            }
            None => &self.pcm,
        };
        let mut out = Vec::with_capacity(256);
        let ok = p.encoder.encode(pcm48, &mut out).is_ok();
        ok.then(|| PublishedPacket {
            leg: self.id,
            payload: Bytes::from(out),
            timestamp,
            level: self.level,
        })
    }
}
