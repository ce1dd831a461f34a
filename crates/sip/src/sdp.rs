//! SDP (RFC 4566) parsing and serialisation, and the RFC 3264 answer the bridge gives as
//! answerer: one audio and one video stream, one codec each (plus telephone-event), every
//! other offered stream rejected with port 0 in its place (RFC 3264 §6).

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
    /// The payload type of `codec`, the offerer's number.
    pub pt: u8,
    /// The fmtp we answered for `codec` (H.264 profile-level-id etc.).
    pub fmtp: Option<String>,
    pub telephone_event_pt: Option<u8>,
    /// Where the peer receives RTP; `None` when on hold with `c=0.0.0.0` or unparseable.
    pub remote_addr: Option<IpAddr>,
    pub remote_port: u16,
    /// Peer's `a=rtcp:` port when given (RFC 3605).
    pub remote_rtcp_port: Option<u16>,
    pub rtcp_mux: bool,
    /// Our direction in the answer.
    pub direction: Direction,
    pub ptime: Option<u32>,
}

/// An answer and what it agreed.
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
        let is_rtp = m.proto.starts_with("RTP/AVP") && !m.proto.contains("SAVP");
        let kind_audio = m.media == "audio";
        let port = match (m.media.as_str(), local.video_port) {
            ("audio", _) if audio.is_none() => Some(local.audio_port),
            ("video", Some(p)) if video.is_none() => Some(p),
            _ => None,
        };
        let chosen = match port {
            Some(port) if is_rtp && m.port != 0 => {
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
            telephone_event_pt = m.formats.iter().find_map(|f| {
                let mm = m.rtpmap(f)?;
                (mm.encoding.eq_ignore_ascii_case("telephone-event") && mm.clock_rate == rate)
                    .then(|| f.parse::<u8>().ok())
                    .flatten()
            });
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
        let offered_dir = m
            .direction()
            .or_else(|| session_direction(&offer.attributes))
            .unwrap_or(Direction::SendRecv);
        let direction = offered_dir.reversed();
        attributes.push(attr(direction.as_str(), None));
        let rtcp_mux = m.has_attribute("rtcp-mux");
        if rtcp_mux {
            attributes.push(attr("rtcp-mux", None));
        }
        let remote_rtcp_port = m
            .attribute("rtcp")
            .and_then(|a| a.value.as_deref())
            .and_then(|v| v.split_whitespace().next()?.parse().ok());
        let remote_addr = offer
            .connection_for(m)
            .and_then(Connection::ip)
            .filter(|ip| !ip.is_unspecified());
        let stream = NegotiatedStream {
            index,
            codec,
            pt,
            fmtp,
            telephone_event_pt,
            remote_addr,
            remote_port: m.port,
            remote_rtcp_port,
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
    let c = Connection::from_ip(local.address);
    let sdp = Sdp {
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
    };
    Ok(Answer { sdp, audio, video })
}

fn attr(name: &str, value: Option<String>) -> Attribute {
    Attribute {
        name: name.to_owned(),
        value,
    }
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
            if !codec.matches(&map) {
                continue;
            }
            match codec {
                Codec::H264 {
                    packetization_mode,
                    max_level_idc,
                } => {
                    if let Some(fmtp) = negotiate_h264(m.fmtp(f), packetization_mode, max_level_idc)
                    {
                        return Some((codec, pt, Some(fmtp)));
                    }
                }
                Codec::Opus => {
                    return Some((codec, pt, m.fmtp(f).map(str::to_owned)));
                }
                _ => return Some((codec, pt, None)),
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
