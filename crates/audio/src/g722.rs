//! G.722 at 64 kbit/s (ITU-T G.722 §3–§4: QMF into two sub-bands, 6-bit ADPCM in the lower band,
//! 2-bit ADPCM in the upper band), written after the block diagrams of the recommendation and
//! its reference C code (the structure of spandsp's `g722.c`, which follows it block by block).
//!
//! 16 kHz, 16-bit linear in and out; one byte per pair of input samples, so a 20 ms frame is
//! 320 samples ↔ 160 bytes.

/// Saturates to the 16-bit range, as the reference's `saturate`.
#[inline]
fn sat(v: i32) -> i32 {
    v.clamp(i16::MIN as i32, i16::MAX as i32)
}

/// QMF coefficients (G.722 table 11), used mirrored for the even and odd phases.
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
/// Lower band: quantiser decision levels (table 6, scaled).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Lower band codes for a negative / positive difference, by decision interval.
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// Lower band log-scale factor adaptation (table 14) and the 4-bit code map.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log-base-2 table for the scale factor (table 15).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// Inverse quantiser outputs: 4-bit (for prediction) and 6-bit (for the decoder's output).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Upper band (tables 9, 10, 16).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [i32; 4] = [2, 1, 2, 1];

/// The adaptive predictor and scale factor of one sub-band (blocks 3 and 4).
#[derive(Debug, Clone, Copy, Default)]
struct Band {
    s: i32,
    sp: i32,
    sz: i32,
    r: [i32; 3],
    a: [i32; 3],
    ap: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    b: [i32; 7],
    bp: [i32; 7],
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Self {
            det,
            ..Self::default()
        }
    }

    /// Block 3L/3H: log-scale factor adaptation (LOGSCL/LOGSCH) and scaling (SCALEL/SCALEH).
    #[inline]
    fn scale(&mut self, w: i32, nb_max: i32, shift_base: i32) {
        let nb = ((self.nb * 127) >> 7) + w;
        self.nb = nb.clamp(0, nb_max);
        let wd1 = ((self.nb >> 6) & 31) as usize;
        let wd2 = shift_base - (self.nb >> 11);
        let wd3 = if wd2 < 0 {
            ILB[wd1] << -wd2
        } else {
            ILB[wd1] >> wd2
        };
        self.det = wd3 << 2;
    }

    /// Block 4: reconstruction, pole and zero predictor adaptation, prediction.
    #[inline]
    fn block4(&mut self, d: i32) {
        // RECONS, PARREC
        self.d[0] = d;
        self.r[0] = sat(self.s + d);
        self.p[0] = sat(self.sz + d);
        let p0 = self.p[0];

        // UPPOL2
        let sg0 = p0 >> 15;
        let sg1 = self.p[1] >> 15;
        let sg2 = self.p[2] >> 15;
        let wd1 = sat(self.a[1] << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 }.min(32767);
        let mut wd3 = (wd2 >> 7) + if sg0 == sg2 { 128 } else { -128 };
        wd3 += (self.a[2] * 32512) >> 15;
        self.ap[2] = wd3.clamp(-12288, 12288);

        // UPPOL1
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let lim = sat(15360 - self.ap[2]);
        self.ap[1] = sat(wd1 + wd2).clamp(-lim, lim);

        // UPZERO
        let wd1 = if d == 0 { 0 } else { 128 };
        let sgd = d >> 15;
        for i in 1..7 {
            let sgi = self.d[i] >> 15;
            let wd2 = if sgi == sgd { wd1 } else { -wd1 };
            let wd3 = (self.b[i] * 32640) >> 15;
            self.bp[i] = sat(wd2 + wd3);
        }

        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = self.bp[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
            self.a[i] = self.ap[i];
        }

        // FILTEP
        let wd1 = (self.a[1] * sat(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat(self.r[2] + self.r[2])) >> 15;
        self.sp = sat(wd1 + wd2);

        // FILTEZ
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat(sz);

        // PREDIC
        self.s = sat(self.sp + self.sz);
    }
}

