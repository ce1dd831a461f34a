//! Dominant-speaker detection in the style of Volfin & Cohen, "Dominant Speaker Identification
//! for Multipoint Videoconferencing" (as in Jitsi's `DominantSpeakerIdentification` and Signal's
//! calling service): noise-floor tracking, short/medium/long windows of speech activity,
//! hysteresis, a decision every 100 ms.
//!
//! Sans-IO: levels and time are handed in; nothing here reads a clock.
//!
//! # How it works
//!
//! 1. **Time bins, not packets.** Every participant's levels are binned into 20 ms bins on one
//!    grid derived from the [`Timestamp`]; a bin keeps the loudest level seen in it. Bins in which
//!    nothing arrived (Opus DTX, packet loss, a muted or gone sender) are silence. Counting
//!    packets instead would freeze a DTX sender's history at its last word and keep it
//!    "speaking" forever.
//! 2. **Noise floor.** Per participant, the quietest level seen (a lower one replaces it at
//!    once); it rises slowly, towards the minimum of each `floor_rise_window` by a geometric
//!    mean, as Jitsi and Signal do, so a noisy line stops looking like constant speech. Level
//!    127 -dBov (digital silence: a muted microphone) is ignored for the floor, as Signal does,
//!    or an unmute onto a noisy line would look like speech until the floor caught up.
//!
//!    Two departures from Jitsi and Signal, both for senders whose quiet is *exact* digital
//!    silence (a muted microphone, SIP gateways with VAD, text-to-speech, a played video):
//!    - the first floor is at most [`NOISE_CEILING`] (-60 dBov, a noisy room): a level above
//!      that is not taken for the line's noise at once. Jitsi and Signal set the floor to the
//!      first level heard, so a participant who starts talking at a steady level (and sends
//!      nothing quieter than digital silence) learned their own voice as the floor and never
//!      took the main window;
//!    - a rise window in which the sender went digitally silent starts again: a gated source
//!      has no noise of its own, and what it sends between its silences is speech, so the
//!      floor must not climb onto it.
//! 3. **Three windows** (Volfin–Cohen's time intervals), read from a ring of the last 500 ms:
//!    - *immediate*: the number of "sub-bands" active now, 0..=13 — with levels instead of a
//!      spectrum, Jitsi's mapping `loudness / 10`, zeroed unless `speech_margin` dB above the
//!      floor. "Now" is the louder of the last two bins, so one bin emptied by network jitter
//!      does not read as a pause.
//!    - *medium*: how many of the last 5 bins (100 ms) were active;
//!    - *long*: how many of the last 5 medium blocks (500 ms) were active (≥ 4 active bins of
//!      5: one bin may be lost to jitter). Jitsi looks at 1 s; see "Latency" below.
//!
//!    A bin is *active* when its immediate score (below) is positive: at least 4 sub-bands,
//!    i.e. loudness ≥ 40 and above the floor margin.
//! 4. **Scores.** Each window's count `k` of `n` becomes Volfin–Cohen's speech-activity score,
//!    the log ratio of a binomial likelihood (p = 0.5) to an exponential prior (λ):
//!    `ln C(n,k) + k ln p + (n-k) ln(1-p) - ln λ + λ k`, floored at a tiny positive value so
//!    ratios stay finite. λ = 0.78, 24, 47 for immediate, medium, long, as in Jitsi.
//! 5. **Decision, every `decision_interval` (100 ms).** A challenger replaces the dominant
//!    speaker only when `ln(challenger / dominant)` exceeds the margins in *all three* windows
//!    (3, 2, 0 as in Jitsi) and it spoke in at least `min_speech_blocks` medium blocks of the
//!    long window. In practice: the dominant has been quiet for the last 100 ms, the challenger
//!    is speaking now and has spoken more than the dominant over the last half second.
//!    Several challengers compete by medium score (then long score, then the lower id, so
//!    decisions are deterministic).
//!    With no dominant, challengers compete against silence, so the first participant with
//!    real speech takes the floor; nobody speaking changes nothing.
//!
//! Why the binomial scores rather than Signal's simpler chunk counting: Signal's comparison
//! needs the challenger's latest 100 ms to be loud at a fixed absolute level (70 of 127), which
//! misses quiet talkers and SIP legs with low gain; the scores above only need speech above
//! the participant's own floor, and the three-window hysteresis gives the same cough
//! resistance. `min_speech_blocks` is our addition: Jitsi's margins let a 200 ms cough take the
//! floor whenever the dominant is silent; three blocks need about 260 ms of speech.
//!
//! **Latency.** Jitsi decides every 300 ms over a 1 s long window: a challenger must out-talk
//! the dominant over the last second, which on a clean turn change (one stops, the other
//! starts) takes 500–600 ms, plus up to 300 ms to the next decision — measured here as p50
//! 0.7 s, p99 0.8 s from onset to the `speaker` event. A decision every 100 ms over a 500 ms
//! long window switches on a clean turn as soon as the challenger has `min_speech_blocks`
//! (~280 ms of speech), i.e. 280–380 ms after the onset; the cough guard is unchanged (a 200 ms
//! cough fills at most two blocks). What is given up: a listener's interjection of ≥ 300 ms in
//! a pause of ≥ 300 ms of the dominant now takes the floor, where Jitsi's 1 s window kept it.
//!
//! Cost: a fixed 25-byte ring per participant, no allocation per level, O(participants × 25)
//! per decision, ten decisions a second.

use std::collections::HashMap;
use std::time::Duration;

use pont_types::{AudioLevel, ParticipantId, Timestamp};

