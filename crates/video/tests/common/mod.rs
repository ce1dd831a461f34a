//! Synthetic publishers and a viewer for the composer tests: solid-colour I420 pictures encoded
//! with openh264, packetized with our packetizer; the composed stream depacketized and decoded
//! back to pictures.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{Encoder, EncoderConfig};
use openh264::formats::{YUVBuffer, YUVSource};
use pont_types::{ParticipantId, Timestamp};
use pont_video::h264::{NAL_IDR, annexb_nal_units, nal_type};
use pont_video::{
    Composer, ComposerOutput, Depacketizer, DepacketizerOutput, I420Frame, Packetizer, Rect, RtpIn,
    RtpPayload, Yuv,
};

pub const RED: Yuv = Yuv::new(82, 90, 240);
pub const GREEN: Yuv = Yuv::new(145, 54, 34);
pub const BLUE: Yuv = Yuv::new(41, 240, 110);

/// A camera showing one colour, sending H.264 over RTP.
pub struct Publisher {
    pub id: ParticipantId,
    pub colour: Yuv,
    pub width: usize,
    pub height: usize,
    encoder: Encoder,
    packetizer: Packetizer,
    frames: u32,
}

impl Publisher {
    pub fn new(id: u64, colour: Yuv, width: usize, height: usize) -> Self {
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), EncoderConfig::new()).unwrap();
        Self {
            id: ParticipantId(id),
            colour,
            width,
            height,
            encoder,
            packetizer: Packetizer::new(1200, (id as u16).wrapping_mul(1000)),
            frames: 0,
        }
    }

    /// The next frame as NAL units (no start codes).
    pub fn encode_nals(&mut self, force_idr: bool) -> Vec<Vec<u8>> {
        let (w, h) = (self.width, self.height);
        let mut yuv = vec![self.colour.y; w * h];
        yuv.extend(std::iter::repeat_n(self.colour.u, w * h / 4));
        yuv.extend(std::iter::repeat_n(self.colour.v, w * h / 4));
        let buf = YUVBuffer::from_vec(yuv, w, h);
        assert_eq!(buf.dimensions(), (w, h));
        if force_idr {
            self.encoder.force_intra_frame();
        }
        let annexb = self.encoder.encode(&buf).unwrap().to_vec();
        annexb_nal_units(&annexb).map(<[u8]>::to_vec).collect()
    }

    /// RTP timestamp of the next frame (15 fps at 90 kHz).
    pub fn next_timestamp(&self) -> u32 {
        self.frames * 6000
    }

    /// The next frame as RTP payloads.
    pub fn frame(&mut self, force_idr: bool) -> Vec<RtpPayload> {
        let nals = self.encode_nals(force_idr);
        self.packetize(&nals)
    }

    pub fn packetize(&mut self, nals: &[Vec<u8>]) -> Vec<RtpPayload> {
        let ts = self.next_timestamp();
        self.frames += 1;
        let mut out = Vec::new();
        self.packetizer
            .packetize(ts, nals.iter().map(Vec::as_slice), &mut out);
        out
    }

    /// Changes the camera's resolution (the encoder re-initialises and sends an IDR).
    pub fn set_size(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
    }
}

pub fn is_idr(nals: &[Vec<u8>]) -> bool {
    nals.iter().any(|n| nal_type(n[0]) == NAL_IDR)
}

pub fn feed(composer: &mut Composer, now: Timestamp, id: ParticipantId, packets: &[RtpPayload]) {
    for p in packets {
        composer
            .handle_rtp(
                now,
                id,
                RtpIn {
                    seq: p.seq,
                    timestamp: p.timestamp,
                    marker: p.marker,
                    payload: &p.payload,
                },
            )
            .unwrap();
    }
}

/// Outputs of one drain, sorted by kind.
#[derive(Default, Debug)]
pub struct Drained {
    pub packets: Vec<RtpPayload>,
    pub keyframe_requests: Vec<ParticipantId>,
    pub frames: usize,
}

pub fn drain(composer: &mut Composer) -> Drained {
    let mut d = Drained::default();
    while let Some(o) = composer.poll_output() {
        match o {
            ComposerOutput::Packet(p) => d.packets.push(p),
            ComposerOutput::RequestKeyframe(id) => d.keyframe_requests.push(id),
            ComposerOutput::Frame { .. } => d.frames += 1,
            ComposerOutput::AccessUnit(_) => {}
        }
    }
    d
}

/// A room system: depacketizes and decodes the composed stream.
pub struct Viewer {
    depacketizer: Depacketizer,
    decoder: Decoder,
    pub last: Option<I420Frame>,
    pub decoded: usize,
    pub annexb: Vec<u8>,
}

impl Viewer {
    pub fn new() -> Self {
        Self {
            depacketizer: Depacketizer::new(),
            decoder: Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
                .unwrap(),
            last: None,
            decoded: 0,
            annexb: Vec::new(),
        }
    }

    pub fn receive(&mut self, packets: &[RtpPayload]) {
        for p in packets {
            self.depacketizer
                .push(p.seq, p.timestamp, p.marker, &p.payload);
            while let Some(o) = self.depacketizer.poll_output() {
                let DepacketizerOutput::Frame(au) = o else {
                    panic!("the composed stream lost a frame: {o:?}");
                };
                self.annexb.extend_from_slice(&au.data);
                let yuv = self
                    .decoder
                    .decode(&au.data)
                    .expect("composed stream decodes")
                    .expect("a picture per frame");
                let (w, h) = yuv.dimensions();
                let (ys, us, _) = yuv.strides();
                self.last = Some(I420Frame::from_planes(
                    (w as u32, h as u32),
                    (yuv.y(), yuv.u(), yuv.v()),
                    (ys, us),
                ));
                self.decoded += 1;
            }
        }
    }

    pub fn picture(&self) -> &I420Frame {
        self.last.as_ref().expect("a decoded picture")
    }
}

/// The middle half of the 4:3 picture fitted into a slot (the test cameras are 4:3).
pub fn centre(slot: Rect) -> Rect {
    let (w, h) = if slot.width * 3 <= slot.height * 4 {
        (slot.width, slot.width * 3 / 4)
    } else {
        (slot.height * 4 / 3, slot.height)
    };
    let r = Rect::new(
        slot.x + (slot.width - w) / 2,
        slot.y + (slot.height - h) / 2,
        w,
        h,
    );
    Rect::new(
        r.x + r.width / 4,
        r.y + r.height / 4,
        r.width / 2,
        r.height / 2,
    )
}

/// Asserts the mean colour of a region is within `tol` of `want` on each plane.
#[track_caller]
pub fn assert_colour(picture: &I420Frame, region: Rect, want: Yuv, tol: f64, what: &str) {
    let (y, u, v) = picture.mean(region);
    let ok = (y - f64::from(want.y)).abs() <= tol
        && (u - f64::from(want.u)).abs() <= tol
        && (v - f64::from(want.v)).abs() <= tol;
    assert!(
        ok,
        "{what}: mean YUV ({y:.1}, {u:.1}, {v:.1}) in {region:?}, want ({}, {}, {}) ± {tol}",
        want.y, want.u, want.v
    );
}

pub const FRAME: Duration = Duration::from_micros(66_667);

pub fn ms(v: u64) -> Timestamp {
    Timestamp::from_millis(v)
}
