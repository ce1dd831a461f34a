//! Phone callers in the IVR, in the media task: the dial-in leg's RTP sockets (the same strict
//! source checks as SIP legs), the prompts encoded to the leg's codec and sent at a 20 ms pace,
//! DTMF from RFC 4733 events, in-band tones and SIP INFO into the caller's [`IvrCall`], room
//! lookups and PIN checks through the directory thread (SQLite and the one [`PinGuard`]), and
//! on `Join` the same leg becoming a `pstn` participant of the room (see `sip_legs`), its
//! `IvrCall` kept for `*6`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pont_audio::g711;
use pont_audio::{AudioCodec, AudioError, Decoder, Encoder, Resampler};
use pont_ivr::{
    FRAME_SAMPLES, IvrCall, IvrConfig, IvrEvent, Language, PinCheck, PinGuard, PinGuardConfig,
    RoomInfo,
};
use pont_media::ParticipantKind;
use pont_meet::Store;
use pont_sip::CallHandle;
use pont_sip::sdp::NegotiatedStream;
use pont_types::{Pii, Pt, RoomId};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, info_span, trace, warn};

use super::sip_legs::{
    Attach, AttachAudio, LegKey, LegStream, SipDatagram, SipMedia, audio_codec, remote_of,
};
use super::{Clock, Query, Task};
use crate::rtp_leg::SourceFilter;
use crate::sip::SipCommand;
use pont_plane::placement::Placement;

/// How long a new call may take to show which address its media really comes from (NAT).
const SOURCE_LEARNING: Duration = Duration::from_secs(3);
/// The prompts' packetisation: 20 ms, what every phone and trunk takes.
pub(super) const IVR_TICK: Duration = Duration::from_millis(20);
/// Room lookups and PIN checks waiting for the directory thread; beyond this the IVR's own
/// application timeout (10 s) hangs up politely.
const DIRECTORY_QUEUE: usize = 1024;
/// Upper bounds (seconds) of the `#`-to-joined histogram buckets. The joining prompt ("you are
/// joining the meeting", about 1.5 s) is inside the figure: it is what the caller waits.
pub(crate) const JOIN_BUCKETS: [f64; 8] = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0];

/// An answered dial-in call to put into the IVR.
#[derive(Debug)]
pub(crate) struct StartIvr {
    pub(crate) call: CallHandle,
    /// Who is calling, for the PIN guard: the From user, else the source address.
    pub(crate) caller: Pii<String>,
    pub(crate) display_name: String,
    pub(crate) language: Language,
    pub(crate) audio: SipMedia,
    pub(crate) hangup: mpsc::Sender<SipCommand>,
}

/// The SIP task's messages about dial-in calls, by call.
#[derive(Debug)]
pub(crate) enum IvrQuery {
    Start(Box<StartIvr>),
    /// A key sent by SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Digit {
        call: CallHandle,
        digit: char,
        duration_ms: Option<u32>,
    },
    /// A re-INVITE.
    Update {
        call: CallHandle,
        audio: Option<NegotiatedStream>,
        hold: bool,
    },
    /// The call ended (BYE either way, or a failure).
    End(CallHandle),
}

/// What the IVR legs did, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub(crate) struct IvrStats {
    pub(crate) calls: u64,
    pub(crate) joined: u64,
    pub(crate) hangups: u64,
    pub(crate) in_ivr: usize,
    /// Joins per bucket of [`JOIN_BUCKETS`] (not cumulative), the last one beyond them.
    pub(crate) join_buckets: [u64; JOIN_BUCKETS.len() + 1],
    pub(crate) join_seconds_sum: f64,
}

impl IvrStats {
    /// Adds another shard's figures to these.
    pub(crate) fn absorb(&mut self, other: &Self) {
        self.calls += other.calls;
        self.joined += other.joined;
        self.hangups += other.hangups;
        self.in_ivr += other.in_ivr;
        for (a, b) in self.join_buckets.iter_mut().zip(other.join_buckets) {
            *a += b;
        }
        self.join_seconds_sum += other.join_seconds_sum;
    }

    fn record_join(&mut self, secs: f64) {
        let i = JOIN_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(JOIN_BUCKETS.len());
        self.join_buckets[i] += 1;
        self.join_seconds_sum += secs;
        self.joined += 1;
    }
}

