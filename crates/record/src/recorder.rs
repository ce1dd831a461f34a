//! The recorder sink: the room's full mix (and later its composed video) in, fragmented MP4
//! bytes out, in order, ready to append to a file.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use pont_audio::OpusFramer;
use pont_types::Timestamp;
use tracing::warn;

use crate::RecordError;
use crate::mp4::{self, OPUS_TIMESCALE, Sample, Track, TrackKind, TrackRun, VIDEO_TIMESCALE};

use pont_audio::OPUS_FRAME;
/// libopus's lookahead at 48 kHz for the VoIP application: 2.5 ms + 4 ms (`OPUS_GET_LOOKAHEAD`);
/// written as the `dOps` pre-skip so players drop the encoder's delay.
const OPUS_PRE_SKIP: u16 = 312;
const AUDIO_TRACK: u32 = 1;
const VIDEO_TRACK: u32 = 2;

/// How the recorder cuts its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Media time per fragment. 1 s: a crash loses at most the last second, and the `moof`
    /// overhead (~12 bytes per 20 ms packet plus ~100 per fragment) stays near 5 % at 32 kbit/s.
    pub fragment: Duration,
    /// The composed video, if the room has one: its track is announced in the init segment.
    /// With empty `sps`/`pps` the init segment waits for [`Recorder::handle_video_parameter_sets`]
    /// (the first keyframe's), up to `video_wait` of audio.
    pub video: Option<VideoConfig>,
    /// How much audio to hold back while waiting for the video's parameter sets; then the
    /// recording goes on audio only. Default 3 s.
    pub video_wait: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            fragment: Duration::from_secs(1),
            video: None,
            video_wait: Duration::from_secs(3),
        }
    }
}

/// The composed video's stream parameters (from the composer's encoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    pub width: u16,
    pub height: u16,
    /// Sequence and picture parameter sets, without start codes.
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
}

/// Whether the recorder takes media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecorderState {
    Recording,
    Paused,
    Finished,
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    pub audio_frames: u64,
    pub encode_errors: u64,
    pub video_samples: u64,
    pub fragments: u32,
    pub bytes: u64,
}

/// One recording's encoder and muxer. Sans-IO: media in through `handle_*`, file bytes out
/// through [`Recorder::poll_output`] (the init segment first, then one chunk per fragment; each
/// chunk must be appended whole, in order).
///
/// Paused time is left out: media handed in while paused is dropped and the file's timeline
/// simply continues at resume.
#[derive(Debug)]
pub struct Recorder {
    config: RecorderConfig,
    state: RecorderState,
    /// The full mix, resampled to 48 kHz and encoded in 20 ms packets.
    framer: OpusFramer,
    /// Samples of the open fragment, and the track time (ticks) where it starts.
    audio: Vec<Sample>,
    audio_start: u64,
    /// Track time of the next audio sample: the recorded media time in 48 kHz ticks.
    audio_time: u64,
    video: Vec<Sample>,
    video_start: u64,
    /// The last video access unit, waiting for the next one to know its duration.
    video_pending: Option<(u32, Bytes, bool)>,
    /// Track time (90 kHz) of `video_pending`.
    video_time: u64,
    /// Waiting for a keyframe (at the start and after a pause).
    video_needs_key: bool,
    /// The init segment is out (it waits for the video's parameter sets when they were not
    /// known at creation).
    init_sent: bool,
    sequence: u32,
    out: VecDeque<Bytes>,
    stats: RecorderStats,
}

impl Recorder {
    pub fn new(config: RecorderConfig) -> Result<Self, RecordError> {
        let framer = OpusFramer::new()?;
        let mut r = Self {
            config,
            state: RecorderState::Recording,
            framer,
            audio: Vec::new(),
            audio_start: 0,
            audio_time: 0,
            video: Vec::new(),
            video_start: 0,
            video_pending: None,
            video_time: 0,
            video_needs_key: true,
            init_sent: false,
            sequence: 0,
            out: VecDeque::new(),
            stats: RecorderStats::default(),
        };
        if r.config.video.as_ref().is_none_or(|v| !v.sps.is_empty()) {
            r.send_init();
        }
        Ok(r)
    }

    /// The init segment (`ftyp` + `moov`) with the tracks known now; fragments held back while
    /// it waited follow it.
    fn send_init(&mut self) {
        let mut tracks = vec![Track {
            id: AUDIO_TRACK,
            kind: TrackKind::Opus {
                channels: 1,
                pre_skip: OPUS_PRE_SKIP,
                input_rate: OPUS_TIMESCALE,
            },
        }];
        if let Some(v) = &self.config.video {
            tracks.push(Track {
                id: VIDEO_TRACK,
                kind: TrackKind::H264 {
                    width: v.width,
                    height: v.height,
                    sps: v.sps.clone(),
                    pps: v.pps.clone(),
                },
            });
        }
        let init = Bytes::from(mp4::init_segment(&tracks));
        self.stats.bytes += init.len() as u64;
        self.out.push_front(init);
        self.init_sent = true;
    }

