//! The spoken prompts, embedded in the binary. Made by `tools/gen-prompts` (espeak-ng), stored
//! as 8 kHz mono G.711 µ-law WAV under `crates/ivr/prompts/{en,fr}/`.

use std::fmt;
use std::str::FromStr;

use crate::wav::Wav;

/// The language of a dial-in number's prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    #[default]
    En,
    Fr,
}

impl Language {
    pub const ALL: [Self; 2] = [Self::En, Self::Fr];

    pub const fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code that has no prompts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no prompts in language {0:?} (have: en, fr)")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;
    /// `en`, `fr`, or a tag starting with one of them (`en-GB`, `fr_CA`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let primary = s.split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("en") {
            Ok(Self::En)
        } else if primary.eq_ignore_ascii_case("fr") {
            Ok(Self::Fr)
        } else {
            Err(UnknownLanguage(s.to_owned()))
        }
    }
}

/// One recorded sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prompt {
    /// "Welcome."
    Welcome,
    /// "Please enter the room number, followed by the pound key."
    EnterRoom,
    /// "Please enter the PIN, followed by the pound key."
    EnterPin,
    /// "That room number is not valid."
    WrongRoom,
    /// "That PIN is not correct."
    WrongPin,
    /// "You are joining the meeting."
    Joining,
    /// "This meeting is being recorded."
    Recorded,
    /// "Goodbye."
    Goodbye,
    /// "Sorry, I did not get that. Please try again."
    TryAgain,
    /// "This meeting cannot be joined right now." (locked or full)
    Unavailable,
    /// "Please wait. The organizer will let you in shortly." (the waiting room, looped)
    Waiting,
    /// "A moderator has muted you. Press star six to unmute."
    Muted,
    /// "A moderator has removed you from the meeting."
    Removed,
    /// "The meeting has ended."
    Ended,
    /// "A poll, with N choices: press 1 to N to vote." (N = 2…9)
    Poll2,
    Poll3,
    Poll4,
    Poll5,
    Poll6,
    Poll7,
    Poll8,
    Poll9,
    /// "Your vote is counted."
    Voted,
    /// "The poll is closed."
    PollClosed,
}

macro_rules! prompt_files {
    ($($variant:ident => $file:literal),* $(,)?) => {
        impl Prompt {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The file's name without `.wav`.
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $file),* }
            }

            /// The embedded WAV file.
            pub const fn wav_bytes(self, lang: Language) -> &'static [u8] {
                match lang {
                    Language::En => match self {
                        $(Self::$variant => include_bytes!(concat!("../prompts/en/", $file, ".wav"))),*
                    },
                    Language::Fr => match self {
                        $(Self::$variant => include_bytes!(concat!("../prompts/fr/", $file, ".wav"))),*
                    },
                }
            }
        }
    };
}

prompt_files! {
    Welcome => "welcome",
    EnterRoom => "enter-room",
    EnterPin => "enter-pin",
    WrongRoom => "wrong-room",
    WrongPin => "wrong-pin",
    Joining => "joining",
    Recorded => "recorded",
    Goodbye => "goodbye",
    TryAgain => "try-again",
    Unavailable => "unavailable",
    Waiting => "waiting",
    Muted => "muted",
    Removed => "removed",
    Ended => "ended",
    Poll2 => "poll-2",
    Poll3 => "poll-3",
    Poll4 => "poll-4",
    Poll5 => "poll-5",
    Poll6 => "poll-6",
    Poll7 => "poll-7",
    Poll8 => "poll-8",
    Poll9 => "poll-9",
    Voted => "voted",
    PollClosed => "poll-closed",
}

impl Prompt {
    /// The announcement of a poll with `choices` choices (2 to 9).
    pub fn poll(choices: usize) -> Option<Self> {
        Some(match choices {
            2 => Self::Poll2,
            3 => Self::Poll3,
            4 => Self::Poll4,
            5 => Self::Poll5,
            6 => Self::Poll6,
            7 => Self::Poll7,
            8 => Self::Poll8,
            9 => Self::Poll9,
            _ => return None,
        })
    }

    /// The decoded view of the embedded file. A test decodes every prompt in every language,
    /// so this is only `None` if a broken file is committed; the player then plays silence.
    pub fn audio(self, lang: Language) -> Option<Wav<'static>> {
        Wav::parse(self.wav_bytes(lang))
            .ok()
            .filter(|w| w.sample_rate == crate::SAMPLE_RATE)
    }
}
