//! The media plane's parts that need no sockets, clocks or threads, tested on their own:
//!
//! - [`placement`]: which shard hosts which room and dial-in call, and which rooms are locked;
//! - [`leg_timers`]: which web legs a shard polls (those with input and those whose timer is
//!   due), generic over the time type so tests use plain numbers;
//! - [`meeting`]: what a room holds besides media (moderators, the waiting room, raised
//!   hands, the chat) and its [`poll`]s;
//! - [`live`]: a live stream's audio packets for its viewers, WHEP trickle fragments, its
//!   figures;
//! - [`to_browser`]: what browsers are told over signalling, one typed, versioned enum
//!   serialised in one place.
//!
//! The shards themselves (threads, sockets, the legs' I/O) are still driven from
//! `crates/server/src/media*.rs`; moving them here is the rest of issue 13, part 1.
#![forbid(unsafe_code)]

pub mod leg_timers;
pub mod live;
pub mod meeting;
pub mod placement;
pub mod poll;
pub mod to_browser;
