//! A simulated phone caller and application around one `IvrCall`, on a virtual clock that
//! ticks every 20 ms like the server's packetisation timer.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use pont_ivr::{
    Digit, HangupReason, IvrCall, IvrConfig, IvrEvent, PinGuard, Prompt, RoomInfo, TelephoneEvent,
    dtmf_frequencies,
};
use pont_types::{Pt, RoomId, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const TICK: Duration = Duration::from_millis(20);
pub const TE_PT: Pt = Pt(101);

/// How the simulated phone sends its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Rfc4733,
    Info,
    Inband,
    /// RFC 4733 *and* the tones in the audio, as many gateways do.
    Rfc4733AndInband,
}

pub struct Room {
    pub pin: Option<&'static str>,
    pub recording: bool,
}

/// The application side: the room store.
pub struct App {
    pub rooms: HashMap<RoomId, Room>,
    pub guard: PinGuard,
    pub caller: String,
    /// When false, lookups are left unanswered.
    pub answers: bool,
    /// Rooms that exist but cannot be joined now (locked or full).
    pub unavailable: Vec<RoomId>,
}

impl App {
    pub fn new() -> Self {
        let mut rooms = HashMap::new();
        rooms.insert(
            RoomId(1234),
            Room {
                pin: None,
                recording: false,
            },
        );
        rooms.insert(
            RoomId(5678),
            Room {
                pin: Some("2468"),
                recording: true,
            },
        );
        rooms.insert(
            RoomId(42),
            Room {
                pin: None,
                recording: true,
            },
        );
        Self {
            rooms,
            guard: PinGuard::new(Default::default()),
            caller: "+33123456789".into(),
            answers: true,
            unavailable: Vec::new(),
        }
    }
}

pub struct Harness {
    pub call: IvrCall,
    pub now: Timestamp,
    pub app: App,
    pub events: Vec<(Timestamp, IvrEvent)>,
    /// Frames the IVR sent (non-`None` from `poll_frame`), with their time.
    pub frames_out: Vec<(Timestamp, i16)>,
    /// PCM the phone will send, 160 samples per tick.
    pub uplink: VecDeque<i16>,
    rtp_ts: u32,
    rng: ChaCha8Rng,
    /// Peak of the background noise on the uplink (0: digital silence).
    pub noise: i16,
}

impl Harness {
    pub fn new(config: IvrConfig) -> Self {
        Self::with_app(config, App::new(), Timestamp::from_millis(1_000))
    }

    pub fn with_app(config: IvrConfig, app: App, now: Timestamp) -> Self {
        let mut call = IvrCall::new(now, config);
        call.set_telephone_event_pt(Some(TE_PT));
        let mut h = Self {
            call,
            now,
            app,
            events: Vec::new(),
            frames_out: Vec::new(),
            uplink: VecDeque::new(),
            rtp_ts: 160_000,
            rng: ChaCha8Rng::seed_from_u64(7),
            noise: 30,
        };
        h.drain();
        h
    }

    /// Polls events, answering the application's questions at once.
    pub fn drain(&mut self) {
        while let Some(ev) = self.call.poll_event() {
            match &ev {
                IvrEvent::LookupRoom(room)
                    if self.app.answers && self.app.unavailable.contains(room) =>
                {
                    self.call.room_unavailable(self.now);
                }
                IvrEvent::LookupRoom(room) if self.app.answers => {
                    let info = self.app.rooms.get(room).map(|r| RoomInfo {
                        has_pin: r.pin.is_some(),
                        recording: r.recording,
                    });
                    self.call.room_info(self.now, info);
                }
                IvrEvent::VerifyPin { room, pin } if self.app.answers => {
                    let expected = self.app.rooms.get(room).and_then(|r| r.pin);
                    let caller = self.app.caller.clone();
                    let check = self.app.guard.check(self.now, &caller, *room, || {
                        expected == Some(pin.0.as_str())
                    });
                    self.call.pin_result(self.now, check);
                }
                _ => {}
            }
            self.events.push((self.now, ev));
        }
    }

