//! Ids and units shared by every pont crate.
//!
//! What this crate owns: the newtypes for protocol numbers and identifiers (`Ssrc`, extended
//! [`SeqNo`], [`MediaTime`], [`DataRate`], room and participant ids), the simulated-or-real
//! [`Timestamp`] that every sans-IO core is handed, and [`Pii`] for redacting personal data in logs.
//!
//! What it must never do: read a clock, touch the network or depend on another pont crate.
#![forbid(unsafe_code)]

mod ids;
mod level;
mod pii;
mod rate;
mod seq;
mod time;

pub use ids::{ParticipantId, Pt, RoomId, Ssrc};
pub use level::AudioLevel;
pub use pii::{Pii, set_reveal_pii};
pub use rate::DataRate;
pub use seq::{SeqNo, extend_u32};
pub use time::{MediaTime, Timestamp};

/// The meeting's chat saved beside a recording file: `rec-7.chat.txt` beside `rec-7.mp4`
/// (one rule for the recorder that writes it and the pages that offer it).
pub fn chat_file_name(recording_file: &str) -> String {
    let stem = recording_file
        .strip_suffix(".mp4")
        .unwrap_or(recording_file);
    format!("{stem}.chat.txt")
}
