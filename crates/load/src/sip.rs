//! A phone caller through the dial-in IVR: INVITE `sip:<user>@<bridge>` offering PCMU with
//! telephone-event, ACK, G.711 RTP every 20 ms, the room number and `#` keyed as RFC 4733
//! events, then audio until the run ends and a BYE. SIP is written by hand (UDP, one
//! transaction at a time): the tool must not share the bridge's own SIP stack.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::metrics::{Live, PartStats, stopped};
use crate::payload;
use crate::web::Shared;

/// RFC 3261 §17.1.1.2: T1.
const T1: Duration = Duration::from_millis(500);
/// Longest wait for a final answer to the INVITE.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(16);
/// Longest wait, after `#`, to appear in the room (the IVR plays ~1.5 s "joining").
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
const PT_PCMU: u8 = 0;
const PT_EVENT: u8 = 101;

/// Display names seen in rooms (kind `pstn`) and when, filled by the roster watcher.
pub(crate) type Roster = Arc<Mutex<HashMap<String, Instant>>>;

#[derive(Debug, Clone)]
pub(crate) struct SipPlan {
    pub(crate) name: String,
    pub(crate) sip: SocketAddr,
    pub(crate) user: String,
    pub(crate) room: u64,
    /// Tone amplitude of the caller's voice, 0–1.
    pub(crate) amplitude: f32,
}

pub(crate) async fn run(
    plan: SipPlan,
    shared: Arc<Shared>,
    roster: Option<Roster>,
    mut stop: watch::Receiver<bool>,
) -> PartStats {
    let mut stats = PartStats {
        kind: "sip",
        ..Default::default()
    };
    let mut call = None;
    let result = tokio::select! {
        r = session(&plan, &shared, roster.as_ref(), &mut stats, &mut call, stop.clone()) => r,
        _ = stopped(&mut stop) => Ok(()),
    };
    if let Err(e) = &result {
        stats.failed = Some(format!("{}: {e:#}", plan.name));
    } else if stats.join_ms.is_none() {
        stats.failed = Some(format!("{}: not in the room when the run ended", plan.name));
    }
    if stats.failed.is_some() && stats.join_ms.is_none() {
        Live::add(&shared.live.failed, 1);
    }
    if let Some(c) = call {
        let _ = tokio::time::timeout(Duration::from_secs(3), hang_up(&c, &plan)).await;
    }
    stats
}

/// An established dialog.
struct Call {
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    call_id: String,
    from_tag: String,
    user: String,
    /// The To header of the 200 (with the bridge's tag).
    to: String,
    target: String,
}

fn branch() -> String {
    format!("z9hG4bK{:016x}", rand::random::<u64>())
}

