//! Plays prompts and tones as 20 ms frames of 8 kHz PCM at the pace of the caller's clock.

use std::collections::VecDeque;
use std::time::Duration;

use pont_types::Timestamp;

use crate::prompt::{Language, Prompt};
use crate::wav::Wav;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// One frame's duration.
pub const FRAME: Duration = Duration::from_millis(20);
/// Silence put between two queued prompts, so sentences do not run together.
pub const GAP: Duration = Duration::from_millis(300);
/// A driver that falls further behind than this loses the oldest frames instead of sending a
/// burst: the caller's jitter buffer would only drop them.
const MAX_LAG: Duration = Duration::from_millis(60);
/// Bound on queued items (prompts, gaps, tones); the IVR queues at most a handful.
const MAX_QUEUE: usize = 16;

/// µs per sample at 8 kHz.
const SAMPLE_MICROS: u64 = 1_000_000 / SAMPLE_RATE as u64;

#[derive(Debug, Clone, Copy)]
enum Source {
    Wav(Wav<'static>),
    Silence,
    /// A sine: frequency in Hz, peak amplitude.
    Tone(f32, f32),
}

#[derive(Debug, Clone, Copy)]
struct Item {
    source: Source,
    len: usize,
}

/// Queues prompts, silences and tones and hands them out as 20 ms frames when their time
/// comes. The audio crate resamples to 16/48 kHz and encodes; this only speaks 8 kHz.
#[derive(Debug)]
pub struct PromptPlayer {
    lang: Language,
    queue: VecDeque<Item>,
    /// Samples of the head item already played.
    offset: usize,
    next_frame_at: Timestamp,
    /// When the queued audio ends at real-time pace. Kept after the last frame was pulled,
    /// until [`stop`](Self::stop), so the owner sees the end whether or not frames were pulled.
    end: Option<Timestamp>,
    frame: [i16; FRAME_SAMPLES],
}

impl PromptPlayer {
    pub fn new(lang: Language) -> Self {
        Self {
            lang,
            queue: VecDeque::new(),
            offset: 0,
            next_frame_at: Timestamp::ZERO,
            end: None,
            frame: [0; FRAME_SAMPLES],
        }
    }

    pub fn language(&self) -> Language {
        self.lang
    }

    fn push(&mut self, now: Timestamp, item: Item) {
        if self.queue.is_empty() {
            self.offset = 0;
            self.next_frame_at = now;
        }
        if self.queue.len() < MAX_QUEUE && item.len > 0 {
            self.queue.push_back(item);
        }
        let frames = self.remaining_samples().div_ceil(FRAME_SAMPLES) as u32;
        self.end = Some(self.next_frame_at + FRAME * frames);
    }

    /// Queues a prompt after whatever is playing, with a short silence between the two.
    pub fn play(&mut self, now: Timestamp, prompt: Prompt) {
        if !self.queue.is_empty() {
            self.silence(now, GAP);
        }
        match prompt.audio(self.lang) {
            Some(wav) => self.push(
                now,
                Item {
                    len: wav.len(),
                    source: Source::Wav(wav),
                },
            ),
            None => self.silence(now, Duration::from_millis(500)),
        }
    }

    /// Queues silence.
    pub fn silence(&mut self, now: Timestamp, d: Duration) {
        let len = (d.as_micros() / u128::from(SAMPLE_MICROS)) as usize;
        self.push(
            now,
            Item {
                source: Source::Silence,
                len,
            },
        );
    }

    /// Queues a sine tone of `freq` Hz at `dbm0` (peak of a 0 dBm0 sine is 22 656 in 16 bits).
    pub fn tone(&mut self, now: Timestamp, freq: f32, dbm0: f32, d: Duration) {
        let amp = 22_656.0 * 10f32.powf(dbm0 / 20.0);
        let len = (d.as_micros() / u128::from(SAMPLE_MICROS)) as usize;
        self.push(
            now,
            Item {
                source: Source::Tone(freq, amp),
                len,
            },
        );
    }

    /// Stops at once and forgets the queue (barge-in).
    pub fn stop(&mut self) {
        self.queue.clear();
        self.offset = 0;
        self.end = None;
    }

    /// Nothing left to send (the end time may still be ahead if frames were pulled early).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    fn remaining_samples(&self) -> usize {
        self.queue.iter().map(|i| i.len).sum::<usize>() - self.offset
    }

    /// When everything queued will have been (or was) played, at real-time pace; `None` when
    /// nothing was queued since the last [`stop`](Self::stop).
    pub fn end_time(&self) -> Option<Timestamp> {
        self.end
    }