/// The bin width: one Opus / G.711 frame, the usual cadence of RFC 6464 levels.
const BIN: Duration = Duration::from_millis(20);
/// Sub-bands of the immediate window (Volfin–Cohen's N1; Jitsi maps levels onto 13 bands).
const N1: usize = 13;
/// Loudness per sub-band: 128 levels over 13 bands, rounded up (Jitsi's `N1_SUBUNIT_LENGTH`).
const SUBBAND_WIDTH: u8 = 10;
/// Bins per medium block: 5 × 20 ms = 100 ms (Volfin–Cohen's N2, Jitsi's 5).
const N2: usize = 5;
/// Medium blocks in the long window: 5 × 100 ms = 500 ms (Volfin–Cohen's N3; Jitsi's 10, which
/// costs half a second of switch latency — see the module docs).
const N3: usize = 5;
/// The history kept per participant: the long window.
const RING: usize = N2 * N3;
/// Active bins out of [`N2`] for a medium block to count as active in the long window. Jitsi
/// wants all 5; with time bins one may come up empty when a packet lands in the next bin.
const MEDIUM_BLOCK_ACTIVE_BINS: u8 = 4;
/// Bins that make up "now" for the immediate window (see the module docs: jitter).
const IMMEDIATE_BINS: usize = 2;
/// Volfin–Cohen's binomial parameter: speech and non-speech equally likely a priori.
const P: f64 = 0.5;
/// Exponential-prior parameters of the three windows (Volfin–Cohen, Jitsi).
const LAMBDA_IMMEDIATE: f64 = 0.78;
const LAMBDA_MEDIUM: f64 = 24.0;
const LAMBDA_LONG: f64 = 47.0;
/// Scores are floored here so a silent participant's ratio stays finite (Jitsi's value).
const MIN_SCORE: f64 = 1e-10;
/// The highest level taken for a line's noise at first sight: loudness 67 = -60 dBov, a noisy
/// room on a laptop microphone. A first level above it is more likely speech than noise (speech
/// is typically -40 to -15 dBov); the floor still rises onto it slowly if it stays.
const NOISE_CEILING: u8 = 67;

/// Tuning of the detector. Defaults explain their numbers.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// How often a decision is taken (Volfin–Cohen and Jitsi: 300 ms; see the module docs).
    pub decision_interval: Duration,
    /// dB (levels) above the noise floor for a bin to count as speech at all.
    pub speech_margin: u8,
    /// How long the floor waits before rising towards the quietest level of that period.
    pub floor_rise_window: Duration,
    /// `ln(challenger / dominant)` the challenger must exceed in the immediate window.
    pub immediate_margin: f64,
    /// … in the medium window.
    pub medium_margin: f64,
    /// … in the long window.
    pub long_margin: f64,
    /// Active 100 ms blocks of the long window a challenger needs, dominant or not.
    pub min_speech_blocks: u8,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            // One medium block: a decision as soon as a block of new evidence is in. The
            // windows, not the cadence, give the hysteresis.
            decision_interval: Duration::from_millis(100),
            // One sub-band (10 levels ≈ 10 dB): Jitsi treats anything within one sub-band of
            // the floor as silence, Signal anything within 10 of it.
            speech_margin: 10,
            // Jitsi and Signal: 15 s (750 levels of 20 ms). Long enough that the pauses of real
            // speech keep the floor down; short enough that a noisy line settles in a minute.
            floor_rise_window: Duration::from_secs(15),
            // Jitsi's C1, C2, C3. With the score floor they mean: the dominant is quiet now and
            // for the last 100 ms, and the challenger spoke more over the long window.
            immediate_margin: 3.0,
            medium_margin: 2.0,
            long_margin: 0.0,
            // Three blocks need ≥ 13 active bins (~260 ms): a 200 ms cough makes at most two.
            min_speech_blocks: 3,
        }
    }
}

/// Picks the dominant speaker of one room.
#[derive(Debug)]
pub struct SpeakerDetector {
    config: SpeakerConfig,
    tables: ScoreTables,
    participants: HashMap<ParticipantId, Participant>,
    dominant: Option<ParticipantId>,
    /// The dominant was removed: the next decision takes the most active participant left,
    /// even if nobody is speaking at that instant, so the main window is not left empty.
    pick_successor: bool,
    /// `None` while nobody is tracked.
    next_decision: Option<Timestamp>,
}

impl SpeakerDetector {
    pub fn new(config: SpeakerConfig) -> Self {
        Self {
            config,
            tables: ScoreTables::new(),
            participants: HashMap::new(),
            dominant: None,
            pick_successor: false,
            next_decision: None,
        }
    }

    /// The current dominant speaker, if any.
    pub fn dominant(&self) -> Option<ParticipantId> {
        self.dominant
    }

    /// Starts tracking a participant (silent until levels arrive).
    pub fn add_participant(&mut self, now: Timestamp, id: ParticipantId) {
        if self.participants.is_empty() {
            self.next_decision = Some(now + self.config.decision_interval);
        }
        self.participants
            .entry(id)
            .or_insert_with(|| Participant::new(bin_index(now)));
    }

    /// Stops tracking a participant; if it was dominant, the next decision picks another.
    ///
    /// A removed dominant is no longer [`Self::dominant`] from this call on (it is gone from
    /// the room); [`Self::handle_timeout`] reports its successor, if anyone has spoken.
    pub fn remove_participant(&mut self, now: Timestamp, id: ParticipantId) {
        // Nothing here depends on when: the successor is chosen at the next decision.
        let _ = now;
        if self.participants.remove(&id).is_none() {
            return;
        }
        if self.dominant == Some(id) {
            self.dominant = None;
            self.pick_successor = true;
        }
        if self.participants.is_empty() {
            self.next_decision = None;
            self.pick_successor = false;
        }
    }