async fn session(
    plan: &SipPlan,
    shared: &Shared,
    roster: Option<&Roster>,
    stats: &mut PartStats,
    call_out: &mut Option<Call>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let local = sock.local_addr()?;
    let rtp = UdpSocket::bind("127.0.0.1:0").await?;
    let rtp_port = rtp.local_addr()?.port();
    let call_id = format!("{:016x}@pont-load", rand::random::<u64>());
    let from_tag = format!("{:08x}", rand::random::<u32>());
    let user = format!("load{}", plan.name.trim_start_matches("sip-"));
    let uri = format!("sip:{}@{}", plan.user, plan.sip);
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=pont-load\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP {PT_PCMU} {PT_EVENT}\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:{PT_EVENT} telephone-event/8000\r\na=fmtp:{PT_EVENT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let invite = format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={};rport\r\nMax-Forwards: 70\r\n\
         From: \"{name}\" <sip:{user}@{local}>;tag={from_tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:{user}@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        branch(),
        sdp.len(),
        name = plan.name,
    );
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    // INVITE client transaction (RFC 3261 §17.1.1): retransmit at T1, 2T1, … until a response.
    let mut wait = T1;
    let mut provisional = false;
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    let answer = loop {
        if !provisional {
            sock.send_to(invite.as_bytes(), plan.sip).await?;
        }
        let until = (tokio::time::Instant::now() + wait).min(deadline);
        match tokio::time::timeout_at(until, sock.recv_from(&mut buf)).await {
            Ok(r) => {
                let (n, _) = r?;
                let msg = Message::parse(&buf[..n]);
                match msg.status {
                    Some(s) if s < 200 => provisional = true,
                    Some(s) if s < 300 => break msg,
                    Some(s) => {
                        // ACK a failure in the same transaction (§17.1.1.3), then give up.
                        let ack = format!(
                            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfail\r\nMax-Forwards: 70\r\n\
                             From: \"{}\" <sip:{user}@{local}>;tag={from_tag}\r\nTo: {}\r\nCall-ID: {call_id}\r\n\
                             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                            plan.name,
                            msg.header("to").unwrap_or_default()
                        );
                        let _ = sock.send_to(ack.as_bytes(), plan.sip).await;
                        anyhow::bail!("the bridge answered the INVITE with {s} {}", msg.reason);
                    }
                    None => {}
                }
            }
            Err(_) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!(
                    "no answer to the INVITE within {ANSWER_TIMEOUT:?} (is SIP on {}?)",
                    plan.sip
                )
            }
            Err(_) => wait = (wait * 2).min(Duration::from_secs(4)),
        }
    };
    let to = answer.header("to").unwrap_or_default().to_owned();
    let target = answer
        .header("contact")
        .and_then(|c| Some(c.split('<').nth(1)?.split('>').next()?.to_owned()))
        .unwrap_or_else(|| uri.clone());
    let media = answer
        .sdp_media()
        .ok_or_else(|| anyhow::anyhow!("the 200 has no usable SDP (c= and m=audio)"))?;
    let call = Call {
        sock: Arc::clone(&sock),
        local,
        call_id,
        from_tag,
        user,
        to,
        target,
    };
    send_ack(&call, plan).await?;
    *call_out = Some(Call {
        sock: Arc::clone(&call.sock),
        local,
        call_id: call.call_id.clone(),
        from_tag: call.from_tag.clone(),
        user: call.user.clone(),
        to: call.to.clone(),
        target: call.target.clone(),
    });

    // Media: 20 ms G.711 frames; after 300 ms the room number and `#` as RFC 4733 events.
    let ssrc: u32 = rand::random();
    let mut seq: u16 = rand::random();
    let mut ts: u32 = rand::random();
    let mut frame = 0u64;
    let digits: Vec<u8> = format!("{}#", plan.room)
        .chars()
        .filter_map(payload::dtmf_event)
        .collect();
    // Per 20 ms tick: None = voice, Some((event, end, duration, first)) = a DTMF packet.
    let mut keying = dtmf_schedule(&digits);
    let mut keying_start: u32 = 15; // 300 ms of voice first
    let mut event_ts = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rbuf = vec![0u8; 2048];
    let mut hash_sent: Option<Instant> = None;
    let mut check_roster = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mut pkt = Vec::with_capacity(172);
                let mut pt = PT_PCMU;
                let mut marker = false;
                let body = if keying_start > 0 || keying.is_empty() {
                    keying_start = keying_start.saturating_sub(1);
                    payload::pcmu_tone(plan.amplitude, frame)
                } else {
                    let (event, end, duration, first) = keying.remove(0);
                    if first { event_ts = ts; marker = true; }
                    if keying.is_empty() { hash_sent = Some(Instant::now()); }
                    pt = PT_EVENT;
                    match event {
                        Some(e) => payload::telephone_event(e, end, duration).to_vec(),
                        // A pause between keys: voice.
                        None => { pt = PT_PCMU; payload::pcmu_tone(plan.amplitude, frame) }
                    }
                };
                let stamp_ts = if pt == PT_EVENT { event_ts } else { ts };
                pkt.extend_from_slice(&[0x80, (u8::from(marker) << 7) | pt]);
                pkt.extend_from_slice(&seq.to_be_bytes());
                pkt.extend_from_slice(&stamp_ts.to_be_bytes());
                pkt.extend_from_slice(&ssrc.to_be_bytes());
                pkt.extend_from_slice(&body);
                rtp.send_to(&pkt, media).await?;
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                frame += 1;
                stats.sent += 1;
                Live::add(&shared.live.sent, 1);
            }
            r = rtp.recv_from(&mut rbuf) => {
                let (n, _) = r?;
                let p = &rbuf[..n];
                if n >= 12 && p[0] >> 6 == 2 {
                    let arrival = payload::now_us();
                    let seq = u16::from_be_bytes([p[2], p[3]]);
                    let rts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                    let remote_ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
                    stats.streams.entry(remote_ssrc).or_default().packet(8000, seq, rts, arrival);
                    stats.received += 1;
                    Live::add(&shared.live.received, 1);
                }
            }
            r = sock.recv_from(&mut buf) => {
                let (n, from) = r?;
                let msg = Message::parse(&buf[..n]);
                if msg.status == Some(200) && msg.header("cseq").is_some_and(|c| c.contains("INVITE")) {
                    // A retransmitted 200: our ACK was lost.
                    send_ack(&call, plan).await?;
                } else if let Some(method) = &msg.method {
                    let reply = msg.reply(200, "OK");
                    sock.send_to(reply.as_bytes(), from).await?;
                    if method == "BYE" {
                        *call_out = None;
                        anyhow::bail!("the bridge hung up (BYE) {:.1} s into the call", started.elapsed().as_secs_f64());
                    }
                }
            }
            _ = check_roster.tick(), if stats.join_ms.is_none() && hash_sent.is_some() => {
                let seen = match roster {
                    Some(r) => r.lock().unwrap_or_else(|e| e.into_inner()).get(&plan.name).copied(),
                    // No token to read the room: count the join at `#` sent.
                    None => hash_sent,
                };
                if let Some(at) = seen {
                    stats.join_ms = Some(at.saturating_duration_since(started).as_millis() as u64);
                    Live::add(&shared.live.joined, 1);
                } else if hash_sent.is_some_and(|h| h.elapsed() > JOIN_TIMEOUT) {
                    anyhow::bail!("keyed {}# but never appeared in the room", plan.room);
                }
            }
            _ = stopped(&mut stop) => return Ok(()),
        }
    }
}