    /// When the next frame is due; `None` when idle.
    pub fn next_frame_at(&self) -> Option<Timestamp> {
        (!self.queue.is_empty()).then_some(self.next_frame_at)
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(head) = self.queue.front() else {
                return;
            };
            let left = head.len - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.queue.pop_front();
            self.offset = 0;
        }
    }

    /// The next 20 ms frame (160 samples at 8 kHz) if one is due at `now`. Call on every
    /// packetisation tick, until `None` (more than one when the driver was late). `None` also
    /// when there is nothing to play: send silence, or the room's mix once joined.
    pub fn poll_frame(&mut self, now: Timestamp) -> Option<&[i16; FRAME_SAMPLES]> {
        if self.queue.is_empty() || self.next_frame_at > now {
            return None;
        }
        while self.next_frame_at + MAX_LAG <= now && !self.queue.is_empty() {
            self.advance(FRAME_SAMPLES);
            self.next_frame_at += FRAME;
        }
        if self.queue.is_empty() {
            return None;
        }
        let mut filled = 0;
        let mut offset = self.offset;
        for item in &self.queue {
            if filled == FRAME_SAMPLES {
                break;
            }
            let take = (item.len - offset).min(FRAME_SAMPLES - filled);
            let out = &mut self.frame[filled..filled + take];
            match item.source {
                Source::Wav(w) => w.decode_into(offset, out),
                Source::Silence => out.fill(0),
                Source::Tone(freq, amp) => {
                    let w = 2.0 * std::f32::consts::PI * freq / SAMPLE_RATE as f32;
                    for (k, o) in out.iter_mut().enumerate() {
                        *o = (amp * (w * (offset + k) as f32).sin()) as i16;
                    }
                }
            }
            filled += take;
            offset = 0;
        }
        self.frame[filled..].fill(0);
        self.advance(FRAME_SAMPLES);
        self.next_frame_at += FRAME;
        Some(&self.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_at_real_time_pace_and_end_on_time() {
        let mut p = PromptPlayer::new(Language::En);
        let t0 = Timestamp::from_millis(1000);
        p.play(t0, Prompt::Goodbye);
        let len = Prompt::Goodbye.audio(Language::En).unwrap().len();
        let end = p.end_time().unwrap();
        assert_eq!(end, t0 + FRAME * len.div_ceil(FRAME_SAMPLES) as u32);
        let mut frames = 0;
        let mut now = t0;
        while now < end + FRAME * 5 {
            assert!(p.poll_frame(now).is_some() == (now < end), "at {now:?}");
            // Only one frame per tick when on time.
            assert!(p.poll_frame(now).is_none());
            frames += usize::from(now < end);
            now += FRAME;
        }
        assert_eq!(frames, len.div_ceil(FRAME_SAMPLES));
        assert!(p.is_idle());
    }

    #[test]
    fn late_driver_skips_instead_of_bursting() {
        let mut p = PromptPlayer::new(Language::En);
        let t0 = Timestamp::ZERO;
        p.play(t0, Prompt::EnterRoom);
        let end = p.end_time().unwrap();
        let now = t0 + Duration::from_millis(1000);
        let mut n = 0;
        while p.poll_frame(now).is_some() {
            n += 1;
        }
        assert!(n <= 3, "{n} frames in one go");
        assert_eq!(p.end_time(), Some(end), "skipping keeps the schedule");
    }

    #[test]
    fn gap_between_prompts_and_stop() {
        let mut p = PromptPlayer::new(Language::Fr);
        let t0 = Timestamp::ZERO;
        p.play(t0, Prompt::Welcome);
        p.play(t0, Prompt::EnterRoom);
        let a = Prompt::Welcome.audio(Language::Fr).unwrap().len();
        let b = Prompt::EnterRoom.audio(Language::Fr).unwrap().len();
        let gap = 2400;
        assert_eq!(
            p.end_time(),
            Some(t0 + FRAME * (a + gap + b).div_ceil(FRAME_SAMPLES) as u32)
        );
        p.stop();
        assert!(p.is_idle());
        assert!(p.poll_frame(t0).is_none());
    }

    #[test]
    fn tone_has_its_level() {
        let mut p = PromptPlayer::new(Language::En);
        p.tone(Timestamp::ZERO, 1000.0, -6.0, Duration::from_millis(100));
        let f = p.poll_frame(Timestamp::ZERO).unwrap();
        let peak = f.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((11_000..=11_400).contains(&peak), "{peak}");
    }
}
