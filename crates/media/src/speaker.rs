//! Dominant-speaker detection in the style of Volfin & Cohen, "Dominant Speaker Identification
//! for Multipoint Videoconferencing" (as in Jitsi's `DominantSpeakerIdentification` and Signal's
//! calling service): noise-floor tracking, short/medium/long windows of speech activity,
//! hysteresis, a decision every ~300 ms.
//!
//! Sans-IO: levels and time are handed in; nothing here reads a clock.

use std::time::Duration;

use pont_types::{AudioLevel, ParticipantId, Timestamp};

/// Tuning of the detector. Defaults explain their numbers.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// How often a decision is taken (Volfin–Cohen and Jitsi: 300 ms).
    pub decision_interval: Duration,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            decision_interval: Duration::from_millis(300),
        }
    }
}

/// Picks the dominant speaker of one room.
#[derive(Debug)]
pub struct SpeakerDetector {
    config: SpeakerConfig,
}

impl SpeakerDetector {
    pub fn new(config: SpeakerConfig) -> Self {
        Self { config }
    }

    /// The current dominant speaker, if any.
    pub fn dominant(&self) -> Option<ParticipantId> {
        todo!("speaker helper")
    }

    /// Starts tracking a participant (silent until levels arrive).
    pub fn add_participant(&mut self, now: Timestamp, id: ParticipantId) {
        let _ = (now, id, &self.config);
        todo!("speaker helper")
    }

    /// Stops tracking a participant; if it was dominant, the next decision picks another.
    pub fn remove_participant(&mut self, now: Timestamp, id: ParticipantId) {
        let _ = (now, id);
        todo!("speaker helper")
    }

    /// One audio level observation (one per audio packet, typically every 20 ms). Missing
    /// observations (DTX, loss) count as silence.
    pub fn handle_level(&mut self, now: Timestamp, id: ParticipantId, level: AudioLevel) {
        let _ = (now, id, level);
        todo!("speaker helper")
    }

    /// When [`Self::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        todo!("speaker helper")
    }

    /// Takes a decision if one is due; returns the new dominant speaker when it changed.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Option<ParticipantId> {
        let _ = now;
        todo!("speaker helper")
    }
}