/// A G.722 64 kbit/s encoder. `Clone` copies the whole ADPCM state, which lets a mixer hand a
/// leg a private encoder that continues exactly where the shared one was.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    x: [i32; 24],
    band: [Band; 2],
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    pub fn new() -> Self {
        Self {
            x: [0; 24],
            band: [Band::new(32), Band::new(8)],
        }
    }

    /// Encodes pairs of 16 kHz samples, appending one byte per pair to `out` (an odd trailing
    /// sample is ignored).
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len() / 2);
        for pair in pcm.chunks_exact(2) {
            out.push(self.encode_pair(pair[0], pair[1]));
        }
    }

    #[inline]
    fn encode_pair(&mut self, s0: i16, s1: i16) -> u8 {
        // Transmit QMF: shift in two samples, keep one output per band.
        self.x.copy_within(2.., 0);
        self.x[22] = s0 as i32;
        self.x[23] = s1 as i32;
        let (mut sumodd, mut sumeven) = (0i32, 0i32);
        for i in 0..12 {
            sumodd += self.x[2 * i] * QMF[i];
            sumeven += self.x[2 * i + 1] * QMF[11 - i];
        }
        let xlow = (sumeven + sumodd) >> 14;
        let xhigh = (sumeven - sumodd) >> 14;

        // Lower band: SUBTRA, QUANTL
        let lo = &mut self.band[0];
        let el = sat(xlow - lo.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 {
            if wd < (Q6[i] * lo.det) >> 12 {
                break;
            }
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // INVQAL, LOGSCL, SCALEL, block 4
        let ril = (ilow >> 2) as usize;
        let dlow = (lo.det * QM4[ril]) >> 15;
        lo.scale(WL[RL42[ril] as usize], 18432, 8);
        lo.block4(dlow);

        // Upper band: SUBTRA, QUANTH
        let hi = &mut self.band[1];
        let eh = sat(xhigh - hi.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (564 * hi.det) >> 12 { 2 } else { 1 };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        // INVQAH, LOGSCH, SCALEH, block 4
        let dhigh = (hi.det * QM2[ihigh as usize]) >> 15;
        hi.scale(WH[RH2[ihigh as usize] as usize], 22528, 10);
        hi.block4(dhigh);

        ((ihigh << 6) | ilow) as u8
    }
}

/// A G.722 64 kbit/s decoder.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    x: [i32; 24],
    band: [Band; 2],
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    pub fn new() -> Self {
        Self {
            x: [0; 24],
            band: [Band::new(32), Band::new(8)],
        }
    }

    /// Decodes bytes, two 16 kHz samples per byte, into `out` (which must hold
    /// `2 * code.len()` samples; extra room is left untouched).
    pub fn decode(&mut self, code: &[u8], out: &mut [i16]) {
        for (&c, o) in code.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_byte(c);
            o[0] = a;
            o[1] = b;
        }
    }

    #[inline]
    fn decode_byte(&mut self, code: u8) -> (i16, i16) {
        let ilow = (code & 0x3F) as usize;
        let ihigh = ((code >> 6) & 0x03) as usize;

        // Lower band: INVQBL, RECONS, LIMIT
        let lo = &mut self.band[0];
        let wd2 = (lo.det * QM6[ilow]) >> 15;
        let rlow = (lo.s + wd2).clamp(-16384, 16383);
        // INVQAL, LOGSCL, SCALEL, block 4
        let dlow = (lo.det * QM4[ilow >> 2]) >> 15;
        lo.scale(WL[RL42[ilow >> 2] as usize], 18432, 8);
        lo.block4(dlow);

        // Upper band: INVQAH, RECONS, LIMIT
        let hi = &mut self.band[1];
        let dhigh = (hi.det * QM2[ihigh]) >> 15;
        let rhigh = (dhigh + hi.s).clamp(-16384, 16383);
        hi.scale(WH[RH2[ihigh] as usize], 22528, 10);
        hi.block4(dhigh);

        // Receive QMF
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let (mut xout1, mut xout2) = (0i32, 0i32);
        for i in 0..12 {
            xout2 += self.x[2 * i] * QMF[i];
            xout1 += self.x[2 * i + 1] * QMF[11 - i];
        }
        (sat(xout1 >> 11) as i16, sat(xout2 >> 11) as i16)
    }
}