    /// One 20 ms tick: the phone's audio goes up, due timers run, frames come down.
    pub fn tick(&mut self) {
        self.now += TICK;
        let mut frame = [0i16; 160];
        for s in frame.iter_mut() {
            let n = if self.noise > 0 {
                self.rng.gen_range(-self.noise..=self.noise)
            } else {
                0
            };
            *s = self.uplink.pop_front().unwrap_or(0).saturating_add(n);
        }
        self.call.handle_pcm(self.now, &frame);
        self.drain();
        if self.call.poll_timeout().is_some_and(|t| t <= self.now) {
            self.call.handle_timeout(self.now);
            self.drain();
        }
        while let Some(f) = self.call.poll_frame(self.now) {
            let peak = f.iter().map(|s| s.saturating_abs()).max().unwrap_or(0);
            self.frames_out.push((self.now, peak));
        }
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.tick();
        }
    }

    /// Ticks until the IVR has nothing to say (or `max` passes).
    pub fn until_quiet(&mut self) {
        let end = self.now + Duration::from_secs(30);
        while self.call.is_playing(self.now) && self.now < end {
            self.tick();
        }
        self.tick();
    }

    /// Keys `keys` one after another (a key lasts 100 ms, 100 ms between keys).
    pub fn key(&mut self, keys: &str, via: Via) {
        for c in keys.chars() {
            let d = Digit::from_char(c).expect("a key");
            self.press(d, via, Duration::from_millis(100));
            self.advance(Duration::from_millis(100));
        }
    }

    pub fn press(&mut self, d: Digit, via: Via, len: Duration) {
        match via {
            Via::Rfc4733 => self.rfc4733(d, len),
            Via::Info => {
                let body = format!("Signal={}\r\nDuration={}\r\n", d.as_char(), len.as_millis());
                self.call
                    .handle_sip_info(self.now, "application/dtmf-relay", body.as_bytes())
                    .unwrap();
                self.drain();
                self.advance(len);
            }
            Via::Inband => {
                self.uplink.extend(tone(d, len, -10.0, 0.0));
                self.advance(len);
            }
            Via::Rfc4733AndInband => {
                self.uplink.extend(tone(d, len, -10.0, 0.0));
                self.rfc4733(d, len);
            }
        }
    }

    /// RFC 4733 §2.5: a start packet, updates every 20 ms, three end packets.
    fn rfc4733(&mut self, d: Digit, len: Duration) {
        let ts = self.rtp_ts;
        let ticks = (len.as_millis() / 20) as u16;
        for i in 0..ticks {
            let ev = TelephoneEvent {
                event: d.event(),
                end: false,
                volume: 10,
                duration: (i + 1) * 160,
            };
            self.rtp_event(ts, ev);
            self.tick();
        }
        let end = TelephoneEvent {
            event: d.event(),
            end: true,
            volume: 10,
            duration: ticks * 160,
        };
        for _ in 0..3 {
            self.rtp_event(ts, end);
        }
        self.rtp_ts = self.rtp_ts.wrapping_add(u32::from(ticks) * 160 + 800);
    }

    pub fn rtp_event(&mut self, ts: u32, ev: TelephoneEvent) {
        assert!(
            self.call
                .handle_rtp_event(self.now, TE_PT, ts, &ev.to_bytes())
        );
        self.drain();
    }

    pub fn prompts(&self) -> Vec<Prompt> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                IvrEvent::Play(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    pub fn joined(&self) -> Option<RoomId> {
        self.events.iter().find_map(|(_, e)| match e {
            IvrEvent::Join { room } => Some(*room),
            _ => None,
        })
    }

    pub fn hangup(&self) -> Option<(Timestamp, HangupReason)> {
        self.events.iter().find_map(|(t, e)| match e {
            IvrEvent::Hangup(r) => Some((*t, *r)),
            _ => None,
        })
    }

    pub fn lookups(&self) -> Vec<RoomId> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                IvrEvent::LookupRoom(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&IvrEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| pred(e)).count()
    }
}

/// A DTMF key as 8 kHz PCM: both tones at `dbm0` (row) and `dbm0 - twist_db` (column).
pub fn tone(d: Digit, len: Duration, dbm0: f32, twist_db: f32) -> Vec<i16> {
    tone_at(d, len, dbm0, twist_db, 1.0)
}

/// Same, with both frequencies multiplied by `deviation` (1.015 = +1.5 %).
pub fn tone_at(d: Digit, len: Duration, dbm0: f32, twist_db: f32, deviation: f32) -> Vec<i16> {
    let (fr, fc) = dtmf_frequencies(d).unwrap();
    let (fr, fc) = (fr * deviation, fc * deviation);
    let a_row = 22_656.0 * 10f32.powf(dbm0 / 20.0);
    let a_col = 22_656.0 * 10f32.powf((dbm0 - twist_db) / 20.0);
    let n = (len.as_micros() / 125) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = a_row * (2.0 * std::f32::consts::PI * fr * t).sin()
                + a_col * (2.0 * std::f32::consts::PI * fc * t).sin();
            v.clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

pub fn config() -> IvrConfig {
    IvrConfig::default()
}
