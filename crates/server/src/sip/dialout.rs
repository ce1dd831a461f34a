//! Dial-out: a moderator calls a room system (`sip:`) or a phone (`tel:`, through `[dialout]
//! trunk`) into a room. The SIP task places the call with our offer ([`sdp::offer`]); when it
//! is answered, the peer's answer ([`sdp::process_answer`]) becomes the same negotiated streams
//! an incoming call has, and the call joins its room like one (never through the waiting room:
//! a moderator invited it).

use std::net::SocketAddr;

use pont_sip::sdp::{self, LocalMedia, Sdp};
use pont_sip::{CallHandle, OutgoingCall, Transport};
use pont_types::RoomId;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Call, SipTask};
use crate::media::{JoinSip, SipMedia};

/// Why a dial-out could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DialError {
    #[error("not a sip: URI or a tel: number: {0}")]
    BadUri(String),
    #[error("tel: numbers need a [dialout] trunk")]
    NoTrunk,
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("no free RTP port")]
    NoPorts,
    #[error("the call could not be placed: {0}")]
    Refused(String),
}

impl DialError {
    /// The error code the API and the signalling give it.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::BadUri(_) => "invalid_uri",
            Self::NoTrunk => "no_trunk",
            Self::NoPorts => "no_ports",
            Self::Unreachable(_) | Self::Refused(_) => "dial_failed",
        }
    }
}

/// A call we placed, not answered yet.
pub(super) struct Dialing {
    pub(super) call: Call,
    offer: Sdp,
    local: LocalMedia,
    audio: (UdpSocket, UdpSocket),
    video: Option<(UdpSocket, UdpSocket)>,
    name: String,
    /// The URI as the moderator gave it, shown to the room's moderators.
    target: String,
}

/// `sip:user@host:port` or `tel:+33…` as (request URI, where to send it, the name shown).
fn target(uri: &str, trunk: Option<&str>) -> Result<(String, String, String), DialError> {
    let uri = uri.trim();
    if let Some(number) = uri.strip_prefix("tel:") {
        let number: String = number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = number.strip_prefix('+').unwrap_or(&number);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DialError::BadUri(uri.to_owned()));
        }
        let trunk = trunk.ok_or(DialError::NoTrunk)?;
        return Ok((format!("sip:{number}@{trunk}"), trunk.to_owned(), number));
    }
    let rest = uri
        .strip_prefix("sip:")
        .ok_or_else(|| DialError::BadUri(uri.to_owned()))?;
    let rest = rest.split(';').next().unwrap_or(rest);
    let (user, host) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let clean = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+:[]*#".contains(&b))
    };
    if !clean(host) || user.is_some_and(|u| !clean(u)) {
        return Err(DialError::BadUri(uri.to_owned()));
    }
    // A port given (`host:port`, `[v6]:port`) is kept; otherwise SIP's 5060.
    let has_port = match host.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host.contains(':'),
    };
    let host = if has_port {
        host.to_owned()
    } else {
        format!("{host}:5060")
    };
    let name = user.unwrap_or(rest).to_owned();
    Ok((format!("sip:{rest}"), host, name))
}

impl SipTask {
    /// Places a call into `room`; the answer says whether it could start (ringing and the
    /// outcome come later, in the log and the room).
    pub(super) async fn dial(
        &mut self,
        room: RoomId,
        uri: String,
        reply: oneshot::Sender<Result<CallHandle, DialError>>,
    ) {
        let _ = reply.send(self.place_call(room, &uri).await);
    }