    /// One audio level observation (one per audio packet, typically every 20 ms). Missing
    /// observations (DTX, loss) count as silence.
    ///
    /// Levels of a participant that is not tracked are ignored.
    pub fn handle_level(&mut self, now: Timestamp, id: ParticipantId, level: AudioLevel) {
        let floor_window_bins = self.floor_window_bins();
        if let Some(p) = self.participants.get_mut(&id) {
            p.observe(
                bin_index(now),
                level.loudness(),
                &self.config,
                floor_window_bins,
            );
        }
    }

    /// When [`Self::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_decision
    }

    /// Takes a decision if one is due; returns the new dominant speaker when it changed.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Option<ParticipantId> {
        let due = self.next_decision?;
        if now < due {
            // Early (or time went backwards): nothing is due yet.
            return None;
        }
        let interval = self.config.decision_interval;
        let mut next = due + interval;
        if next <= now {
            // Called more than an interval late: one decision on the data up to `now` is all
            // that matters; catching up with the missed ones would only repeat it.
            next = now + interval;
        }
        self.next_decision = Some(next);
        self.decide(now)
    }

    fn floor_window_bins(&self) -> u32 {
        let bins = self.config.floor_rise_window.as_micros() / BIN.as_micros();
        u32::try_from(bins).unwrap_or(u32::MAX).max(1)
    }

    fn decide(&mut self, now: Timestamp) -> Option<ParticipantId> {
        let bin = bin_index(now);
        let floor_window_bins = self.floor_window_bins();
        for p in self.participants.values_mut() {
            p.advance(bin, &self.config, floor_window_bins);
            p.scores = p.evaluate(&self.tables);
        }

        let new = if self.dominant.is_none() && self.pick_successor {
            self.most_active()
        } else {
            self.strongest_challenger()
        };
        self.pick_successor = false;

        match new {
            Some(id) if self.dominant != Some(id) => {
                tracing::debug!(speaker = %id, previous = ?self.dominant, "dominant speaker changed");
                self.dominant = Some(id);
                Some(id)
            }
            _ => None,
        }
    }

    /// Volfin–Cohen's dominant speaker selection: the challenger that beats the dominant (or
    /// silence, when there is none) in all three windows; ties go to the best medium score.
    fn strongest_challenger(&self) -> Option<ParticipantId> {
        let reference = self
            .dominant
            .and_then(|id| self.participants.get(&id))
            .map_or(Scores::SILENT, |p| p.scores);
        let c = &self.config;
        let mut best: Option<(ParticipantId, Scores)> = None;
        for (&id, p) in &self.participants {
            if Some(id) == self.dominant {
                continue;
            }
            let s = p.scores;
            let beats = s.long_blocks >= c.min_speech_blocks
                && (s.immediate / reference.immediate).ln() > c.immediate_margin
                && (s.medium / reference.medium).ln() > c.medium_margin
                && (s.long / reference.long).ln() > c.long_margin;
            if !beats {
                continue;
            }
            let better = match best {
                None => true,
                Some((best_id, b)) => s
                    .medium
                    .total_cmp(&b.medium)
                    .then(s.long.total_cmp(&b.long))
                    .then(best_id.cmp(&id))
                    .is_gt(),
            };
            if better {
                best = Some((id, s));
            }
        }
        best.map(|(id, _)| id)
    }

    /// After the dominant left: whoever spoke most over the long window, if anyone spoke.
    fn most_active(&self) -> Option<ParticipantId> {
        self.participants
            .iter()
            .filter(|(_, p)| p.scores.long_blocks > 0 || p.scores.medium_bins > 0)
            .max_by(|(a_id, a), (b_id, b)| {
                let (a, b) = (a.scores, b.scores);
                a.long_blocks
                    .cmp(&b.long_blocks)
                    .then(a.medium_bins.cmp(&b.medium_bins))
                    .then(a.immediate.total_cmp(&b.immediate))
                    .then(b_id.cmp(a_id))
            })
            .map(|(&id, _)| id)
    }
}

/// The index of the 20 ms bin `now` falls in, on a grid shared by all participants.
fn bin_index(now: Timestamp) -> u64 {
    // BIN is 20 ms, so the division cannot be by zero.
    now.as_micros() / BIN.as_micros() as u64
}

/// One participant's history: the open bin, a ring of closed ones, the noise floor.
#[derive(Debug)]
struct Participant {
    /// The bin levels are currently going into.
    open_bin: u64,
    /// Loudest and quietest loudness seen in the open bin, if anything arrived.
    open_max: Option<u8>,
    open_min: u8,
    /// Sub-band counts (0..=[`N1`]) of the last [`RING`] closed bins; 0 is silence.
    ring: [u8; RING],
    /// Where the next closed bin goes; the newest is just before it.
    head: usize,
    floor: NoiseFloor,
    /// Computed at each decision.
    scores: Scores,
}

impl Participant {
    fn new(bin: u64) -> Self {
        Self {
            open_bin: bin,
            open_max: None,
            open_min: u8::MAX,
            ring: [0; RING],
            head: 0,
            floor: NoiseFloor::default(),
            scores: Scores::SILENT,
        }
    }

    fn observe(&mut self, bin: u64, loudness: u8, config: &SpeakerConfig, floor_window_bins: u32) {
        // A level from an earlier bin (reordering, or time going backwards) joins the open
        // bin: it is still evidence of sound, and the past is already closed.
        self.advance(bin, config, floor_window_bins);
        self.open_max = Some(self.open_max.map_or(loudness, |m| m.max(loudness)));
        self.open_min = self.open_min.min(loudness);
    }

    /// Closes bins up to (not including) `bin`; the ones nobody sent anything in are silence.
    fn advance(&mut self, bin: u64, config: &SpeakerConfig, floor_window_bins: u32) {
        if bin <= self.open_bin {
            return;
        }
        let bands = match self.open_max.take() {
            Some(max) => {
                self.floor.update(self.open_min, floor_window_bins);
                self.floor.subbands(max, config.speech_margin)
            }
            None => 0,
        };
        self.open_min = u8::MAX;
        self.push(bands);
        // Silent bins between the open bin and `bin`; more than the ring holds is all silence.
        let gap = (bin - self.open_bin - 1).min(RING as u64);
        for _ in 0..gap {
            self.push(0);
        }
        self.open_bin = bin;
    }

