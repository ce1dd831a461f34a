//! SDP (RFC 4566) parsing and serialisation, and RFC 3264 offer/answer. As answerer
//! ([`answer`]): one audio and one video stream, one codec each (plus telephone-event), every
//! other offered stream rejected with port 0 in its place (RFC 3264 §6). As offerer, for the
//! calls the bridge places: [`offer`] builds our offer and [`process_answer`] reads the peer's
//! answer into the same [`NegotiatedStream`]s (RFC 3264 §5, §7).

use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// Why an SDP body does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP is not UTF-8")]
    NotUtf8,
    #[error("SDP line {0} is not `x=value`")]
    BadLine(usize),
    #[error("SDP lacks v=0")]
    NoVersion,
    #[error("malformed o= line")]
    BadOrigin,
    #[error("malformed c= line")]
    BadConnection,
    #[error("malformed m= line")]
    BadMedia,
}

/// Why no answer can be built; the application answers 488 (RFC 3261 §13.3.1.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    #[error("no offered stream has a codec in common with ours")]
    NoCommonCodec,
}

/// `c=IN IP4 192.0.2.1` / `c=IN IP6 2001:db8::1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub addr_type: String,
    /// The address as written (may carry `/ttl` for multicast, or be a host name).
    pub address: String,
}

impl Connection {
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }

    pub fn from_ip(ip: IpAddr) -> Self {
        Self {
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
            address: ip.to_string(),
        }
    }
}

/// `a=name[:value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