    async fn place_call(&mut self, room: RoomId, uri: &str) -> Result<CallHandle, DialError> {
        let dialout = self.config.dialout.clone();
        let (request_uri, host, name) = target(uri, dialout.trunk.as_deref())?;
        let destination: SocketAddr = tokio::net::lookup_host(&host)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| DialError::Unreachable(host.clone()))?;
        let video_room = self
            .store
            .room(room)
            .ok()
            .flatten()
            .is_some_and(|r| r.category == pont_meet::Category::Video);
        let (rtp, rtcp, audio_port) = self
            .ports
            .bind_pair(self.config.rtp_bind_ip)
            .await
            .map_err(|_| DialError::NoPorts)?;
        let mut ports = vec![audio_port];
        let mut video = None;
        if video_room
            && !uri.starts_with("tel:")
            && let Ok((vrtp, vrtcp, port)) = self.ports.bind_pair(self.config.rtp_bind_ip).await
        {
            ports.push(port);
            video = Some((vrtp, vrtcp, port));
        }
        let call = Call {
            participant: None,
            answer: None,
            room: Some(room),
            ports,
            audio_port,
            video_port: video.as_ref().map(|v| v.2),
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
            outgoing: true,
            // Only calls that came in are judged by their source.
            source: std::net::Ipv4Addr::UNSPECIFIED.into(),
        };
        let local = self.local_media(&call);
        let offer = sdp::offer(&local);
        let mut out = OutgoingCall::new(
            request_uri,
            destination,
            Transport::Udp,
            dialout
                .from_user
                .clone()
                .unwrap_or_else(|| room.to_string()),
            offer.to_string(),
        );
        out.from_display_name = Some(format!("pont {room}"));
        out.credentials = dialout.username.clone().zip(dialout.password.clone());
        let now = self.clock.now();
        let handle = match self.endpoint.call(now, out) {
            Ok(h) => h,
            Err(e) => {
                self.release(&call);
                return Err(DialError::Refused(e.to_string()));
            }
        };
        info!(%room, call = handle.0, to = %pont_types::Pii(destination), "dialling out");
        self.dialing.insert(
            handle,
            Dialing {
                call,
                offer,
                local,
                audio: (rtp, rtcp),
                video: video.map(|(a, b, _)| (a, b)),
                name,
                target: uri.trim().to_owned(),
            },
        );
        self.dial_status(handle, "dialling", None);
        Ok(handle)
    }

    /// Tells the room's moderators how a dial-out goes (before `self.dialing` forgets it).
    pub(super) fn dial_status(&self, handle: CallHandle, state: &'static str, code: Option<u16>) {
        let Some(d) = self.dialing.get(&handle) else {
            return;
        };
        let Some(room) = d.call.room else {
            return;
        };
        self.media.dialout_status(
            room,
            pont_plane::to_browser::ToBrowser::Dialout {
                call: format!("c{}", handle.0),
                target: d.target.clone(),
                state,
                code,
            },
        );
    }

    /// The called party answered: into the room, as an incoming call would be.
    pub(super) fn dial_answered(&mut self, handle: CallHandle, answer: &Sdp) {
        let now = self.clock.now();
        let Some(d) = self.dialing.get(&handle) else {
            return;
        };
        let agreed = sdp::process_answer(&d.offer, answer, &d.local)
            .ok()
            .filter(|a| a.audio.is_some());
        // 488: what a callee answers to an offer it cannot take, said of its answer here.
        self.dial_status(
            handle,
            if agreed.is_some() {
                "answered"
            } else {
                "failed"
            },
            agreed.is_none().then_some(488),
        );
        let Some(d) = self.dialing.remove(&handle) else {
            return;
        };
        let Some(room) = d.call.room else {
            return;
        };
        let negotiated = match agreed {
            Some(a) => a,
            None => {
                info!(call = handle.0, "the answer agrees on no audio codec: BYE");
                self.release(&d.call);
                let _ = self.endpoint.hangup(now, handle);
                return;
            }
        };
        let mut c = d.call;
        let video = match (negotiated.video.clone(), d.video) {
            (Some(stream), Some((rtp, rtcp))) => Some(SipMedia { stream, rtp, rtcp }),
            (_, rest) => {
                // A video stream we offered and the peer refused: its ports go back.
                if rest.is_some()
                    && let Some(port) = c.video_port.take()
                {
                    self.ports.release(port);
                    c.ports.retain(|&p| p != port);
                }
                None
            }
        };
        let join = JoinSip {
            room,
            call: handle,
            display_name: d.name,
            audio: SipMedia {
                stream: negotiated
                    .audio
                    .clone()
                    .unwrap_or_else(|| unreachable!("checked above")),
                rtp: d.audio.0,
                rtcp: d.audio.1,
            },
            video,
            hangup: self.commands_tx.clone(),
            reply: self.joins.0.clone(),
            // A moderator called it in.
            waiting_room: false,
        };
        if self.media.try_join_sip(join).is_err() {
            warn!(
                call = handle.0,
                "media task queue full: the answered call is hung up"
            );
            self.release(&c);
            let _ = self.endpoint.hangup(now, handle);
            return;
        }
        info!(%room, call = handle.0, "dialled call answered: joining");
        self.pending.insert(handle, c);
    }

    /// The call was refused, timed out or cancelled: its ports go back.
    pub(super) fn dial_failed(&mut self, handle: CallHandle, code: u16) {
        self.dial_status(handle, "failed", Some(code));
        if let Some(d) = self.dialing.remove(&handle) {
            info!(room = ?d.call.room.map(|r| r.0), call = handle.0, code, "dial-out failed");
            self.release(&d.call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_and_checked() {
        assert_eq!(
            target("sip:1234@127.0.0.1:5070", None),
            Ok((
                "sip:1234@127.0.0.1:5070".into(),
                "127.0.0.1:5070".into(),
                "1234".into()
            ))
        );
        assert_eq!(
            target("sip:room@10.0.0.5", None).map(|t| t.1),
            Ok("10.0.0.5:5060".into())
        );
        assert_eq!(
            target("tel:+33 1 23 45 67 89", Some("192.0.2.1:5060")),
            Ok((
                "sip:+33123456789@192.0.2.1:5060".into(),
                "192.0.2.1:5060".into(),
                "+33123456789".into()
            ))
        );
        assert_eq!(target("tel:+331234", None), Err(DialError::NoTrunk));
        for bad in [
            "http://x",
            "tel:abc",
            "tel:",
            "sip:",
            "sip:a b@host",
            "sip:x@host\r\nVia: evil",
        ] {
            assert!(
                matches!(
                    target(bad, Some("192.0.2.1:5060")),
                    Err(DialError::BadUri(_))
                ),
                "{bad}"
            );
        }
    }
}