/// A phone leg's audio: the codec it negotiated, from and to 8 kHz (the IVR's rate).
pub(crate) struct PhoneAudio {
    codec: AudioCodec,
    decoder: Decoder,
    encoder: Encoder,
    down: Option<Resampler>,
    up: Option<Resampler>,
    wide: Vec<i16>,
    pcm8: Vec<i16>,
    out: Vec<u8>,
}

impl std::fmt::Debug for PhoneAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneAudio")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl PhoneAudio {
    pub(crate) fn new(codec: AudioCodec) -> Result<Self, AudioError> {
        let rate = codec.sample_rate();
        Ok(Self {
            codec,
            decoder: Decoder::new(codec)?,
            encoder: Encoder::new(codec)?,
            down: Resampler::new(rate, 8000).filter(|_| rate != 8000),
            up: Resampler::new(8000, rate).filter(|_| rate != 8000),
            wide: vec![0; pont_audio::MAX_FRAME_SAMPLES],
            pcm8: Vec::with_capacity(FRAME_SAMPLES * 6),
            out: Vec::with_capacity(400),
        })
    }

    /// A payload of the leg as 8 kHz PCM (for the in-band DTMF detector). G.711 of any packet
    /// time by table; G.722 by 20 ms frames; Opus one packet of 20 ms. `None` when undecodable.
    fn decode_8k(&mut self, payload: &[u8]) -> Option<&[i16]> {
        if matches!(self.codec, AudioCodec::Pcmu | AudioCodec::Pcma) {
            return self.decode_g711(payload);
        }
        self.pcm8.clear();
        let frames: Vec<&[u8]> = match self.codec {
            AudioCodec::G722 => payload.chunks(160).collect(),
            _ => vec![payload],
        };
        let n = self.codec.frame_samples();
        for frame in frames {
            if self.decoder.decode(frame, &mut self.wide).is_err() {
                return None;
            }
            let down = self.down.as_mut()?;
            let start = self.pcm8.len();
            self.pcm8.resize(start + down.output_len(n), 0);
            down.process(&self.wide[..n], &mut self.pcm8[start..]);
        }
        Some(&self.pcm8)
    }

    /// A G.711 payload as 8 kHz PCM; `None` for the other codecs.
    pub(crate) fn decode_g711(&mut self, payload: &[u8]) -> Option<&[i16]> {
        let decode = match self.codec {
            AudioCodec::Pcmu => g711::ulaw_to_linear_sample,
            AudioCodec::Pcma => g711::alaw_to_linear_sample,
            _ => return None,
        };
        self.pcm8.clear();
        self.pcm8.extend(payload.iter().map(|&b| decode(b)));
        Some(&self.pcm8)
    }

    /// One 20 ms frame of 8 kHz PCM as a payload of the leg's codec.
    pub(super) fn encode_8k(&mut self, frame: &[i16; FRAME_SAMPLES]) -> &[u8] {
        self.out.clear();
        let pcm: &[i16] = match self.up.as_mut() {
            Some(up) => {
                let n = up.output_len(FRAME_SAMPLES);
                up.process(frame, &mut self.wide[..n]);
                &self.wide[..n]
            }
            None => frame,
        };
        if let Err(e) = self.encoder.encode(pcm, &mut self.out) {
            trace!(error = %e, "prompt frame not encoded");
        }
        &self.out
    }

    /// The room's mix with a tone frame over it. G.711 is mixed sample by sample (a table
    /// each way); for G.722 and Opus, whose mix frames come from the room's encoder, the tone
    /// replaces the mix for its 20 ms.
    pub(crate) fn mix_over(
        &mut self,
        mix: &bytes::Bytes,
        frame: &[i16; FRAME_SAMPLES],
    ) -> bytes::Bytes {
        type Decode = fn(u8) -> i16;
        type Encode = fn(i16) -> u8;
        let (dec, enc): (Decode, Encode) = match self.codec {
            AudioCodec::Pcmu => (g711::ulaw_to_linear_sample, g711::linear_to_ulaw),
            AudioCodec::Pcma => (g711::alaw_to_linear_sample, g711::linear_to_alaw),
            _ => return bytes::Bytes::copy_from_slice(self.encode_8k(frame)),
        };
        let mixed: Vec<u8> = mix
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let tone = frame.get(i).copied().unwrap_or(0);
                enc(dec(b).saturating_add(tone))
            })
            .collect();
        bytes::Bytes::from(mixed)
    }
}