    fn push(&mut self, bands: u8) {
        self.ring[self.head] = bands;
        self.head = (self.head + 1) % RING;
    }

    /// The `age`-th newest closed bin (0 is the newest).
    fn bin(&self, age: usize) -> u8 {
        self.ring[(self.head + RING - 1 - age) % RING]
    }

    fn evaluate(&self, tables: &ScoreTables) -> Scores {
        let immediate_bands = (0..IMMEDIATE_BINS).map(|a| self.bin(a)).max().unwrap_or(0);
        let mut medium_bins = 0;
        let mut long_blocks = 0;
        for block in 0..N3 {
            let active = (0..N2)
                .filter(|i| tables.is_active(self.bin(block * N2 + i)))
                .count() as u8;
            if block == 0 {
                medium_bins = active;
            }
            if active >= MEDIUM_BLOCK_ACTIVE_BINS {
                long_blocks += 1;
            }
        }
        Scores {
            immediate: tables.immediate[usize::from(immediate_bands)],
            medium: tables.medium[usize::from(medium_bins)],
            long: tables.long[usize::from(long_blocks)],
            medium_bins,
            long_blocks,
        }
    }
}

/// The quietest level a participant sends, rising slowly (see the module docs).
#[derive(Debug, Default)]
struct NoiseFloor {
    floor: Option<u8>,
    /// The quietest bin since the floor last moved, and how many bins that covers.
    window_min: u8,
    window_bins: u32,
}

impl NoiseFloor {
    /// `loudness` is the quietest level of one closed bin.
    fn update(&mut self, loudness: u8, window_bins: u32) {
        if loudness == 0 {
            // 127 -dBov is digital silence — a muted or gated source, not the line's noise.
            // A gated source has no noise to learn: what it sends between silences is speech,
            // so the floor does not rise onto it (the rise window starts again).
            self.window_bins = 0;
            return;
        }
        match self.floor {
            Some(floor) if loudness >= floor => {
                self.window_min = if self.window_bins == 0 {
                    loudness
                } else {
                    self.window_min.min(loudness)
                };
                self.window_bins += 1;
                if self.window_bins >= window_bins {
                    // The geometric mean rises more slowly than the arithmetic one (Jitsi).
                    let mean = (f64::from(floor) * f64::from(self.window_min)).sqrt();
                    self.floor = Some(mean.round() as u8);
                    self.window_bins = 0;
                }
            }
            Some(_) => {
                self.floor = Some(loudness);
                self.window_bins = 0;
            }
            None => {
                // First sight: a level above a noisy room's is not taken for noise at once.
                self.floor = Some(loudness.min(NOISE_CEILING));
                self.window_bins = 0;
            }
        }
    }

    /// Sub-bands active for a bin whose loudest level was `loudness`; none near the floor.
    fn subbands(&self, loudness: u8, margin: u8) -> u8 {
        let floor = self.floor.unwrap_or(0);
        if loudness < floor.saturating_add(margin) {
            return 0;
        }
        (loudness / SUBBAND_WIDTH).min(N1 as u8)
    }
}

/// Speech-activity scores of one participant at one decision.
#[derive(Debug, Clone, Copy)]
struct Scores {
    immediate: f64,
    medium: f64,
    long: f64,
    /// Active bins in the last 100 ms, and active 100 ms blocks of the long window.
    medium_bins: u8,
    long_blocks: u8,
}

impl Scores {
    const SILENT: Self = Self {
        immediate: MIN_SCORE,
        medium: MIN_SCORE,
        long: MIN_SCORE,
        medium_bins: 0,
        long_blocks: 0,
    };
}

/// Volfin–Cohen scores for every possible count, computed once: the windows are small.
#[derive(Debug)]
struct ScoreTables {
    immediate: [f64; N1 + 1],
    medium: [f64; N2 + 1],
    long: [f64; N3 + 1],
}

impl ScoreTables {
    fn new() -> Self {
        Self {
            immediate: std::array::from_fn(|k| speech_activity_score(k, N1, LAMBDA_IMMEDIATE)),
            medium: std::array::from_fn(|k| speech_activity_score(k, N2, LAMBDA_MEDIUM)),
            long: std::array::from_fn(|k| speech_activity_score(k, N3, LAMBDA_LONG)),
        }
    }

    /// A bin counts as speech when its immediate score is above the floor (≥ 4 sub-bands).
    fn is_active(&self, bands: u8) -> bool {
        self.immediate[usize::from(bands)] > MIN_SCORE
    }
}

/// Volfin–Cohen's speech-activity score of `k` active units out of `n`: the log likelihood
/// ratio of a binomial (speech) to an exponential prior with parameter `lambda`.
fn speech_activity_score(k: usize, n: usize, lambda: f64) -> f64 {
    let (k_f, n_f) = (k as f64, n as f64);
    let score = ln_binomial(n, k) + k_f * P.ln() + (n_f - k_f) * (1.0 - P).ln() - lambda.ln()
        + lambda * k_f;
    score.max(MIN_SCORE)
}