    /// Whether the file has begun: false while the init segment waits for the video's
    /// parameter sets.
    pub fn started(&self) -> bool {
        self.init_sent
    }

    /// The video has no keyframe yet and the wait is over, or the recording ends: go on with
    /// audio alone.
    fn give_up_video(&mut self) {
        if !self.init_sent {
            warn!("no video keyframe in time: recording audio only");
            self.config.video = None;
            self.video.clear();
            self.video_pending = None;
            self.send_init();
        }
    }

    // ---- getters ----

    pub fn state(&self) -> RecorderState {
        self.state
    }

    /// Recorded media time so far (paused time excluded), fragments not yet out included.
    pub fn media_duration(&self) -> Duration {
        Duration::from_micros(self.audio_time * 1_000_000 / u64::from(OPUS_TIMESCALE))
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    // ---- input ----

    /// One frame of the room's full mix at `rate` Hz (8, 16 or 48 kHz), mono.
    pub fn handle_audio(&mut self, _now: Timestamp, rate: u32, pcm: &[i16]) {
        if self.state != RecorderState::Recording || pcm.is_empty() {
            return;
        }
        if !self.framer.push(rate, pcm) {
            warn!(rate, "no resampler for this mix rate: frame dropped");
            return;
        }
        while let Some(packet) = self.framer.next_packet() {
            match packet {
                Ok(packet) => {
                    self.audio.push(Sample {
                        duration: OPUS_FRAME as u32,
                        data: Bytes::copy_from_slice(packet),
                        sync: true,
                    });
                    self.audio_time += OPUS_FRAME as u64;
                    self.stats.audio_frames += 1;
                }
                Err(e) => {
                    self.stats.encode_errors += 1;
                    warn!(error = %e, "opus encode failed: 20 ms left out");
                }
            }
        }
        if !self.init_sent
            && self.audio_time * 1_000_000 / u64::from(OPUS_TIMESCALE)
                >= self.config.video_wait.as_micros() as u64
        {
            self.give_up_video();
        }
        let open = Duration::from_micros(
            (self.audio_time - self.audio_start) * 1_000_000 / u64::from(OPUS_TIMESCALE),
        );
        if open >= self.config.fragment {
            self.flush();
        }
    }

    /// One access unit of the composed video: NAL units each prefixed by a 4-byte big-endian
    /// length (AVCC), its RTP timestamp (90 kHz) and whether it is an IDR. Dropped unless the
    /// recorder was created with [`RecorderConfig::video`]; after a start or a resume, dropped
    /// until a keyframe.
    pub fn handle_video(&mut self, _now: Timestamp, rtp_ts: u32, avcc: Bytes, keyframe: bool) {
        if self.state != RecorderState::Recording || self.config.video.is_none() || !self.init_sent
        {
            return;
        }
        if self.video_needs_key {
            if !keyframe {
                return;
            }
            self.video_needs_key = false;
            // Start where the audio is, so both tracks share one timeline across pauses.
            self.video_time =
                self.audio_time * u64::from(VIDEO_TIMESCALE) / u64::from(OPUS_TIMESCALE);
            if self.video.is_empty() {
                self.video_start = self.video_time;
            }
        } else if let Some((prev_ts, data, sync)) = self.video_pending.take() {
            // 90 kHz ticks since the previous frame; a frame time going backwards or a gap of
            // more than 10 s is clamped to one 30 fps frame.
            let delta = rtp_ts.wrapping_sub(prev_ts);
            let duration = if delta == 0 || delta > 10 * VIDEO_TIMESCALE {
                VIDEO_TIMESCALE / 30
            } else {
                delta
            };
            self.video.push(Sample {
                duration,
                data,
                sync,
            });
            self.video_time += u64::from(duration);
            self.stats.video_samples += 1;
        }
        self.video_pending = Some((rtp_ts, avcc, keyframe));
    }

    /// The video's SPS and PPS (without start codes), from a keyframe. The first ones complete
    /// the init segment when they were not known at creation; later ones are ignored (the
    /// composer's encoder keeps its parameters for the whole recording).
    pub fn handle_video_parameter_sets(&mut self, sps: &[u8], pps: &[u8]) {
        if self.init_sent || sps.is_empty() || pps.is_empty() {
            return;
        }
        if let Some(v) = self.config.video.as_mut() {
            v.sps = sps.to_vec();
            v.pps = pps.to_vec();
            self.send_init();
        }
    }

    // ---- commands ----

    /// Stops taking media; what is buffered goes out as a fragment now.
    pub fn pause(&mut self) {
        if self.state == RecorderState::Recording {
            self.close_video_sample();
            self.flush();
            self.state = RecorderState::Paused;
        }
    }

    /// Takes media again; the file's timeline continues where the pause began.
    pub fn resume(&mut self) {
        if self.state == RecorderState::Paused {
            self.state = RecorderState::Recording;
            self.framer.clear();
            self.video_needs_key = true;
        }
    }

    /// Ends the recording: the last fragment goes out; later media is ignored.
    pub fn finish(&mut self) {
        if self.state != RecorderState::Finished {
            self.give_up_video();
            self.close_video_sample();
            self.flush();
            self.state = RecorderState::Finished;
        }
    }

    // ---- output ----

    /// The next bytes to append to the file.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    /// The held-back video frame gets a nominal duration (the next frame will not come).
    fn close_video_sample(&mut self) {
        if let Some((_, data, sync)) = self.video_pending.take() {
            let duration = VIDEO_TIMESCALE / 30;
            self.video.push(Sample {
                duration,
                data,
                sync,
            });
            self.video_time += u64::from(duration);
            self.stats.video_samples += 1;
            self.video_needs_key = true;
        }
    }

    fn flush(&mut self) {
        if !self.init_sent {
            // Held until the init segment can go first.
            return;
        }
        let runs = [
            TrackRun {
                track_id: AUDIO_TRACK,
                base_time: self.audio_start,
                samples: std::mem::take(&mut self.audio),
            },
            TrackRun {
                track_id: VIDEO_TRACK,
                base_time: self.video_start,
                samples: std::mem::take(&mut self.video),
            },
        ];
        self.audio_start = self.audio_time;
        self.video_start = self.video_time;
        if let Some(frag) = mp4::fragment(self.sequence + 1, &runs) {
            self.sequence += 1;
            self.stats.fragments = self.sequence;
            self.stats.bytes += frag.len() as u64;
            self.out.push_back(Bytes::from(frag));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::scan_bytes;

    fn tone(rate: u32, frames: usize) -> Vec<Vec<i16>> {
        let n = rate as usize / 50;
        (0..frames)
            .map(|f| {
                (0..n)
                    .map(|i| {
                        let t = (f * n + i) as f64 / f64::from(rate);
                        (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn drain(r: &mut Recorder) -> Vec<u8> {
        let mut file = Vec::new();
        while let Some(b) = r.poll_output() {
            file.extend_from_slice(&b);
        }
        file
    }

    #[test]
    fn one_second_fragments_from_an_8khz_mix() {
        let mut r = Recorder::new(RecorderConfig::default()).unwrap();
        let mut file = drain(&mut r);
        assert_eq!(scan_bytes(&file).fragments, 0);
        for (i, f) in tone(8000, 125).iter().enumerate() {
            r.handle_audio(Timestamp::from_millis(20 * i as u64), 8000, f);
        }
        file.extend(drain(&mut r));
        // 2.5 s in: two whole fragments out, half a second still open.
        let s = scan_bytes(&file);
        assert_eq!(s.fragments, 2);
        assert!((s.duration_secs - 2.0).abs() < 1e-9, "{}", s.duration_secs);
        r.finish();
        file.extend(drain(&mut r));
        let s = scan_bytes(&file);
        assert_eq!(s.fragments, 3);
        assert!((s.duration_secs - 2.5).abs() < 0.021, "{}", s.duration_secs);
        assert_eq!(r.stats().audio_frames, 125);
        assert_eq!(r.stats().bytes, file.len() as u64);
        assert_eq!(r.media_duration(), Duration::from_millis(2500));
    }

    #[test]
    fn paused_media_is_left_out() {
        let mut r = Recorder::new(RecorderConfig::default()).unwrap();
        let frames = tone(48_000, 150);
        for f in &frames[..50] {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        r.pause();
        for f in &frames[50..100] {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        assert_eq!(r.state(), RecorderState::Paused);
        r.resume();
        for f in &frames[100..] {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        r.finish();
        let s = scan_bytes(&drain(&mut r));
        assert!((s.duration_secs - 2.0).abs() < 1e-9, "{}", s.duration_secs);
        // Media after finish is ignored.
        r.handle_audio(Timestamp::ZERO, 48_000, &frames[0]);
        assert_eq!(r.poll_output(), None);
        assert_eq!(r.media_duration(), Duration::from_secs(2));
    }

    #[test]
    fn a_rate_change_mid_recording_keeps_the_timeline() {
        let mut r = Recorder::new(RecorderConfig::default()).unwrap();
        for f in &tone(48_000, 25) {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        for f in &tone(16_000, 25) {
            r.handle_audio(Timestamp::ZERO, 16_000, f);
        }
        r.finish();
        let s = scan_bytes(&drain(&mut r));
        assert!((s.duration_secs - 1.0).abs() < 0.021, "{}", s.duration_secs);
    }

    #[test]
    fn video_waits_for_a_keyframe_and_shares_the_timeline() {
        let config = RecorderConfig {
            video: Some(VideoConfig {
                width: 320,
                height: 240,
                sps: vec![0x67, 0x42, 0xc0, 0x1f],
                pps: vec![0x68, 0xce],
            }),
            ..RecorderConfig::default()
        };
        let mut r = Recorder::new(config).unwrap();
        let au = Bytes::from_static(&[0, 0, 0, 1, 0x65]);
        r.handle_video(Timestamp::ZERO, 0, au.clone(), false); // no keyframe yet: dropped
        for (i, f) in tone(48_000, 50).iter().enumerate() {
            if i % 2 == 0 {
                let ts = 3000 * (i as u32 / 2 + 1);
                r.handle_video(Timestamp::ZERO, ts, au.clone(), i == 0);
            }
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        r.finish();
        let file = drain(&mut r);
        let s = scan_bytes(&file);
        // The 1 s flush came with the audio; the held-back last frame closed at finish.
        assert_eq!(s.fragments, 2);
        assert_eq!(r.stats().video_samples, 25);
        assert!((s.duration_secs - 1.0).abs() < 0.04, "{}", s.duration_secs);
    }

    fn has_box(file: &[u8], name: &[u8; 4]) -> bool {
        file.windows(4).any(|w| w == name)
    }

    fn awaiting_video() -> RecorderConfig {
        RecorderConfig {
            video: Some(VideoConfig {
                width: 320,
                height: 240,
                sps: Vec::new(),
                pps: Vec::new(),
            }),
            ..RecorderConfig::default()
        }
    }

    #[test]
    fn the_init_segment_waits_for_the_first_keyframes_parameter_sets() {
        let mut r = Recorder::new(awaiting_video()).unwrap();
        let frames = tone(48_000, 100);
        // 1.5 s of audio while the composer starts: nothing goes out yet, nothing is lost.
        for f in &frames[..75] {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        assert!(!r.started());
        assert_eq!(r.poll_output(), None);
        let au = Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]);
        r.handle_video(Timestamp::ZERO, 0, au.clone(), true); // before the parameter sets: dropped
        r.handle_video_parameter_sets(&[0x67, 0x42, 0xc0, 0x1f], &[0x68, 0xce]);
        assert!(r.started());
        for (i, f) in frames[75..].iter().enumerate() {
            if i % 2 == 0 {
                r.handle_video(Timestamp::ZERO, 1800 * i as u32, au.clone(), i == 0);
            }
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        r.finish();
        let file = drain(&mut r);
        assert!(has_box(&file, b"avcC"));
        let s = scan_bytes(&file);
        assert!(s.has_init);
        assert!((s.duration_secs - 2.0).abs() < 0.05, "{}", s.duration_secs);
        assert_eq!(r.stats().audio_frames, 100);
        assert_eq!(r.stats().video_samples, 13);
        assert_eq!(r.stats().bytes, file.len() as u64);
    }

    #[test]
    fn no_keyframe_within_the_wait_records_audio_only() {
        let mut r = Recorder::new(awaiting_video()).unwrap();
        let frames = tone(48_000, 200);
        for f in &frames[..149] {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        assert!(!r.started());
        r.handle_audio(Timestamp::ZERO, 48_000, &frames[149]);
        assert!(r.started(), "3 s of audio is the wait");
        // Parameter sets now are too late for this file.
        r.handle_video_parameter_sets(&[0x67, 0x42, 0xc0, 0x1f], &[0x68, 0xce]);
        for f in &frames[150..] {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        r.finish();
        let file = drain(&mut r);
        assert!(!has_box(&file, b"avcC"));
        let s = scan_bytes(&file);
        assert!((s.duration_secs - 4.0).abs() < 1e-9, "{}", s.duration_secs);
    }

    #[test]
    fn finishing_before_any_keyframe_still_makes_a_playable_file() {
        let mut r = Recorder::new(awaiting_video()).unwrap();
        for f in &tone(48_000, 20) {
            r.handle_audio(Timestamp::ZERO, 48_000, f);
        }
        r.finish();
        let s = scan_bytes(&drain(&mut r));
        assert!(s.has_init);
        assert_eq!(s.fragments, 1);
        assert!((s.duration_secs - 0.4).abs() < 1e-9, "{}", s.duration_secs);
    }
}