/// A joined phone caller's IVR, for `*6`.
#[derive(Debug)]
pub(crate) struct InCallIvr {
    pub(crate) call: IvrCall,
    pub(crate) phone: PhoneAudio,
}

/// A phone caller in the IVR (before joining).
#[derive(Debug)]
pub(super) struct IvrLeg {
    caller: Pii<String>,
    display_name: String,
    ivr: IvrCall,
    audio: LegStream,
    audio_pt: Pt,
    phone: PhoneAudio,
    ssrc: u32,
    seq: u16,
    rtp_ts: u32,
    hold: bool,
    hangup: mpsc::Sender<SipCommand>,
    /// BYE asked for: the leg only waits for the SIP task's `End`.
    ended: bool,
    /// When the caller last pressed `#` (a lookup or PIN check went out).
    entered_at: Option<Instant>,
    /// The room looked up has a waiting room.
    waiting_room: bool,
}

/// Room lookups and PIN checks, answered by the directory thread.
#[derive(Debug)]
pub(super) enum DirectoryQuery {
    Lookup {
        call: CallHandle,
        room: RoomId,
    },
    Verify {
        call: CallHandle,
        caller: Pii<String>,
        room: RoomId,
        pin: Pii<String>,
    },
}

#[derive(Debug)]
pub(super) enum DirectoryAnswer {
    Room {
        call: CallHandle,
        room: RoomId,
        info: Option<RoomInfo>,
        /// The room has a waiting room: the caller waits there after the IVR.
        waiting_room: bool,
    },
    Pin {
        call: CallHandle,
        check: PinCheck,
    },
}