/// `ln C(n, k)`, exact enough for the small `n` used here.
fn ln_binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).map(|i| ((n - i) as f64 / (i + 1) as f64).ln()).sum()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const A: ParticipantId = ParticipantId(1);
    const B: ParticipantId = ParticipantId(2);
    const C: ParticipantId = ParticipantId(3);
    const N: ParticipantId = ParticipantId(4);

    /// The quiet room a microphone hears between words (loudness, bigger is louder).
    const FLOOR: u8 = 20;
    const TICK: Duration = Duration::from_millis(20);

    /// What a participant sends in one 20 ms tick.
    #[derive(Debug, Clone, Copy)]
    enum Voice {
        /// Nothing at all (DTX, gone, not publishing).
        Nothing,
        /// Background at the floor.
        Quiet,
        /// Syllable-like bursts of 160–400 ms at 40–55 above the floor, with pauses of
        /// 60–200 ms back at the floor (random, so speech is not in step with decisions).
        Speech,
        /// Speech whose pauses send no packets (Opus DTX).
        SpeechDtx,
        /// A noisy line: steady 60 with ±3 of variation.
        Noise,
        /// Continuously as loud as speech (a cough, a laugh).
        Loud,
        /// One constant loudness (text-to-speech, a played video, `pont-load`'s talk spurts).
        Steady(u8),
        /// 127 -dBov in every packet: a muted microphone, a gateway's comfort silence.
        DigitalSilence,
    }

    /// A room on a simulated clock: feeds a level per participant every 20 ms and calls
    /// `handle_timeout` exactly at `poll_timeout`.
    struct Sim {
        det: SpeakerDetector,
        now: Timestamp,
        rng: ChaCha8Rng,
        decisions: u32,
        /// Every change `handle_timeout` reported, with when.
        changes: Vec<(Timestamp, ParticipantId)>,
        /// Per speaker: in a burst (or a pause), and for how many more ticks.
        syllables: HashMap<ParticipantId, (bool, u32)>,
    }

    impl Sim {
        fn new(ids: &[ParticipantId]) -> Self {
            let mut det = SpeakerDetector::new(SpeakerConfig::default());
            for &id in ids {
                det.add_participant(Timestamp::ZERO, id);
            }
            Self {
                det,
                now: Timestamp::ZERO,
                rng: ChaCha8Rng::seed_from_u64(7),
                decisions: 0,
                changes: Vec::new(),
                syllables: HashMap::new(),
            }
        }

        /// Whether `id`'s speech is in a burst this tick.
        fn in_burst(&mut self, id: ParticipantId) -> bool {
            let rng = &mut self.rng;
            let (burst, left) = self.syllables.entry(id).or_insert((false, 0));
            if *left == 0 {
                *burst = !*burst;
                *left = if *burst {
                    rng.gen_range(8..=20)
                } else {
                    rng.gen_range(3..=10)
                };
            }
            *left -= 1;
            *burst
        }

        /// Runs `dur` with each participant doing what `voices` says.
        fn run(&mut self, dur: Duration, voices: &[(ParticipantId, Voice)]) {
            let end = self.now + dur;
            while self.now < end {
                self.decide_due();
                for &(id, voice) in voices {
                    let speech = FLOOR + self.rng.gen_range(40..=55);
                    let quiet = FLOOR + self.rng.gen_range(0..=2);
                    let loudness = match voice {
                        Voice::Nothing => None,
                        Voice::Quiet => Some(quiet),
                        Voice::Speech if self.in_burst(id) => Some(speech),
                        Voice::Speech => Some(quiet),
                        Voice::SpeechDtx if self.in_burst(id) => Some(speech),
                        Voice::SpeechDtx => None,
                        Voice::Noise => Some(self.rng.gen_range(57..=63)),
                        Voice::Loud => Some(speech),
                        Voice::Steady(l) => Some(l),
                        Voice::DigitalSilence => Some(0),
                    };
                    if let Some(l) = loudness {
                        let level = AudioLevel::from_neg_dbov(127 - l);
                        self.det.handle_level(self.now, id, level);
                    }
                }
                self.now += TICK;
            }
            self.decide_due();
        }

        fn decide_due(&mut self) {
            while let Some(at) = self.det.poll_timeout().filter(|&at| at <= self.now) {
                self.decisions += 1;
                if let Some(new) = self.det.handle_timeout(at) {
                    self.changes.push((at, new));
                }
            }
        }

        /// Simulated time from `since` until the first change to `id`, if there was one.
        fn switch_latency(&self, since: Timestamp, id: ParticipantId) -> Option<Duration> {
            self.changes
                .iter()
                .find(|&&(at, new)| at >= since && new == id)
                .map(|&(at, _)| at.saturating_since(since))
        }
    }

    #[test]
    fn lone_speaker_becomes_dominant_within_a_second() {
        for seed in 0..20 {
            let mut sim = Sim::new(&[A, B]);
            sim.rng = ChaCha8Rng::seed_from_u64(seed);
            // B never sends anything (a listener); A's line is quiet at first.
            sim.run(Duration::from_secs(2), &[(A, Voice::Quiet)]);
            assert_eq!(sim.det.dominant(), None);
            assert!(sim.changes.is_empty(), "silence made {:?}", sim.changes);

            let started = sim.now;
            sim.run(Duration::from_secs(2), &[(A, Voice::Speech)]);
            assert_eq!(sim.det.dominant(), Some(A), "seed {seed}");
            assert_eq!(sim.changes.len(), 1, "seed {seed}");
            // Three 100 ms blocks of speech, then a decision that catches A mid-word: within
            // 1.3 s of the first word (usually 0.7–1 s; one decision more when a pause falls
            // on the decision).
            let (at, _) = sim.changes[0];
            let took = at.saturating_since(started);
            assert!(
                took <= Duration::from_millis(1_300),
                "seed {seed}: {took:?}"
            );
        }
    }

    #[test]
    fn silence_changes_nothing() {
        let mut sim = Sim::new(&[A, B, C]);
        let all_quiet = [(A, Voice::Quiet), (B, Voice::Quiet), (C, Voice::Nothing)];
        sim.run(Duration::from_secs(5), &all_quiet);
        assert!(sim.changes.is_empty(), "silence made {:?}", sim.changes);
        assert_eq!(sim.det.dominant(), None);
        assert!(sim.decisions >= 16, "only {} decisions", sim.decisions);

        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Speech), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        let changes = sim.changes.len();

        sim.run(Duration::from_secs(10), &all_quiet);
        assert_eq!(sim.changes.len(), changes, "silence made {:?}", sim.changes);
        assert_eq!(sim.det.dominant(), Some(A));
    }

    #[test]
    fn a_cough_does_not_steal_the_floor() {
        // Every alignment of the cough against A's syllables and the decision grid.
        for offset_ms in (0..600).step_by(20) {
            let mut sim = Sim::new(&[A, B]);
            sim.run(
                Duration::from_secs(3),
                &[(A, Voice::Speech), (B, Voice::Quiet)],
            );
            assert_eq!(sim.det.dominant(), Some(A));
            let speaking = [(A, Voice::Speech), (B, Voice::Quiet)];
            sim.run(Duration::from_millis(offset_ms), &speaking);
            // B coughs: 200 ms as loud as speech, over A's talk.
            sim.run(
                Duration::from_millis(200),
                &[(A, Voice::Speech), (B, Voice::Loud)],
            );
            sim.run(Duration::from_secs(3), &speaking);
            assert_eq!(sim.det.dominant(), Some(A), "cough at +{offset_ms} ms");
            assert!(
                sim.changes.iter().all(|&(_, id)| id == A),
                "cough at +{offset_ms} ms: {:?}",
                sim.changes
            );
        }
    }

    #[test]
    fn a_cough_in_silence_does_not_take_the_floor() {
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Speech), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        let quiet = [(A, Voice::Quiet), (B, Voice::Quiet)];
        sim.run(Duration::from_secs(2), &quiet);
        sim.run(
            Duration::from_millis(200),
            &[(A, Voice::Quiet), (B, Voice::Loud)],
        );
        sim.run(Duration::from_secs(2), &quiet);
        assert_eq!(sim.det.dominant(), Some(A));
        assert_eq!(sim.changes.len(), 1, "{:?}", sim.changes);

        // Nor with nobody dominant yet.
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(1),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        sim.run(
            Duration::from_millis(200),
            &[(A, Voice::Quiet), (B, Voice::Loud)],
        );
        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), None, "{:?}", sim.changes);
    }

    #[test]
    fn a_turn_change_switches_within_a_bounded_number_of_decisions() {
        for seed in 0..20 {
            let mut sim = Sim::new(&[A, B]);
            sim.rng = ChaCha8Rng::seed_from_u64(seed);
            sim.run(
                Duration::from_secs(3),
                &[(A, Voice::Speech), (B, Voice::Quiet)],
            );
            assert_eq!(sim.det.dominant(), Some(A));

            let turn = sim.now;
            sim.run(
                Duration::from_secs(3),
                &[(A, Voice::Quiet), (B, Voice::Speech)],
            );
            assert_eq!(sim.det.dominant(), Some(B), "seed {seed}");
            // Syllables with pauses of up to 200 ms fill 100 ms blocks unevenly, so this takes
            // longer than a clean onset (see the next test); well within a two-second turn.
            let took = sim.switch_latency(turn, B).expect("switched");
            assert!(
                took <= Duration::from_millis(1_200),
                "seed {seed}: {took:?}"
            );
            // Nor too eager: B needs more than a cough's worth of speech first.
            assert!(took >= Duration::from_millis(260), "seed {seed}: {took:?}");
            assert_eq!(sim.changes.len(), 2, "seed {seed}: {:?}", sim.changes);
        }
    }

    #[test]
    fn double_talk_keeps_the_dominant() {
        // B talks over A, who does not stop: the floor stays with A.
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(1),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Loud), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Loud), (B, Voice::Speech)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        assert_eq!(sim.changes.len(), 1);
    }

    #[test]
    fn removing_the_dominant_picks_the_most_active_remaining() {
        let mut sim = Sim::new(&[A, B, C]);
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Speech), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        // B talks over A (no switch: A does not pause for it), C listens.
        let voices = [(A, Voice::Loud), (B, Voice::Speech), (C, Voice::Quiet)];
        sim.run(Duration::from_secs(1), &voices);
        assert_eq!(sim.det.dominant(), Some(A));

        sim.det.remove_participant(sim.now, A);
        assert_eq!(
            sim.det.dominant(),
            None,
            "a removed participant is not dominant"
        );
        let removed = sim.now;
        sim.run(
            Duration::from_millis(300),
            &[(B, Voice::Quiet), (C, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(B));
        // At the first decision after the removal.
        let first = removed + SpeakerConfig::default().decision_interval;
        assert!(matches!(sim.changes.last(), Some(&(at, B)) if at <= first));
    }

    #[test]
    fn removing_the_dominant_of_a_silent_room_leaves_none() {
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Speech), (B, Voice::Quiet)],
        );
        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        sim.det.remove_participant(sim.now, A);
        sim.run(Duration::from_secs(2), &[(B, Voice::Quiet)]);
        assert_eq!(sim.det.dominant(), None);
        assert_eq!(sim.changes.len(), 1);
        // Later speech still works.
        sim.run(Duration::from_secs(2), &[(B, Voice::Speech)]);
        assert_eq!(sim.det.dominant(), Some(B));

        // The last one leaving stops the timer.
        sim.det.remove_participant(sim.now, B);
        assert_eq!(sim.det.poll_timeout(), None);
        assert_eq!(sim.det.dominant(), None);
    }

    #[test]
    fn a_participant_that_stops_sending_counts_as_silent() {
        let mut sim = Sim::new(&[A, B]);
        // A establishes its floor, then talks with DTX: nothing is sent in its pauses.
        sim.run(
            Duration::from_secs(1),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::SpeechDtx), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        // A falls silent under DTX: no packets at all. Its last words must age out.
        let turn = sim.now;
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Nothing), (B, Voice::Speech)],
        );
        assert_eq!(sim.det.dominant(), Some(B));
        let took = sim.switch_latency(turn, B).expect("switched");
        assert!(took <= Duration::from_millis(1_200), "{took:?}");
        let a = &sim.det.participants[&A];
        assert_eq!(a.scores.long_blocks, 0, "A's history is silence");
    }

    #[test]
    fn a_steady_talker_among_muted_microphones_takes_the_floor() {
        // Everyone else sends digital silence (muted microphones, a gateway's comfort
        // silence); A talks at one constant level from its first packet (text-to-speech, a
        // played video). Jitsi's and Signal's floor learn A's voice at once: A never wins.
        for level in [80, 90, 100, 110] {
            let mut sim = Sim::new(&[A, B, C]);
            let voices = [
                (A, Voice::Steady(level)),
                (B, Voice::DigitalSilence),
                (C, Voice::DigitalSilence),
            ];
            sim.run(Duration::from_secs(2), &voices);
            assert_eq!(sim.det.dominant(), Some(A), "level {level}");
            let took = sim.switch_latency(Timestamp::ZERO, A).expect("switched");
            assert!(
                took <= Duration::from_millis(400),
                "level {level}: {took:?}"
            );
            // And keeps it for as long as nobody else speaks, however long that is.
            sim.run(Duration::from_secs(120), &voices);
            assert_eq!(sim.changes, vec![sim.changes[0]], "level {level}");
        }
    }

    #[test]
    fn a_gated_source_is_not_learned_as_its_own_noise_floor() {
        // A speaks at one level in phrases separated by exact silence, for two minutes: its
        // floor must not climb onto its voice, so after all that it still out-talks B.
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(1),
            &[(A, Voice::DigitalSilence), (B, Voice::Quiet)],
        );
        for _ in 0..40 {
            sim.run(
                Duration::from_secs(2),
                &[(A, Voice::Steady(90)), (B, Voice::Quiet)],
            );
            sim.run(
                Duration::from_secs(1),
                &[(A, Voice::DigitalSilence), (B, Voice::Quiet)],
            );
        }
        assert_eq!(sim.det.dominant(), Some(A));
        // B takes the floor, then A speaks again after B stops: A gets it back.
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::DigitalSilence), (B, Voice::Speech)],
        );
        assert_eq!(sim.det.dominant(), Some(B));
        let turn = sim.now;
        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Steady(90)), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A), "{:?}", sim.changes);
        let took = sim.switch_latency(turn, A).expect("switched back");
        assert!(took <= Duration::from_millis(400), "{took:?}");
    }

    #[test]
    fn a_clean_turn_change_switches_within_400_ms_at_every_phase() {
        // pont-load's talk spurts: one publisher is loud at a steady level, the others send
        // their room noise; then the next one. Every phase of the onset against the 20 ms
        // bins and the 100 ms decision grid (simulated time, so this is exact, not a timing).
        let noise = Voice::Steady(57); // -70 dBov
        let mut worst = Duration::ZERO;
        for offset_ms in (0..100).step_by(5) {
            let mut sim = Sim::new(&[A, B, C]);
            sim.run(
                Duration::from_secs(2),
                &[(A, Voice::Steady(107)), (B, noise), (C, noise)],
            );
            assert_eq!(sim.det.dominant(), Some(A));
            sim.run(
                Duration::from_millis(offset_ms),
                &[(A, Voice::Steady(107)), (B, noise), (C, noise)],
            );
            let turn = sim.now;
            sim.run(
                Duration::from_secs(2),
                &[(A, noise), (B, Voice::Steady(107)), (C, noise)],
            );
            assert_eq!(sim.det.dominant(), Some(B), "offset {offset_ms} ms");
            let took = sim.switch_latency(turn, B).expect("switched");
            // A cough's worth of speech is not enough…
            assert!(
                took >= Duration::from_millis(260),
                "offset {offset_ms}: {took:?}"
            );
            worst = worst.max(took);
        }
        // …and a clean onset never waits more than four blocks.
        assert!(worst <= Duration::from_millis(400), "worst {worst:?}");
    }

    #[test]
    fn a_noisy_line_does_not_win_against_speech() {
        let mut sim = Sim::new(&[A, N]);
        // N's line hums at 60 all call long; A is quiet, then talks, then is quiet again.
        sim.run(
            Duration::from_secs(5),
            &[(A, Voice::Quiet), (N, Voice::Noise)],
        );
        assert_eq!(sim.det.dominant(), None, "noise is not speech");
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Speech), (N, Voice::Noise)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        sim.run(
            Duration::from_secs(30),
            &[(A, Voice::Quiet), (N, Voice::Noise)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        assert!(
            sim.changes.iter().all(|&(_, id)| id == A),
            "{:?}",
            sim.changes
        );
    }

    #[test]
    fn the_noise_floor_rises_onto_a_line_that_became_noisy() {
        let config = SpeakerConfig::default();
        let mut floor = NoiseFloor::default();
        let window = 750; // 15 s of 20 ms bins
        for _ in 0..100 {
            floor.update(FLOOR, window);
        }
        assert_eq!(floor.floor, Some(FLOOR));
        // A quieter bin takes over at once; digital silence (muted) is ignored.
        floor.update(FLOOR - 5, window);
        floor.update(0, window);
        assert_eq!(floor.floor, Some(FLOOR - 5));
        // The line starts to hum at 60: speech at first, then the floor catches up.
        assert!(floor.subbands(60, config.speech_margin) > 0);
        for _ in 0..(4 * window) {
            floor.update(60, window);
        }
        assert!(floor.floor.unwrap() > 50, "floor {:?}", floor.floor);
        assert_eq!(floor.subbands(60, config.speech_margin), 0);
        // Speech over the hum still counts.
        assert!(floor.subbands(95, config.speech_margin) > 0);
    }

    #[test]
    fn time_going_backwards_never_panics() {
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        // A stale clock: levels, decisions and joins from the past.
        let past = Timestamp::from_millis(500);
        let due = sim.det.poll_timeout().expect("participants are tracked");
        sim.det.handle_level(past, A, AudioLevel::from_neg_dbov(60));
        sim.det.add_participant(Timestamp::ZERO, C);
        assert_eq!(
            sim.det.handle_timeout(past),
            None,
            "nothing is due in the past"
        );
        assert_eq!(sim.det.poll_timeout(), Some(due));
        sim.det.remove_participant(Timestamp::ZERO, C);
        // Time moves on again and detection still works.
        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Speech), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));

        // Extremes: the end of time, then the beginning again.
        let level = AudioLevel::from_neg_dbov(50);
        sim.det.handle_level(Timestamp::MAX, B, level);
        sim.det.handle_level(Timestamp::ZERO, B, level);
        sim.det
            .handle_level(Timestamp::ZERO, ParticipantId(99), level); // not tracked
        let _ = sim.det.handle_timeout(Timestamp::MAX);
        let _ = sim.det.handle_timeout(Timestamp::ZERO);
        sim.det
            .remove_participant(Timestamp::ZERO, ParticipantId(99)); // not tracked
        assert_eq!(sim.det.poll_timeout(), Some(Timestamp::MAX));
    }

    #[test]
    fn late_and_early_timeouts() {
        let mut sim = Sim::new(&[A]);
        assert_eq!(sim.det.poll_timeout(), Some(Timestamp::from_millis(100)));
        // Early: no decision, the deadline stands.
        assert_eq!(sim.det.handle_timeout(Timestamp::from_millis(50)), None);
        assert_eq!(sim.det.poll_timeout(), Some(Timestamp::from_millis(100)));
        // Two seconds late: one decision, then the next one an interval after `now`.
        let late = Timestamp::from_millis(2_100);
        let _ = sim.det.handle_timeout(late);
        assert_eq!(
            sim.det.poll_timeout(),
            Some(late + Duration::from_millis(100))
        );
        // A little late: the grid is kept.
        let _ = sim.det.handle_timeout(Timestamp::from_millis(2_250));
        assert_eq!(sim.det.poll_timeout(), Some(Timestamp::from_millis(2_300)));
        // A decision taken late still sees the speech that came before it.
        let mut det = SpeakerDetector::new(SpeakerConfig::default());
        det.add_participant(Timestamp::ZERO, A);
        for i in 0..100u32 {
            let loudness = if i % 15 < 10 { 60 } else { FLOOR };
            let level = AudioLevel::from_neg_dbov(127 - loudness);
            det.handle_level(Timestamp::ZERO + TICK * i, A, level);
        }
        assert_eq!(det.handle_timeout(Timestamp::from_millis(2_000)), Some(A));
    }

    #[test]
    fn no_participants_no_timeout() {
        let mut det = SpeakerDetector::new(SpeakerConfig::default());
        assert_eq!(det.poll_timeout(), None);
        assert_eq!(det.handle_timeout(Timestamp::from_millis(1_000)), None);
        det.add_participant(Timestamp::from_millis(1_000), A);
        assert_eq!(det.poll_timeout(), Some(Timestamp::from_millis(1_100)));
        det.remove_participant(Timestamp::from_millis(1_100), A);
        assert_eq!(det.poll_timeout(), None);
    }

    #[test]
    fn score_tables_match_volfin_cohen() {
        let t = ScoreTables::new();
        // The immediate score turns positive at 4 of 13 sub-bands (loudness 40).
        assert!(!t.is_active(3));
        assert!(t.is_active(4));
        assert!(t.is_active(13));
        assert!(!t.is_active(0));
        // ln C(13,4) + 13 ln 0.5 - ln 0.78 + 0.78 * 4
        let expected = 715f64.ln() + 13.0 * 0.5f64.ln() - 0.78f64.ln() + 0.78 * 4.0;
        assert!((t.immediate[4] - expected).abs() < 1e-9);
        // Longer activity always scores higher in the medium and long windows.
        assert!(t.medium.windows(2).all(|w| w[0] < w[1]));
        assert!(t.long.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_challenger_must_be_speaking_at_the_decision() {
        let mut sim = Sim::new(&[A, B]);
        sim.run(
            Duration::from_secs(3),
            &[(A, Voice::Speech), (B, Voice::Quiet)],
        );
        sim.run(
            Duration::from_secs(2),
            &[(A, Voice::Quiet), (B, Voice::Quiet)],
        );
        assert_eq!(sim.det.dominant(), Some(A));
        // B spoke for the last second but stopped 60 ms before the decision (taken late, so
        // that no decision sees B's speech before).
        let due = sim.now + Duration::from_millis(1_200);
        let mut t = sim.now;
        while t < due {
            let loudness = if due.saturating_since(t) > Duration::from_millis(60) {
                FLOOR + 50
            } else {
                FLOOR
            };
            sim.det
                .handle_level(t, A, AudioLevel::from_neg_dbov(127 - FLOOR));
            sim.det
                .handle_level(t, B, AudioLevel::from_neg_dbov(127 - loudness));
            t += TICK;
        }
        assert_eq!(sim.det.handle_timeout(due), None, "B is not speaking now");
        // B speaks on: it takes the floor at the next decision.
        let next = sim.det.poll_timeout().expect("tracked");
        while t < next {
            sim.det
                .handle_level(t, A, AudioLevel::from_neg_dbov(127 - FLOOR));
            sim.det
                .handle_level(t, B, AudioLevel::from_neg_dbov(127 - FLOOR - 50));
            t += TICK;
        }
        assert_eq!(sim.det.handle_timeout(next), Some(B));
    }
}