/// The RFC 4733 packets of keying `digits`: per key 4 updates (duration 160…640), 3 end
/// packets (§2.5.1.4), then 5 frames (100 ms) of voice before the next key.
fn dtmf_schedule(digits: &[u8]) -> Vec<(Option<u8>, bool, u16, bool)> {
    let mut out = Vec::new();
    for &d in digits {
        for i in 1..=4u16 {
            out.push((Some(d), false, i * 160, i == 1));
        }
        for _ in 0..3 {
            out.push((Some(d), true, 5 * 160, false));
        }
        for _ in 0..5 {
            out.push((None, false, 0, false));
        }
    }
    out
}

async fn send_ack(call: &Call, plan: &SipPlan) -> anyhow::Result<()> {
    let ack = format!(
        "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\n\
         From: \"{}\" <sip:{}@{}>;tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        call.target,
        call.local,
        branch(),
        plan.name,
        call.user,
        call.local,
        call.from_tag,
        call.to,
        call.call_id
    );
    call.sock.send_to(ack.as_bytes(), plan.sip).await?;
    Ok(())
}

async fn hang_up(call: &Call, plan: &SipPlan) {
    let bye = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\n\
         From: \"{}\" <sip:{}@{}>;tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        call.target,
        call.local,
        branch(),
        plan.name,
        call.user,
        call.local,
        call.from_tag,
        call.to,
        call.call_id
    );
    let mut buf = vec![0u8; 4096];
    for _ in 0..4 {
        let _ = call.sock.send_to(bye.as_bytes(), plan.sip).await;
        if let Ok(Ok((n, _))) = tokio::time::timeout(T1, call.sock.recv_from(&mut buf)).await {
            let msg = Message::parse(&buf[..n]);
            if msg.status.is_some() && msg.header("cseq").is_some_and(|c| c.contains("BYE")) {
                return;
            }
        }
    }
}