/// Starts the thread that owns a store connection and the process's [`PinGuard`]: SQLite
/// calls block, so they stay off the media task. Ends when the media task drops its sender.
pub(super) fn spawn_directory(
    db: &Path,
    clock: Clock,
    answers: Vec<mpsc::Sender<DirectoryAnswer>>,
    placement: Arc<Placement>,
) -> anyhow::Result<mpsc::Sender<DirectoryQuery>> {
    use anyhow::Context as _;
    let store =
        Store::open(db).with_context(|| format!("IVR: cannot open database {}", db.display()))?;
    let (tx, mut rx) = mpsc::channel::<DirectoryQuery>(DIRECTORY_QUEUE);
    std::thread::Builder::new()
        .name("ivr-directory".to_owned())
        .spawn(move || {
            let _span = info_span!("ivr-directory").entered();
            let mut guard = PinGuard::new(PinGuardConfig::default());
            while let Some(q) = rx.blocking_recv() {
                let answer = match q {
                    DirectoryQuery::Lookup { call, room } => {
                        let info = match store.room(room) {
                            Ok(found) => found.map(|r| RoomInfo {
                                has_pin: r.pin.is_some(),
                                // Filled in by the media task, which knows.
                                recording: false,
                            }),
                            Err(e) => {
                                warn!(error = %e, "room lookup failed");
                                None
                            }
                        };
                        let waiting_room = info.is_some()
                            && store.waiting_room(room).unwrap_or_else(|e| {
                                warn!(error = %e, "waiting-room lookup failed");
                                false
                            });
                        DirectoryAnswer::Room {
                            call,
                            room,
                            info,
                            waiting_room,
                        }
                    }
                    DirectoryQuery::Verify {
                        call,
                        caller,
                        room,
                        pin,
                    } => {
                        let expected = match store.room(room) {
                            Ok(r) => r.and_then(|r| r.pin),
                            Err(e) => {
                                warn!(error = %e, "room lookup for a PIN failed");
                                None
                            }
                        };
                        let check = guard.check(clock.now(), &caller.0, room, || {
                            expected.is_some_and(|e| same_digits(e.as_str(), &pin.0))
                        });
                        DirectoryAnswer::Pin { call, check }
                    }
                };
                // To the shard that has the call now (it may have moved to a room elsewhere).
                let call = match &answer {
                    DirectoryAnswer::Room { call, .. } | DirectoryAnswer::Pin { call, .. } => *call,
                };
                let shard = placement.shard_of_call(call).unwrap_or(0);
                let Some(to) = answers.get(shard) else {
                    continue;
                };
                if to.blocking_send(answer).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the IVR directory thread")?;
    Ok(tx)
}

/// Compares two digit strings in time independent of where they differ.
fn same_digits(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Task {
    pub(super) fn answer_ivr(&mut self, q: IvrQuery) {
        match q {
            IvrQuery::Start(start) => self.start_ivr(*start),
            IvrQuery::Digit {
                call,
                digit,
                duration_ms,
            } => {
                let now = self.clock.now();
                // Through the INFO parser, so the digit is de-duplicated as a SIP INFO one.
                let body = format!(
                    "Signal={digit}\r\nDuration={}\r\n",
                    duration_ms.unwrap_or(100)
                );
                if let Some(leg) = self.ivrs.get_mut(&call) {
                    let _ = leg
                        .ivr
                        .handle_sip_info(now, "application/dtmf-relay", body.as_bytes());
                    self.ivr_events(call);
                } else if let Some(&id) = self.ivr_joined.get(&call) {
                    if let Some(i) = self.sips.get_mut(&id).and_then(|s| s.ivr.as_mut()) {
                        let _ =
                            i.call
                                .handle_sip_info(now, "application/dtmf-relay", body.as_bytes());
                    }
                    self.in_call_ivr_events(id);
                }
            }
            IvrQuery::Update { call, audio, hold } => {
                if let Some(leg) = self.ivrs.get_mut(&call) {
                    let now = self.clock.now();
                    leg.hold = hold;
                    if let Some(a) = audio {
                        if remote_of(&a).is_some() && remote_of(&a) != leg.audio.filter.remote() {
                            leg.audio.filter.relearn(now, remote_of(&a));
                        }
                        leg.ivr.set_telephone_event_pt(a.telephone_event_pt.map(Pt));
                        leg.audio.stream = a;
                    }
                } else if let Some(&id) = self.ivr_joined.get(&call) {
                    if let (Some(a), Some(i)) = (
                        audio.as_ref(),
                        self.sips.get_mut(&id).and_then(|s| s.ivr.as_mut()),
                    ) {
                        i.call.set_telephone_event_pt(a.telephone_event_pt.map(Pt));
                    }
                    self.update_sip(id, audio, None, hold);
                }
            }
            IvrQuery::End(call) => {
                if self.ivrs.remove(&call).is_some() {
                    info!(call = call.0, "dial-in caller left in the IVR");
                    self.placement.end_call(call, true);
                } else if let Some(id) = self.ivr_joined.remove(&call) {
                    self.leave_sip(id);
                    self.placement.end_call(call, false);
                }
            }
        }
    }

    fn start_ivr(&mut self, start: StartIvr) {
        let span = info_span!("ivr", call = start.call.0);
        let _g = span.enter();
        let Some(codec) = audio_codec(start.audio.stream.codec) else {
            warn!("dial-in call without an audio codec: hanging up");
            let _ = start.hangup.try_send(SipCommand::Hangup(start.call));
            return;
        };
        let phone = match PhoneAudio::new(codec) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "no codec for the dial-in call: hanging up");
                let _ = start.hangup.try_send(SipCommand::Hangup(start.call));
                return;
            }
        };
        let ts = self.clock.now();
        let mut ivr = IvrCall::new(
            ts,
            IvrConfig {
                language: start.language,
                ..IvrConfig::default()
            },
        );
        ivr.set_telephone_event_pt(start.audio.stream.telephone_event_pt.map(Pt));
        let SipMedia { stream, rtp, rtcp } = match start.audio.rehome() {
            Ok(media) => media,
            Err(e) => {
                warn!(error = %e, "cannot register the call's sockets with its shard: hanging up");
                let _ = start.hangup.try_send(SipCommand::Hangup(start.call));
                return;
            }
        };
        let audio_pt = Pt(stream.pt);
        let hold = !matches!(stream.direction, pont_sip::sdp::Direction::SendRecv);
        let audio = LegStream::start(
            Arc::new(rtp),
            Arc::new(rtcp),
            SourceFilter::new(ts, remote_of(&stream), SOURCE_LEARNING),
            stream,
            LegKey::Ivr(start.call),
            false,
            &self.sip_tx,
        );
        let r = rand::random::<u64>();
        if self.ivrs.is_empty() {
            // The 20 ms grid slept while nobody was in the IVR: it starts from now, not
            // overdue since the last caller (which admission control would take for lag).
            self.ivr_next_tick = Instant::now();
        }
        self.ivrs.insert(
            start.call,
            IvrLeg {
                caller: start.caller,
                display_name: start.display_name,
                ivr,
                audio,
                audio_pt,
                phone,
                ssrc: (r >> 32) as u32 | 1,
                seq: (r >> 16) as u16,
                rtp_ts: r as u32,
                hold,
                hangup: start.hangup,
                ended: false,
                entered_at: None,
                waiting_room: false,
            },
        );
        self.ivr_stats.calls += 1;
        info!(%codec, language = %start.language, "dial-in caller in the IVR");
        drop(_g);
        self.ivr_events(start.call);
    }

    /// A datagram on a dial-in leg still in the IVR: source check, then DTMF.
    pub(super) fn handle_ivr_datagram(&mut self, call: CallHandle, d: SipDatagram) {
        let ts = self.clock.timestamp(d.at);
        let Some(leg) = self.ivrs.get_mut(&call) else {
            return;
        };
        let is_rtcp =
            d.rtcp_port || (leg.audio.stream.rtcp_mux && pont_media::rtp::is_rtcp(&d.data));
        if is_rtcp || leg.ended {
            return;
        }
        let Ok(p) = pont_media::rtp::RtpPacket::parse(&d.data) else {
            return;
        };
        if !leg.audio.filter.accept_rtp(ts, d.from, p.seq) {
            return;
        }
        let event = leg.ivr.handle_rtp_event(ts, p.pt, p.timestamp, p.payload());
        if !event
            && p.pt == leg.audio_pt
            && let Some(pcm) = leg.phone.decode_8k(p.payload())
        {
            leg.ivr.handle_pcm(ts, pcm);
        }
        self.ivr_events(call);
    }

    /// The directory's answer to a room lookup or PIN check.
    pub(super) fn handle_directory_answer(&mut self, a: DirectoryAnswer) {
        let now = self.clock.now();
        let call = match a {
            DirectoryAnswer::Room {
                call,
                room,
                info,
                waiting_room,
            } => {
                // A room that exists but is locked or full: the caller is told so, not that
                // the number is wrong.
                let unavailable = info.is_some() && self.room_closed(room).is_some();
                let recording = self.is_recording(room);
                let info = info.map(|i| RoomInfo { recording, ..i });
                if let Some(leg) = self.ivrs.get_mut(&call) {
                    leg.waiting_room = waiting_room;
                    if info.is_none() {
                        // Counts toward the source's room-guessing limit (`[security]`).
                        let _ = leg.hangup.try_send(SipCommand::WrongRoom(call));
                    }
                    if unavailable {
                        info!(%room, call = call.0, "room locked or full: the dial-in caller is told");
                        leg.ivr.room_unavailable(now);
                    } else {
                        leg.ivr.room_info(now, info);
                    }
                }
                call
            }
            DirectoryAnswer::Pin { call, check } => {
                if let Some(leg) = self.ivrs.get_mut(&call) {
                    leg.ivr.pin_result(now, check);
                }
                call
            }
        };
        self.ivr_events(call);
    }

    /// The next 20 ms IVR tick, while callers are in the IVR.
    pub(super) fn ivr_next_timeout(&self) -> Option<Instant> {
        (!self.ivrs.is_empty() || self.has_waiting_calls()).then_some(self.ivr_next_tick)
    }

    /// One tick for every caller in the IVR: timers, then the prompt frames due (silence when
    /// none: phones and trunks expect a steady stream).
    pub(super) fn ivr_handle_timeout(&mut self, now: Instant) {
        if (self.ivrs.is_empty() && !self.has_waiting_calls()) || now < self.ivr_next_tick {
            return;
        }
        // One grid for every caller: one wake-up per 20 ms, however many are in the IVR.
        while self.ivr_next_tick <= now {
            self.ivr_next_tick += IVR_TICK;
        }
        let ts = self.clock.timestamp(now);
        // Calls in a waiting room hear its prompt on the same grid.
        self.tick_waiting_calls(ts);
        let calls: Vec<CallHandle> = self.ivrs.keys().copied().collect();
        for call in calls {
            if let Some(leg) = self.ivrs.get_mut(&call) {
                if leg.ended {
                    continue;
                }
                if leg.ivr.poll_timeout().is_some_and(|t| t <= ts) {
                    leg.ivr.handle_timeout(ts);
                }
                let mut sent = false;
                while let Some(frame) = leg.ivr.poll_frame(ts) {
                    let frame = *frame;
                    send_frame(leg, &frame, &mut self.buf);
                    sent = true;
                }
                if !sent {
                    send_frame(leg, &[0; FRAME_SAMPLES], &mut self.buf);
                }
            }
            self.ivr_events(call);
        }
    }

    /// Acts on what a caller's IVR asks, until it asks nothing more.
    fn ivr_events(&mut self, call: CallHandle) {
        loop {
            let Some(leg) = self.ivrs.get_mut(&call) else {
                return;
            };
            let Some(event) = leg.ivr.poll_event() else {
                return;
            };
            let _span = info_span!("ivr", call = call.0).entered();
            match event {
                IvrEvent::Play(prompt) => debug!(?prompt, "prompt"),
                IvrEvent::LookupRoom(room) => {
                    leg.entered_at = Some(Instant::now());
                    debug!(room = %Pii(room), "room number entered");
                    if self
                        .directory
                        .try_send(DirectoryQuery::Lookup { call, room })
                        .is_err()
                    {
                        // The IVR's application timeout says goodbye.
                        warn!("directory busy: room lookup dropped");
                    }
                }
                IvrEvent::VerifyPin { room, pin } => {
                    leg.entered_at = Some(Instant::now());
                    let q = DirectoryQuery::Verify {
                        call,
                        caller: leg.caller.clone(),
                        room,
                        pin,
                    };
                    if self.directory.try_send(q).is_err() {
                        warn!("directory busy: PIN check dropped");
                    }
                }
                IvrEvent::Join { room } => {
                    drop(_span);
                    self.ivr_join(call, room);
                    return;
                }
                IvrEvent::ToggleMute | IvrEvent::Key(_) => {}
                IvrEvent::Hangup(reason) => {
                    info!(?reason, "IVR hangs up: BYE");
                    leg.ended = true;
                    self.ivr_stats.hangups += 1;
                    let _ = leg.hangup.try_send(SipCommand::Hangup(call));
                }
            }
        }
    }

    /// The caller is through: the leg becomes a `pstn` participant of the room, on this shard
    /// or on the one the room lives on.
    fn ivr_join(&mut self, call: CallHandle, room: RoomId) {
        let Some(leg) = self.ivrs.remove(&call) else {
            return;
        };
        // The hold the participant keeps on the room (given back when it leaves).
        let owner = self.placement.enter(room);
        self.placement.move_call(call, owner);
        let waited = leg.entered_at.map(|t| t.elapsed());
        let IvrLeg {
            display_name,
            ivr,
            audio,
            phone,
            ssrc,
            seq,
            rtp_ts,
            hangup,
            waiting_room,
            ..
        } = leg;
        let attach = Attach {
            room,
            call,
            kind: ParticipantKind::Pstn,
            display_name,
            audio: AttachAudio {
                rtp: audio.rtp.clone(),
                rtcp: audio.rtcp.clone(),
                filter: audio.filter.clone(),
                stream: audio.stream.clone(),
            },
            video: None,
            hangup,
            // The mix continues the stream the prompts were sent on.
            mix_ssrc: ssrc,
            initial_timestamp: rtp_ts,
            initial_seq: seq,
            ivr: Some(Box::new(InCallIvr { call: ivr, phone })),
            waiting_room,
        };
        // Stops the IVR's socket readers; the participant's start below.
        drop(audio);
        if owner == self.shard {
            self.attach_ivr(attach, waited);
            return;
        }
        // The room lives on another shard: the leg (its sockets, its stream, its in-call IVR)
        // moves there; the SIP task's later messages about the call follow the placement.
        debug!(%room, call = call.0, to = owner, "dial-in caller moves to the room's shard");
        if let Err(e) = self.peers[owner].try_send(Query::AttachIvr(Box::new(attach), waited)) {
            let attach = match e {
                mpsc::error::TrySendError::Full(Query::AttachIvr(a, _))
                | mpsc::error::TrySendError::Closed(Query::AttachIvr(a, _)) => a,
                _ => return,
            };
            warn!(%room, call = call.0, "the room's shard does not answer: the caller is hung up");
            self.placement.release(room);
            let _ = attach.hangup.try_send(SipCommand::Hangup(call));
        }
    }

    /// A dial-in caller through the IVR (here or on another shard) joins its room, which lives
    /// on this shard.
    pub(super) fn attach_ivr(&mut self, attach: Attach, waited: Option<Duration>) {
        let (call, room) = (attach.call, attach.room);
        // Closed between the lookup (which tells the caller) and the end of the prompts.
        if let Some(refused) = self.room_closed(room) {
            info!(%room, call = call.0, ?refused, "room closed: the dial-in caller is hung up");
            self.placement.release(room);
            let _ = attach.hangup.try_send(SipCommand::Hangup(call));
            return;
        }
        let ts = self.clock.now();
        let id = self.attach_sip(ts, attach);
        self.ivr_joined.insert(call, id);
        if let Some(w) = waited {
            self.ivr_stats.record_join(w.as_secs_f64());
        }
        info!(%room, participant = %id, call = call.0,
              hash_to_joined_ms = waited.map(|w| w.as_millis() as u64), "dial-in caller joined");
    }

    pub(super) fn ivr_stats(&self) -> IvrStats {
        IvrStats {
            in_ivr: self.ivrs.len(),
            ..self.ivr_stats.clone()
        }
    }
}

/// One 20 ms prompt (or silence) frame to the caller, in its codec.
fn send_frame(leg: &mut IvrLeg, frame: &[i16; FRAME_SAMPLES], buf: &mut Vec<u8>) {
    let codec = leg.phone.codec;
    let payload = leg.phone.encode_8k(frame);
    buf.clear();
    buf.extend_from_slice(&[0x80, leg.audio_pt.0 & 0x7f]);
    buf.extend_from_slice(&leg.seq.to_be_bytes());
    buf.extend_from_slice(&leg.rtp_ts.to_be_bytes());
    buf.extend_from_slice(&leg.ssrc.to_be_bytes());
    buf.extend_from_slice(payload);
    leg.seq = leg.seq.wrapping_add(1);
    leg.rtp_ts = leg.rtp_ts.wrapping_add(codec.frame_rtp_ticks());
    if leg.hold || !leg.audio.sends() {
        return;
    }
    if let Some(to) = leg.audio.remote_rtp() {
        let _ = leg.audio.rtp.try_send_to(buf, to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_compare_whole() {
        assert!(same_digits("1234", "1234"));
        assert!(!same_digits("1234", "1235"));
        assert!(!same_digits("1234", "12345"));
        assert!(!same_digits("", "1"));
    }

    #[test]
    fn phone_audio_round_trips_through_each_codec() {
        let tone: [i16; FRAME_SAMPLES] =
            std::array::from_fn(|i| (8000.0 * (i as f32 * 0.3).sin()) as i16);
        for codec in [
            AudioCodec::Pcmu,
            AudioCodec::Pcma,
            AudioCodec::G722,
            AudioCodec::Opus,
        ] {
            let mut a = PhoneAudio::new(codec).unwrap();
            let payload = a.encode_8k(&tone).to_vec();
            assert!(!payload.is_empty(), "{codec}");
            let pcm = a.decode_8k(&payload).unwrap();
            assert_eq!(pcm.len(), FRAME_SAMPLES, "{codec}");
        }
    }

    #[test]
    fn a_tone_is_mixed_over_g711() {
        let mut a = PhoneAudio::new(AudioCodec::Pcmu).unwrap();
        let silence = bytes::Bytes::from(vec![g711::linear_to_ulaw(0); FRAME_SAMPLES]);
        let tone: [i16; FRAME_SAMPLES] = [4000; FRAME_SAMPLES];
        let mixed = a.mix_over(&silence, &tone);
        assert_eq!(mixed.len(), FRAME_SAMPLES);
        let back = g711::ulaw_to_linear_sample(mixed[0]);
        assert!((back - 4000).abs() < 200, "{back}");
    }

    #[test]
    fn join_latency_lands_in_its_bucket() {
        let mut s = IvrStats::default();
        s.record_join(1.2);
        s.record_join(42.0);
        assert_eq!(s.join_buckets[2], 1);
        assert_eq!(s.join_buckets[JOIN_BUCKETS.len()], 1);
        assert_eq!(s.joined, 2);
    }
}