/// Media direction (RFC 3264 §5.1, §8.4: hold is `sendonly` or `inactive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction an answerer gives to an offered direction (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, `application`, …
    pub media: String,
    /// 0 = rejected or disabled stream.
    pub port: u16,
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`, …
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<Connection>,
    pub bandwidth: Vec<String>,
    pub attributes: Vec<Attribute>,
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

impl MediaDescription {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The rtpmap of `pt`, or the RFC 3551 static mapping for PT 0, 8, 9 and 18.
    pub fn rtpmap(&self, pt: &str) -> Option<RtpMap> {
        let found = self.attributes.iter().find_map(|a| {
            let v = a.value.as_deref()?;
            if a.name != "rtpmap" {
                return None;
            }
            let (p, rest) = v.split_once(' ')?;
            (p == pt).then_some(rest.trim())
        });
        if let Some(rest) = found {
            let mut it = rest.split('/');
            let encoding = it.next()?.to_owned();
            let clock_rate = it.next()?.trim().parse().ok()?;
            let channels = it.next().and_then(|c| c.trim().parse().ok());
            return Some(RtpMap {
                encoding,
                clock_rate,
                channels,
            });
        }
        let (encoding, clock_rate) = match pt {
            "0" => ("PCMU", 8000),
            "8" => ("PCMA", 8000),
            "9" => ("G722", 8000),
            "18" => ("G729", 8000),
            _ => return None,
        };
        Some(RtpMap {
            encoding: encoding.to_owned(),
            clock_rate,
            channels: None,
        })
    }

    /// The fmtp parameters of `pt` as written after the PT.
    pub fn fmtp(&self, pt: &str) -> Option<&str> {
        self.attributes.iter().find_map(|a| {
            let v = a.value.as_deref()?;
            if a.name != "fmtp" {
                return None;
            }
            let (p, rest) = v.split_once(' ')?;
            (p == pt).then_some(rest.trim())
        })
    }

    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(|a| match a.name.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    }

    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")?
            .value
            .as_deref()?
            .trim()
            .parse()
            .ok()
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `o=` username, session id, session version, net type, address type, address.
    pub origin: Origin,
    pub session_name: String,
    pub connection: Option<Connection>,
    pub bandwidth: Vec<String>,
    /// `t=` as written (`0 0` for a bridge).
    pub timing: String,
    pub attributes: Vec<Attribute>,
    pub media: Vec<MediaDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: u64,
    pub addr_type: String,
    pub address: String,
}

impl Sdp {
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut sdp = Self {
            origin: Origin {
                username: "-".into(),
                session_id: "0".into(),
                session_version: 0,
                addr_type: "IP4".into(),
                address: "0.0.0.0".into(),
            },
            session_name: "-".into(),
            connection: None,
            bandwidth: Vec::new(),
            timing: "0 0".into(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        let mut saw_version = false;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let b = line.as_bytes();
            if b.len() < 2 || b[1] != b'=' {
                return Err(SdpError::BadLine(n + 1));
            }
            let value = &line[2..];
            let in_media = !sdp.media.is_empty();
            match b[0] {
                b'v' => {
                    if value.trim() != "0" {
                        return Err(SdpError::NoVersion);
                    }
                    saw_version = true;
                }
                b'o' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() != 6 {
                        return Err(SdpError::BadOrigin);
                    }
                    sdp.origin = Origin {
                        username: f[0].into(),
                        session_id: f[1].into(),
                        session_version: f[2].parse().map_err(|_| SdpError::BadOrigin)?,
                        addr_type: f[4].into(),
                        address: f[5].into(),
                    };
                }
                b's' => sdp.session_name = value.into(),
                b't' => sdp.timing = value.into(),
                b'c' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() != 3 || f[0] != "IN" {
                        return Err(SdpError::BadConnection);
                    }
                    let c = Connection {
                        addr_type: f[1].into(),
                        address: f[2].into(),
                    };
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => sdp.connection = Some(c),
                    }
                }
                b'b' => match sdp.media.last_mut() {
                    Some(m) => m.bandwidth.push(value.into()),
                    None => sdp.bandwidth.push(value.into()),
                },
                b'a' => {
                    let (name, val) = match value.split_once(':') {
                        Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                        None => (value.to_owned(), None),
                    };
                    let a = Attribute { name, value: val };
                    match sdp.media.last_mut() {
                        Some(m) => m.attributes.push(a),
                        None => sdp.attributes.push(a),
                    }
                }
                b'm' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(SdpError::BadMedia);
                    }
                    let (port, count) = match f[1].split_once('/') {
                        Some((p, c)) => (p, Some(c.parse().map_err(|_| SdpError::BadMedia)?)),
                        None => (f[1], None),
                    };
                    sdp.media.push(MediaDescription {
                        media: f[0].into(),
                        port: port.parse().map_err(|_| SdpError::BadMedia)?,
                        port_count: count,
                        proto: f[2].into(),
                        formats: f[3..].iter().map(|s| (*s).to_owned()).collect(),
                        connection: None,
                        bandwidth: Vec::new(),
                        attributes: Vec::new(),
                    });
                }
                // i=, u=, e=, p=, z=, k=, r= and unknown types are ignored (RFC 4566 §5).
                _ => {
                    let _ = in_media;
                }
            }
        }
        if !saw_version {
            return Err(SdpError::NoVersion);
        }
        Ok(sdp)
    }

    /// The connection address of stream `m` (media-level c= over session-level).
    pub fn connection_for<'a>(&'a self, m: &'a MediaDescription) -> Option<&'a Connection> {
        m.connection.as_ref().or(self.connection.as_ref())
    }

    /// True when every active stream is on hold: `sendonly`/`inactive` (RFC 3264 §8.4) or the
    /// RFC 2543 `c=0.0.0.0` form.
    pub fn is_hold(&self) -> bool {
        let active: Vec<_> = self.media.iter().filter(|m| m.port != 0).collect();
        !active.is_empty()
            && active.iter().all(|m| {
                let dir = m
                    .direction()
                    .or_else(|| session_direction(&self.attributes))
                    .unwrap_or(Direction::SendRecv);
                let zero = self
                    .connection_for(m)
                    .is_some_and(|c| c.address == "0.0.0.0");
                matches!(dir, Direction::SendOnly | Direction::Inactive) || zero
            })
    }
}

fn session_direction(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a.name.as_str() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    })
}

fn write_attrs(out: &mut String, attrs: &[Attribute]) {
    for a in attrs {
        match &a.value {
            Some(v) => {
                let _ = write!(out, "a={}:{}\r\n", a.name, v);
            }
            None => {
                let _ = write!(out, "a={}\r\n", a.name);
            }
        }
    }
}

impl fmt::Display for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(512);
        let o = &self.origin;
        let _ = write!(
            out,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            o.username, o.session_id, o.session_version, o.addr_type, o.address, self.session_name
        );
        if let Some(c) = &self.connection {
            let _ = write!(out, "c=IN {} {}\r\n", c.addr_type, c.address);
        }
        for b in &self.bandwidth {
            let _ = write!(out, "b={b}\r\n");
        }
        let _ = write!(out, "t={}\r\n", self.timing);
        write_attrs(&mut out, &self.attributes);
        for m in &self.media {
            let _ = write!(out, "m={} {}", m.media, m.port);
            if let Some(c) = m.port_count {
                let _ = write!(out, "/{c}");
            }
            let _ = write!(out, " {}", m.proto);
            for fmt in &m.formats {
                let _ = write!(out, " {fmt}");
            }
            out.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(out, "c=IN {} {}\r\n", c.addr_type, c.address);
            }
            for b in &m.bandwidth {
                let _ = write!(out, "b={b}\r\n");
            }
            write_attrs(&mut out, &m.attributes);
        }
        f.write_str(&out)
    }
}

/// A codec the bridge can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    Pcmu,
    Pcma,
    /// G.722: 16 kHz audio, signalled as 8000 in SDP (RFC 3551 §4.5.2).
    G722,
    Opus,
    /// H.264 (RFC 6184). `max_level_idc` is the highest level we decode (e.g. 31 = 3.1);
    /// `packetization_mode` 0 or 1.
    H264 {
        packetization_mode: u8,
        max_level_idc: u8,
    },
}

impl Codec {
    fn is_audio(self) -> bool {
        !matches!(self, Self::H264 { .. })
    }

    fn matches(self, map: &RtpMap) -> bool {
        let (name, rate) = match self {
            Self::Pcmu => ("PCMU", 8000),
            Self::Pcma => ("PCMA", 8000),
            Self::G722 => ("G722", 8000),
            Self::Opus => ("opus", 48000),
            Self::H264 { .. } => ("H264", 90000),
        };
        map.encoding.eq_ignore_ascii_case(name) && map.clock_rate == rate
    }
}

/// Our side of the negotiation: where we receive and what we take, in preference order.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub address: IpAddr,
    pub audio_port: u16,
    /// `None`: every video stream is rejected.
    pub video_port: Option<u16>,
    /// Audio then video codecs, each kind in preference order.
    pub codecs: Vec<Codec>,
    /// Accept RFC 4733 telephone-event when offered.
    pub telephone_event: bool,
    /// `o=` session id and version (RFC 4566 §5.2): the version must grow with each change.
    pub session_id: u64,
    pub session_version: u64,
}

/// What was agreed for one accepted stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Index of the m= line in the offer (and the answer).
    pub index: usize,
    pub codec: Codec,
    /// The payload type of `codec` as the peer numbers it: the offerer's number in an offer
    /// we answered, the answer's in an answer to our offer (RFC 3264 §6.1 asks the answerer
    /// to keep the offer's numbers).
    pub pt: u8,
    /// The fmtp agreed for `codec` (H.264 profile-level-id etc.: ours, normalised; Opus: the
    /// peer's).
    pub fmtp: Option<String>,
    pub telephone_event_pt: Option<u8>,
    /// Where the peer receives RTP; `None` when on hold with `c=0.0.0.0` or unparseable.
    pub remote_addr: Option<IpAddr>,
    pub remote_port: u16,
    /// Peer's `a=rtcp:` port when given (RFC 3605).
    pub remote_rtcp_port: Option<u16>,
    pub rtcp_mux: bool,
    /// Our direction: the one we answered, or the reverse of the peer's answer to our offer.
    pub direction: Direction,
    pub ptime: Option<u32>,
}

/// An answer and what it agreed: ours to an offer ([`answer`]) or the peer's to our offer
/// ([`process_answer`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub sdp: Sdp,
    pub audio: Option<NegotiatedStream>,
    pub video: Option<NegotiatedStream>,
}

/// H.264 `profile-level-id` (RFC 6184 §8.1): profile_idc, profile_iop, level_idc.
fn parse_profile_level_id(s: &str) -> Option<(u8, u8, u8)> {
    if s.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

fn fmtp_param<'a>(fmtp: &'a str, name: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// RFC 6184 §8.2.2: the answer keeps the packetization mode and profile; the level may go down
/// to what we decode. We decode Constrained Baseline: profile_idc 0x42 (Baseline, which a CB
/// stream satisfies when we send) or any profile with constraint_set1 (CB-compatible).
fn negotiate_h264(
    offered_fmtp: Option<&str>,
    packetization_mode: u8,
    max_level_idc: u8,
) -> Option<String> {
    let fmtp = offered_fmtp.unwrap_or("");
    let mode: u8 = fmtp_param(fmtp, "packetization-mode")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if mode != packetization_mode {
        return None;
    }
    // RFC 6184 §8.1: absent profile-level-id means 42000A (Baseline, level 1.0).
    let (profile, iop, level) =
        parse_profile_level_id(fmtp_param(fmtp, "profile-level-id").unwrap_or("42000a"))?;
    if profile != 0x42 && iop & 0x40 == 0 {
        return None;
    }
    let level = level.min(max_level_idc);
    let mut out = format!("profile-level-id={profile:02x}{iop:02x}{level:02x}");
    let _ = write!(out, ";packetization-mode={mode}");
    if fmtp_param(fmtp, "level-asymmetry-allowed") == Some("1") {
        out.push_str(";level-asymmetry-allowed=1");
    }
    Some(out)
}

/// Build the answer to `offer` (RFC 3264 §6). Streams keep their order; each stream that is
/// not the first accepted audio or video one, or has no common codec, is answered with port 0.
pub fn answer(offer: &Sdp, local: &LocalMedia) -> Result<Answer, NegotiationError> {
    let mut media = Vec::with_capacity(offer.media.len());
    let (mut audio, mut video) = (None, None);
    for (index, m) in offer.media.iter().enumerate() {
        let kind_audio = m.media == "audio";
        let port = match (m.media.as_str(), local.video_port) {
            ("audio", _) if audio.is_none() => Some(local.audio_port),
            ("video", Some(p)) if video.is_none() => Some(p),
            _ => None,
        };
        let chosen = match port {
            Some(port) if is_plain_rtp(m) && m.port != 0 => {
                choose_codec(m, local, kind_audio).map(|c| (port, c))
            }
            _ => None,
        };
        let Some((port, (codec, pt, fmtp))) = chosen else {
            // RFC 3264 §6: a rejected stream keeps its place, with port 0 and the offered formats.
            media.push(MediaDescription {
                media: m.media.clone(),
                port: 0,
                port_count: None,
                proto: m.proto.clone(),
                formats: m.formats.clone(),
                connection: None,
                bandwidth: Vec::new(),
                attributes: Vec::new(),
            });
            continue;
        };
        let map = m.rtpmap(&pt.to_string());
        let mut formats = vec![pt.to_string()];
        let mut attributes = Vec::new();
        if let Some(map) = &map {
            let mut v = format!("{pt} {}/{}", map.encoding, map.clock_rate);
            if let Some(ch) = map.channels {
                let _ = write!(v, "/{ch}");
            }
            attributes.push(attr("rtpmap", Some(v)));
        }
        if let Some(f) = &fmtp {
            attributes.push(attr("fmtp", Some(format!("{pt} {f}"))));
        }
        let mut telephone_event_pt = None;
        if kind_audio && local.telephone_event {
            let rate = map.as_ref().map_or(8000, |m| m.clock_rate);
            telephone_event_pt = find_telephone_event(m, rate, None);
            if let Some(te) = telephone_event_pt {
                formats.push(te.to_string());
                attributes.push(attr("rtpmap", Some(format!("{te} telephone-event/{rate}"))));
                let events = m.fmtp(&te.to_string()).unwrap_or("0-16").to_owned();
                attributes.push(attr("fmtp", Some(format!("{te} {events}"))));
            }
        }
        let ptime = m.ptime();
        if kind_audio && let Some(p) = ptime {
            attributes.push(attr("ptime", Some(p.to_string())));
        }
        let direction = stream_direction(offer, m).reversed();
        attributes.push(attr(direction.as_str(), None));
        let rtcp_mux = m.has_attribute("rtcp-mux");
        if rtcp_mux {
            attributes.push(attr("rtcp-mux", None));
        }
        let stream = NegotiatedStream {
            index,
            codec,
            pt,
            fmtp,
            telephone_event_pt,
            remote_addr: remote_addr(offer, m),
            remote_port: m.port,
            remote_rtcp_port: remote_rtcp_port(m),
            rtcp_mux,
            direction,
            ptime,
        };
        if kind_audio {
            audio = Some(stream);
        } else {
            video = Some(stream);
        }
        media.push(MediaDescription {
            media: m.media.clone(),
            port,
            port_count: None,
            proto: m.proto.clone(),
            formats,
            connection: None,
            bandwidth: Vec::new(),
            attributes,
        });
    }
    if audio.is_none() && video.is_none() {
        return Err(NegotiationError::NoCommonCodec);
    }
    Ok(Answer {
        sdp: local_sdp(local, media),
        audio,
        video,
    })
}

/// Dynamic payload type of Opus in our offers.
const OPUS_PT: u8 = 111;
/// Dynamic payload types of telephone-event at 8 kHz and (next to Opus) 48 kHz in our offers.
const TELEPHONE_EVENT_PTS: [(u8, u32); 2] = [(101, 8000), (102, 48000)];

/// Our SDP offer for a call we place (RFC 3264 §5), from the same [`LocalMedia`] that
/// [`answer`] takes, in `local.codecs` preference order:
///
/// - an audio stream on `audio_port` (when there is an audio codec): PCMU 0, PCMA 8, G.722 9,
///   Opus 111 (`opus/48000/2`); with `telephone_event`, RFC 4733 telephone-event 101 at
///   8000 Hz, and 102 at 48000 Hz when Opus is offered; `a=ptime:20`;
/// - a video stream on `video_port` (when set and there is an H.264 codec): each H.264 codec as
///   Constrained Baseline (`profile-level-id=42e0` + its `max_level_idc`) with its
///   `packetization-mode`, payload types from 96 up.
///
/// Both are `sendrecv` on `RTP/AVP`, without `rtcp-mux`. Read the peer's answer with
/// [`process_answer`].
pub fn offer(local: &LocalMedia) -> Sdp {
    let mut media = Vec::new();
    let (mut formats, mut attributes) = (Vec::<String>::new(), Vec::new());
    let mut opus = false;
    for &codec in local.codecs.iter().filter(|c| c.is_audio()) {
        let (pt, map) = match codec {
            Codec::Pcmu => (0, "PCMU/8000"),
            Codec::Pcma => (8, "PCMA/8000"),
            Codec::G722 => (9, "G722/8000"),
            Codec::Opus => (OPUS_PT, "opus/48000/2"),
            Codec::H264 { .. } => continue,
        };
        opus |= codec == Codec::Opus;
        if formats.contains(&pt.to_string()) {
            continue;
        }
        formats.push(pt.to_string());
        attributes.push(attr("rtpmap", Some(format!("{pt} {map}"))));
    }
    if !formats.is_empty() {
        if local.telephone_event {
            for (pt, rate) in TELEPHONE_EVENT_PTS {
                if rate == 8000 || opus {
                    formats.push(pt.to_string());
                    attributes.push(attr("rtpmap", Some(format!("{pt} telephone-event/{rate}"))));
                    attributes.push(attr("fmtp", Some(format!("{pt} 0-16"))));
                }
            }
        }
        attributes.push(attr("ptime", Some("20".into())));
        media.push(offered_stream(
            "audio",
            local.audio_port,
            formats,
            attributes,
        ));
    }
    if let Some(port) = local.video_port {
        let (mut formats, mut attributes) = (Vec::new(), Vec::new());
        let mut pts = (96..=127)
            .filter(|pt| *pt != OPUS_PT && !TELEPHONE_EVENT_PTS.iter().any(|(te, _)| te == pt));
        for codec in &local.codecs {
            let Codec::H264 {
                packetization_mode,
                max_level_idc,
            } = *codec
            else {
                continue;
            };
            let Some(pt) = pts.next() else { break };
            formats.push(pt.to_string());
            attributes.push(attr("rtpmap", Some(format!("{pt} H264/90000"))));
            attributes.push(attr(
                "fmtp",
                Some(format!(
                    "{pt} profile-level-id=42e0{max_level_idc:02x};packetization-mode={packetization_mode}"
                )),
            ));
        }
        if !formats.is_empty() {
            media.push(offered_stream("video", port, formats, attributes));
        }
    }
    local_sdp(local, media)
}

fn offered_stream(
    kind: &str,
    port: u16,
    formats: Vec<String>,
    mut attributes: Vec<Attribute>,
) -> MediaDescription {
    attributes.push(attr(Direction::SendRecv.as_str(), None));
    MediaDescription {
        media: kind.to_owned(),
        port,
        port_count: None,
        proto: "RTP/AVP".into(),
        formats,
        connection: None,
        bandwidth: Vec::new(),
        attributes,
    }
}

/// What the peer's `answer` to our `offer` agreed (RFC 3264 §7, offerer processing of the
/// answer), in the same [`NegotiatedStream`] terms as [`answer`]; `local` is what `offer` was
/// built from (see [`offer`]). For the first audio and the first video stream of the offer
/// (video only with a `video_port`) that the answer accepts (same media, non-zero port, plain
/// RTP): the codec is the answer's first format that is one of our codecs and was in our offer
/// (the answer lists them in the answerer's preference, RFC 3264 §6.1), with its payload type
/// as the answer writes it; an answer's format without `a=rtpmap`/`a=fmtp` takes our offer's.
/// telephone-event only when both sides list it at the codec's clock rate; `rtcp_mux` only
/// when both list it; our direction is the reverse of the answer's; ptime, addresses and
/// ports are the answer's. [`Answer::sdp`] is the peer's answer.
///
/// Errors: no stream accepted with a codec we offered ([`NegotiationError::NoCommonCodec`]):
/// the call has no media and should be hung up.
pub fn process_answer(
    offer: &Sdp,
    answer: &Sdp,
    local: &LocalMedia,
) -> Result<Answer, NegotiationError> {
    let (mut audio, mut video) = (None, None);
    for (index, (ours, theirs)) in offer.media.iter().zip(&answer.media).enumerate() {
        let kind_audio = ours.media == "audio";
        let wanted = match ours.media.as_str() {
            "audio" => audio.is_none(),
            "video" => video.is_none() && local.video_port.is_some(),
            _ => false,
        };
        if !wanted
            || theirs.media != ours.media
            || ours.port == 0
            || theirs.port == 0
            || !is_plain_rtp(theirs)
        {
            continue;
        }
        let chosen = theirs.formats.iter().find_map(|f| {
            let pt = f.parse::<u8>().ok()?;
            let map = theirs.rtpmap(f).or_else(|| ours.rtpmap(f))?;
            let fmtp = theirs.fmtp(f).or_else(|| ours.fmtp(f));
            local
                .codecs
                .iter()
                .filter(|c| c.is_audio() == kind_audio)
                .find_map(|&codec| {
                    let agreed = agree(codec, &map, fmtp)?;
                    offers(ours, codec).then_some((codec, pt, agreed, map.clock_rate))
                })
        });
        let Some((codec, pt, fmtp, rate)) = chosen else {
            continue;
        };
        let telephone_event_pt = (kind_audio && local.telephone_event)
            .then(|| find_telephone_event(theirs, rate, Some(ours)))
            .flatten()
            .filter(|te| find_telephone_event(ours, rate, None) == Some(*te));
        let stream = NegotiatedStream {
            index,
            codec,
            pt,
            fmtp,
            telephone_event_pt,
            remote_addr: remote_addr(answer, theirs),
            remote_port: theirs.port,
            remote_rtcp_port: remote_rtcp_port(theirs),
            rtcp_mux: theirs.has_attribute("rtcp-mux") && ours.has_attribute("rtcp-mux"),
            direction: stream_direction(answer, theirs).reversed(),
            ptime: theirs.ptime(),
        };
        if kind_audio {
            audio = Some(stream);
        } else {
            video = Some(stream);
        }
    }
    if audio.is_none() && video.is_none() {
        return Err(NegotiationError::NoCommonCodec);
    }
    Ok(Answer {
        sdp: answer.clone(),
        audio,
        video,
    })
}

/// Our session description around `media`: origin, session name and `c=` from `local`.
fn local_sdp(local: &LocalMedia, media: Vec<MediaDescription>) -> Sdp {
    let c = Connection::from_ip(local.address);
    Sdp {
        origin: Origin {
            username: "pont".into(),
            session_id: local.session_id.to_string(),
            session_version: local.session_version,
            addr_type: c.addr_type.clone(),
            address: c.address.clone(),
        },
        session_name: "pont".into(),
        connection: Some(c),
        bandwidth: Vec::new(),
        timing: "0 0".into(),
        attributes: Vec::new(),
        media,
    }
}

fn attr(name: &str, value: Option<String>) -> Attribute {
    Attribute {
        name: name.to_owned(),
        value,
    }
}

/// A stream we can take: RTP without SRTP (no keys are negotiated here).
fn is_plain_rtp(m: &MediaDescription) -> bool {
    m.proto.starts_with("RTP/AVP") && !m.proto.contains("SAVP")
}

/// The direction of stream `m` of `sdp`: media level, else session level, else sendrecv.
fn stream_direction(sdp: &Sdp, m: &MediaDescription) -> Direction {
    m.direction()
        .or_else(|| session_direction(&sdp.attributes))
        .unwrap_or(Direction::SendRecv)
}

/// Where stream `m` of the peer's `sdp` receives RTP; `None` for `c=0.0.0.0` (RFC 2543 hold)
/// or an unparseable address.
fn remote_addr(sdp: &Sdp, m: &MediaDescription) -> Option<IpAddr> {
    sdp.connection_for(m)
        .and_then(Connection::ip)
        .filter(|ip| !ip.is_unspecified())
}

/// The peer's `a=rtcp:` port (RFC 3605).
fn remote_rtcp_port(m: &MediaDescription) -> Option<u16> {
    m.attribute("rtcp")
        .and_then(|a| a.value.as_deref())
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The RFC 4733 telephone-event payload type of `m` at clock `rate`; `fallback` lends its
/// rtpmaps to formats `m` lists without one (an answer relying on our offer's).
fn find_telephone_event(
    m: &MediaDescription,
    rate: u32,
    fallback: Option<&MediaDescription>,
) -> Option<u8> {
    m.formats.iter().find_map(|f| {
        let map = m.rtpmap(f).or_else(|| fallback?.rtpmap(f))?;
        (map.encoding.eq_ignore_ascii_case("telephone-event") && map.clock_rate == rate)
            .then(|| f.parse::<u8>().ok())
            .flatten()
    })
}

/// Whether a format with `map` and `fmtp` is `codec`: `Some` with the fmtp we agree to for it
/// (H.264: the negotiated profile-level-id and mode, RFC 6184 §8.2.2; Opus: as written; the
/// others: none).
fn agree(codec: Codec, map: &RtpMap, fmtp: Option<&str>) -> Option<Option<String>> {
    if !codec.matches(map) {
        return None;
    }
    match codec {
        Codec::H264 {
            packetization_mode,
            max_level_idc,
        } => negotiate_h264(fmtp, packetization_mode, max_level_idc).map(Some),
        Codec::Opus => Some(fmtp.map(str::to_owned)),
        _ => Some(None),
    }
}

/// Whether stream `m` (one of our offers) lists `codec`.
fn offers(m: &MediaDescription, codec: Codec) -> bool {
    m.formats.iter().any(|f| {
        m.rtpmap(f)
            .is_some_and(|map| agree(codec, &map, m.fmtp(f)).is_some())
    })
}

/// The first of our codecs (our preference order) that the offer carries.
fn choose_codec(
    m: &MediaDescription,
    local: &LocalMedia,
    audio: bool,
) -> Option<(Codec, u8, Option<String>)> {
    for &codec in local.codecs.iter().filter(|c| c.is_audio() == audio) {
        for f in &m.formats {
            let Some(map) = m.rtpmap(f) else { continue };
            let Ok(pt) = f.parse::<u8>() else { continue };
            if let Some(fmtp) = agree(codec, &map, m.fmtp(f)) {
                return Some((codec, pt, fmtp));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia {
            address: "192.0.2.10".parse().unwrap(),
            audio_port: 40000,
            video_port: Some(40002),
            codecs: vec![
                Codec::Opus,
                Codec::G722,
                Codec::Pcmu,
                Codec::Pcma,
                Codec::H264 {
                    packetization_mode: 1,
                    max_level_idc: 0x1f,
                },
                Codec::H264 {
                    packetization_mode: 0,
                    max_level_idc: 0x1f,
                },
            ],
            telephone_event: true,
            session_id: 1,
            session_version: 1,
        }
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.5\r\ns=-\r\nc=IN IP4 198.51.100.5\r\nt=0 0\r\n\
m=audio 5004 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
m=application 5010 UDP/BFCP *\r\n\
m=video 5006 RTP/AVP 97 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n\
a=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=640028;packetization-mode=1\r\na=rtcp-mux\r\n";

    #[test]
    fn parse_and_roundtrip() {
        let sdp = Sdp::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.media.len(), 3);
        assert_eq!(sdp.media[0].rtpmap("0").unwrap().encoding, "PCMU");
        let again = Sdp::parse(sdp.to_string().as_bytes()).unwrap();
        assert_eq!(sdp, again);
        assert!(Sdp::parse(b"o=x\r\n").is_err());
        assert!(Sdp::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn answer_follows_our_preference_and_keeps_rejected_streams() {
        let offer = Sdp::parse(OFFER.as_bytes()).unwrap();
        let a = answer(&offer, &local()).unwrap();
        let audio = a.audio.unwrap();
        // We prefer PCMU over PCMA; the offer lists PCMA first.
        assert_eq!((audio.codec, audio.pt), (Codec::Pcmu, 0));
        assert_eq!(audio.telephone_event_pt, Some(101));
        assert_eq!(audio.ptime, Some(20));
        assert_eq!(audio.remote_port, 5004);
        assert_eq!(a.sdp.media.len(), 3);
        assert_eq!(a.sdp.media[1].port, 0);
        assert_eq!(a.sdp.media[1].formats, ["*"]);
        let video = a.video.unwrap();
        // High profile (64) is not CB-compatible; 42e01f is taken.
        assert_eq!(video.pt, 96);
        assert_eq!(
            video.fmtp.as_deref(),
            Some("profile-level-id=42e01f;packetization-mode=1")
        );
        assert!(video.rtcp_mux);
        let text = a.sdp.to_string();
        assert!(text.contains("m=audio 40000 RTP/AVP 0 101\r\n"), "{text}");
        assert!(text.contains("m=application 0 UDP/BFCP *\r\n"), "{text}");
        assert!(text.contains("c=IN IP4 192.0.2.10\r\n"));
    }

    #[test]
    fn h264_level_goes_down_and_mode_must_match() {
        let mut l = local();
        l.codecs = vec![Codec::H264 {
            packetization_mode: 1,
            max_level_idc: 0x1e,
        }];
        let offer = Sdp::parse(
            b"v=0\r\nc=IN IP6 2001:db8::5\r\nm=video 5006 RTP/AVP 96 98\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42e01f;packetization-mode=0\r\na=rtpmap:98 H264/90000\r\n\
a=fmtp:98 profile-level-id=4d401f;packetization-mode=1\r\n",
        )
        .unwrap();
        let a = answer(&offer, &l).unwrap();
        let v = a.video.unwrap();
        assert_eq!(v.pt, 98);
        assert_eq!(
            v.fmtp.as_deref(),
            Some("profile-level-id=4d401e;packetization-mode=1")
        );
        assert_eq!(v.remote_addr, Some("2001:db8::5".parse().unwrap()));
    }

    #[test]
    fn no_common_codec() {
        let offer = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 18\r\n").unwrap();
        assert_eq!(
            answer(&offer, &local()).unwrap_err(),
            NegotiationError::NoCommonCodec
        );
        let offer = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/SAVP 0\r\n").unwrap();
        assert!(answer(&offer, &local()).is_err());
    }

    #[test]
    fn hold_and_resume() {
        let hold =
            Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 0\r\na=sendonly\r\n")
                .unwrap();
        assert!(hold.is_hold());
        let a = answer(&hold, &local()).unwrap();
        assert_eq!(a.audio.unwrap().direction, Direction::RecvOnly);
        let old_hold =
            Sdp::parse(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5004 RTP/AVP 0\r\n").unwrap();
        assert!(old_hold.is_hold());
        assert_eq!(
            answer(&old_hold, &local())
                .unwrap()
                .audio
                .unwrap()
                .remote_addr,
            None
        );
        let inactive =
            Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\na=inactive\r\nm=audio 5004 RTP/AVP 0\r\n")
                .unwrap();
        assert!(inactive.is_hold());
        let resume = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 0\r\n").unwrap();
        assert!(!resume.is_hold());
        assert_eq!(
            answer(&resume, &local()).unwrap().audio.unwrap().direction,
            Direction::SendRecv
        );
    }

    #[test]
    fn offer_lists_our_codecs_in_order() {
        let o = offer(&local());
        let text = o.to_string();
        assert!(
            text.contains("m=audio 40000 RTP/AVP 111 9 0 8 101 102\r\n"),
            "{text}"
        );
        for line in [
            "a=rtpmap:111 opus/48000/2\r\n",
            "a=rtpmap:9 G722/8000\r\n",
            "a=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:8 PCMA/8000\r\n",
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
            "a=rtpmap:102 telephone-event/48000\r\n",
            "a=ptime:20\r\n",
            "m=video 40002 RTP/AVP 96 97\r\n",
            "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n",
            "a=fmtp:97 profile-level-id=42e01f;packetization-mode=0\r\n",
            "c=IN IP4 192.0.2.10\r\n",
        ] {
            assert!(text.contains(line), "{line:?} missing in {text}");
        }
        assert_eq!(Sdp::parse(text.as_bytes()).unwrap(), o);
        // G.711 only, no video port, no telephone-event: one stream, no 48 kHz event.
        let mut l = local();
        l.codecs = vec![Codec::Pcma, Codec::Pcmu];
        l.video_port = None;
        l.telephone_event = false;
        let text = offer(&l).to_string();
        assert!(text.contains("m=audio 40000 RTP/AVP 8 0\r\n"), "{text}");
        assert!(
            !text.contains("m=video") && !text.contains("telephone-event"),
            "{text}"
        );
    }

    #[test]
    fn answer_to_our_offer_becomes_negotiated_streams() {
        let mut l = local();
        l.codecs = vec![
            Codec::Pcmu,
            Codec::Pcma,
            Codec::Opus,
            Codec::H264 {
                packetization_mode: 1,
                max_level_idc: 0x1f,
            },
        ];
        let ours = offer(&l);
        // The answerer prefers PCMA (listed first) and lowers the H.264 level; the video is
        // recvonly on its side, and it asks for rtcp-mux that we did not offer.
        let theirs = Sdp::parse(
            b"v=0\r\no=- 7 7 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\na=rtcp:6009\r\n\
m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42e01e;packetization-mode=1\r\na=recvonly\r\na=rtcp-mux\r\n",
        )
        .unwrap();
        let a = process_answer(&ours, &theirs, &l).unwrap();
        assert_eq!(a.sdp, theirs);
        let audio = a.audio.unwrap();
        assert_eq!(
            audio,
            NegotiatedStream {
                index: 0,
                codec: Codec::Pcma,
                pt: 8,
                fmtp: None,
                telephone_event_pt: Some(101),
                remote_addr: Some("203.0.113.9".parse().unwrap()),
                remote_port: 6000,
                remote_rtcp_port: Some(6009),
                rtcp_mux: false,
                direction: Direction::SendRecv,
                ptime: Some(30),
            }
        );
        let video = a.video.unwrap();
        assert_eq!((video.index, video.pt, video.remote_port), (1, 96, 6002));
        assert_eq!(
            video.fmtp.as_deref(),
            Some("profile-level-id=42e01e;packetization-mode=1")
        );
        assert_eq!(video.direction, Direction::SendOnly, "peer is recvonly");
        assert!(!video.rtcp_mux, "rtcp-mux only when we offered it");

        // An answer that leaves out the rtpmap of a dynamic type uses our offer's; the
        // telephone-event at Opus's rate goes with Opus.
        let theirs = Sdp::parse(
            b"v=0\r\nc=IN IP4 203.0.113.9\r\nm=audio 6000 RTP/AVP 111 102\r\nm=video 0 RTP/AVP 96\r\n",
        )
        .unwrap();
        let a = process_answer(&ours, &theirs, &l).unwrap();
        let audio = a.audio.unwrap();
        assert_eq!((audio.codec, audio.pt), (Codec::Opus, 111));
        assert_eq!(audio.telephone_event_pt, Some(102));
        assert!(a.video.is_none(), "port 0: video refused");
    }

    #[test]
    fn our_offer_through_our_own_answer_agrees_on_both_sides() {
        let ours = offer(&local());
        let mut peer = local();
        peer.address = "198.51.100.5".parse().unwrap();
        peer.codecs = vec![
            Codec::Pcma,
            Codec::H264 {
                packetization_mode: 1,
                max_level_idc: 0x1e,
            },
        ];
        let theirs = answer(&ours, &peer).unwrap();
        let a = process_answer(&ours, &theirs.sdp, &local()).unwrap();
        let (pa, ta) = (theirs.audio.unwrap(), a.audio.unwrap());
        assert_eq!((ta.codec, ta.pt), (pa.codec, pa.pt));
        assert_eq!(ta.telephone_event_pt, pa.telephone_event_pt);
        assert_eq!(ta.remote_addr, Some(peer.address));
        let (pv, tv) = (theirs.video.unwrap(), a.video.unwrap());
        // Each side's Codec carries its own decoding level; what goes on the wire agrees.
        assert_eq!((tv.pt, &tv.fmtp), (pv.pt, &pv.fmtp));
        assert!(matches!(
            tv.codec,
            Codec::H264 {
                packetization_mode: 1,
                ..
            }
        ));
    }

    #[test]
    fn answer_with_no_offered_codec_is_refused() {
        let mut l = local();
        l.codecs = vec![Codec::Pcmu];
        l.video_port = None;
        let ours = offer(&l);
        // PCMA is a codec we know but did not offer; G.729 we do not know at all.
        for body in [
            &b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 8\r\n"[..],
            b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 18\r\n",
            b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n",
            b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/SAVP 0\r\n",
            b"v=0\r\nc=IN IP4 1.2.3.4\r\n",
        ] {
            let theirs = Sdp::parse(body).unwrap();
            assert_eq!(
                process_answer(&ours, &theirs, &l).unwrap_err(),
                NegotiationError::NoCommonCodec,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let ok = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 0\r\n").unwrap();
        assert_eq!(process_answer(&ours, &ok, &l).unwrap().audio.unwrap().pt, 0);
    }

    #[test]
    fn opus_keeps_fmtp() {
        let offer = Sdp::parse(
            b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n",
        )
        .unwrap();
        let a = answer(&offer, &local()).unwrap();
        let audio = a.audio.unwrap();
        assert_eq!((audio.codec, audio.pt), (Codec::Opus, 111));
        assert!(
            a.sdp
                .to_string()
                .contains("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n")
        );
    }
}