/// Just enough of a SIP message: start line, headers (first of each, lower-case names,
/// compact forms expanded), body.
#[derive(Debug, Default)]
struct Message {
    status: Option<u16>,
    reason: String,
    method: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Message {
    fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("");
        let mut m = Self {
            body: body.to_owned(),
            ..Default::default()
        };
        if let Some(rest) = start.strip_prefix("SIP/2.0 ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            m.status = code.parse().ok();
            m.reason = reason.to_owned();
        } else {
            m.method = start.split_whitespace().next().map(str::to_owned);
        }
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                let k = match k.trim().to_ascii_lowercase().as_str() {
                    "v" => "via".to_owned(),
                    "f" => "from".to_owned(),
                    "t" => "to".to_owned(),
                    "i" => "call-id".to_owned(),
                    "m" => "contact".to_owned(),
                    "l" => "content-length".to_owned(),
                    other => other.to_owned(),
                };
                m.headers.push((k, v.trim().to_owned()));
            }
        }
        m
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A response to this request copying Via, From, To, Call-ID and CSeq (§8.2.6.2).
    fn reply(&self, code: u16, reason: &str) -> String {
        let mut r = format!("SIP/2.0 {code} {reason}\r\n");
        for (k, v) in &self.headers {
            if matches!(k.as_str(), "via" | "from" | "to" | "call-id" | "cseq") {
                r.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        r.push_str("Content-Length: 0\r\n\r\n");
        r
    }

    /// The audio address of the SDP body: `c=` address and `m=audio` port.
    fn sdp_media(&self) -> Option<SocketAddr> {
        let mut ip = None;
        let mut port = None;
        for line in self.body.lines() {
            if let Some(c) = line.strip_prefix("c=IN IP4 ") {
                ip = c.trim().parse::<std::net::IpAddr>().ok();
            } else if let Some(m) = line.strip_prefix("m=audio ") {
                port = m.split_whitespace().next()?.parse::<u16>().ok();
            }
        }
        Some(SocketAddr::new(ip?, port?))
    }
}

/// An OPTIONS to the bridge's SIP address must be answered within 3 s: a clear error when SIP
/// is down (a connected UDP socket also hears the ICMP "port unreachable").
pub(crate) async fn check(sip: SocketAddr) -> anyhow::Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    sock.connect(sip).await?;
    let local = sock.local_addr()?;
    let options = format!(
        "OPTIONS sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={}\r\nMax-Forwards: 70\r\n\
         From: <sip:pont-load@{local}>;tag=1\r\nTo: <sip:{sip}>\r\nCall-ID: {:x}@pont-load\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        branch(),
        rand::random::<u64>()
    );
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        sock.send(options.as_bytes())
            .await
            .map_err(|e| anyhow::anyhow!("SIP at {sip}: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
            Ok(Ok(n)) if Message::parse(&buf[..n]).status.is_some() => return Ok(()),
            Ok(Err(e)) => anyhow::bail!(
                "the bridge's SIP at {sip} refuses: {e} (is `pont serve --sip {sip}` running?)"
            ),
            _ => {}
        }
    }
    anyhow::bail!(
        "the bridge's SIP at {sip} does not answer OPTIONS (is `pont serve --sip {sip}` running?)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_200_with_sdp() {
        let m = Message::parse(
            b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK1\r\nTo: <sip:dialin@x>;tag=abc\r\n\
              CSeq: 1 INVITE\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 30000 RTP/AVP 0 101\r\n",
        );
        assert_eq!(m.status, Some(200));
        assert_eq!(m.header("to"), Some("<sip:dialin@x>;tag=abc"));
        assert_eq!(
            m.sdp_media(),
            Some("127.0.0.1:30000".parse().expect("addr"))
        );
        assert!(m.reply(200, "OK").contains("via: SIP/2.0/UDP"));
    }

    #[test]
    fn keying_ends_with_three_end_packets_per_key() {
        let s = dtmf_schedule(&[4, 11]);
        assert_eq!(s.len(), 2 * 12);
        assert!(s[0].3 && s[0].0 == Some(4));
        assert!(s[4].1 && s[5].1 && s[6].1);
        assert_eq!(s[12].0, Some(11));
    }
}
