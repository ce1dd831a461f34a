//! A viewer connected to a viewer's [`WebLeg`] without sockets or clocks: a str0m peer that
//! stands in for a browser (it offers `recvonly` Opus and H.264, does ICE, DTLS and SRTP), with
//! every datagram handed across in memory and time advanced by the caller's timeouts. For
//! tests and benchmarks of what a live stream's viewer costs and receives; the server never
//! uses it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::media::{Direction, MediaKind as StrKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::{LegEvent, ViewerTracks, WebError, WebLeg};

/// The bridge's side, as its host candidate.
const BRIDGE: &str = "127.0.0.1:10000";
/// The viewer's side.
const VIEWER: &str = "127.0.0.1:40000";

/// What the viewer received, decrypted: per kind, packets and payload bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub audio_packets: u64,
    pub video_packets: u64,
    pub bytes: u64,
    /// The payload type of the last packet of each kind, as the viewer's offer numbered it.
    pub audio_pt: Option<u8>,
    pub video_pt: Option<u8>,
}

/// A viewer peer and the bridge's leg for it, connected in memory.
pub struct Loopback {
    pub leg: WebLeg,
    pub tracks: ViewerTracks,
    viewer: Rtc,
    now: Instant,
    bridge: SocketAddr,
    viewer_addr: SocketAddr,
    pub received: Received,
}

impl Loopback {
    /// A viewer offering what a browser offers for playback, its leg answered by
    /// [`WebLeg::from_offer`], and ICE and DTLS run until both sides are connected (at most a
    /// minute of simulated time). `Err` when the leg refuses the offer.
    pub fn connect(start: Instant) -> Result<Self, WebError> {
        let bridge: SocketAddr = BRIDGE.parse().expect("a literal address");
        let viewer_addr: SocketAddr = VIEWER.parse().expect("a literal address");
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        // Other payload type numbers than the bridge's, as Chrome's are.
        config
            .codec_config()
            .add_h264(125.into(), Some(107.into()), true, 0x42e01f);
        let mut viewer = config.build(start);
        if let Ok(c) = Candidate::host(viewer_addr, "udp") {
            viewer.add_local_candidate(c);
        }
        let mut api = viewer.sdp_api();
        api.add_media(StrKind::Audio, Direction::RecvOnly, None, None, None);
        api.add_media(StrKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| WebError::BadSdp("the viewer made no offer".into()))?;
        let (leg, answer, tracks) = WebLeg::from_offer(start, &[bridge], &offer.to_sdp_string())?;
        let answer = str0m::change::SdpAnswer::from_sdp_string(&answer)
            .map_err(|e| WebError::BadSdp(e.to_string()))?;
        viewer.sdp_api().accept_answer(pending, answer)?;
        let mut lb = Self {
            leg,
            tracks,
            viewer,
            now: start,
            bridge,
            viewer_addr,
            received: Received::default(),
        };
        let deadline = start + Duration::from_secs(60);
        while !lb.leg.is_connected() && lb.now < deadline {
            lb.step();
        }
        Ok(lb)
    }

    /// Simulated time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves every datagram across until neither side has one, then advances time to the
    /// earlier of the two sides' timeouts.
    pub fn step(&mut self) {
        self.exchange();
        let next = [self.leg.poll_timeout(), self.viewer_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.now + Duration::from_millis(100));
        self.now = next.max(self.now);
        self.leg.handle_timeout(self.now);
        let _ = self.viewer.handle_input(Input::Timeout(self.now));
        self.exchange();
    }

    /// Sets simulated time to `now` (not before the current time) and runs both sides'
    /// timers and datagrams: what keeps ICE consent alive when a caller (a benchmark) drives
    /// the leg itself and drains its datagrams.
    pub fn advance_to(&mut self, now: Instant) {
        self.now = now.max(self.now);
        self.leg.handle_timeout(self.now);
        let _ = self.viewer.handle_input(Input::Timeout(self.now));
        self.exchange();
    }

    /// Hands every pending datagram to the other side until nothing moves.
    pub fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(ev) = self.leg.poll_event() {
                if let LegEvent::Transmit { contents, .. } = ev {
                    moved = true;

                    if let Ok(r) =
                        Receive::new(Protocol::Udp, self.bridge, self.viewer_addr, &contents)
                    {
                        let _ = self.viewer.handle_input(Input::Receive(self.now, r));
                    }
                }
            }
            let (sent, _) = self.drain_viewer();
            if !moved && !sent {
                return;
            }
        }
    }

    fn viewer_timeout(&mut self) -> Option<Instant> {
        self.drain_viewer().1
    }

    /// The viewer's outputs up to its next timeout: its datagrams to the leg, its received
    /// packets counted. Whether it sent anything, and the timeout.
    fn drain_viewer(&mut self) -> (bool, Option<Instant>) {
        let mut sent = false;
        loop {
            match self.viewer.poll_output() {
                Ok(Output::Timeout(t)) => return (sent, Some(t)),
                Ok(Output::Transmit(t)) => {
                    sent = true;
                    let data = t.contents.to_vec();
                    self.leg
                        .handle_receive(self.now, self.viewer_addr, self.bridge, &data);
                }
                Ok(Output::Event(Event::RtpPacket(p))) => {
                    let pt = *p.header.payload_type;
                    self.received.bytes += p.payload.len() as u64;
                    if pt == 111 {
                        self.received.audio_packets += 1;
                        self.received.audio_pt = Some(pt);
                    } else {
                        self.received.video_packets += 1;
                        self.received.video_pt = Some(pt);
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return (sent, None),
            }
        }
    }
}
