//! Owned I420 (YUV 4:2:0, 8-bit, BT.601 limited range) pictures, and the drawing the composer
//! needs: fill, a fast fixed-point bilinear scale into a rectangle, and copying from a decoder.

/// A rectangle on a picture, in luma pixels. The composer keeps x, y, width and height even
/// so chroma lines up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }
}

/// A colour as Y, U (Cb), V (Cr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv {
    pub y: u8,
    pub u: u8,
    pub v: u8,
}

impl Yuv {
    pub const fn new(y: u8, u: u8, v: u8) -> Self {
        Self { y, u, v }
    }

    /// BT.601 limited-range conversion from 8-bit RGB.
    pub fn from_rgb(r: u8, g: u8, b: u8) -> Self {
        let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
        let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
        let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
        let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
        Self::new(clamp_u8(y), clamp_u8(u), clamp_u8(v))
    }
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// An I420 picture with tightly packed planes (stride = width, chroma stride = (width+1)/2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420Frame {
    /// A picture of one colour. Width and height are at least 1.
    pub fn new(width: u32, height: u32, fill: Yuv) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        let (cw, ch) = chroma_size(width, height);
        Self {
            width,
            height,
            y: vec![fill.y; (width * height) as usize],
            u: vec![fill.u; (cw * ch) as usize],
            v: vec![fill.v; (cw * ch) as usize],
        }
    }

    /// Copies planes with arbitrary strides (a decoder's buffers). Rows that the slices do not
    /// hold are left at black rather than read out of bounds.
    pub fn from_planes(
        (width, height): (u32, u32),
        (y, u, v): (&[u8], &[u8], &[u8]),
        (y_stride, uv_stride): (usize, usize),
    ) -> Self {
        let mut f = Self::new(width, height, Yuv::new(16, 128, 128));
        let (cw, ch) = chroma_size(f.width, f.height);
        copy_plane(&mut f.y, f.width as usize, f.height as usize, y, y_stride);
        copy_plane(&mut f.u, cw as usize, ch as usize, u, uv_stride);
        copy_plane(&mut f.v, cw as usize, ch as usize, v, uv_stride);
        f
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Luma plane, `width` bytes per row.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// Cb plane, `(width + 1) / 2` bytes per row.
    pub fn u(&self) -> &[u8] {
        &self.u
    }

    /// Cr plane, `(width + 1) / 2` bytes per row.
    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// Chroma plane size.
    pub fn chroma_size(&self) -> (u32, u32) {
        chroma_size(self.width, self.height)
    }

    /// Mean Y, U, V over a rectangle (clipped to the picture); for tests and diagnostics.
    pub fn mean(&self, r: Rect) -> (f64, f64, f64) {
        let r = self.clip(r);
        let (cw, _) = self.chroma_size();
        let y = mean_plane(&self.y, self.width as usize, r.x, r.y, r.width, r.height);
        let cr = Rect::new(r.x / 2, r.y / 2, r.width.div_ceil(2), r.height.div_ceil(2));
        let u = mean_plane(&self.u, cw as usize, cr.x, cr.y, cr.width, cr.height);
        let v = mean_plane(&self.v, cw as usize, cr.x, cr.y, cr.width, cr.height);
        (y, u, v)
    }

    /// Fills a rectangle (clipped to the picture) with one colour.
    pub fn fill(&mut self, r: Rect, c: Yuv) {
        let r = self.clip(r);
        let (cw, _) = self.chroma_size();
        fill_plane(&mut self.y, self.width as usize, r, c.y);
        let cr = Rect::new(r.x / 2, r.y / 2, r.width.div_ceil(2), r.height.div_ceil(2));
        fill_plane(&mut self.u, cw as usize, cr, c.u);
        fill_plane(&mut self.v, cw as usize, cr, c.v);
    }

    /// Sets one luma pixel (clipped); used for text.
    pub(crate) fn put_luma(&mut self, x: u32, y: u32, value: u8) {
        if x < self.width && y < self.height {
            self.y[(y * self.width + x) as usize] = value;
        }
    }

    /// Scales `src` into `dst` (clipped to this picture), bilinear, stretching to fill it.
    pub fn draw_scaled(&mut self, src: &Self, dst: Rect) {
        let dst = self.clip(dst);
        if dst.width == 0 || dst.height == 0 {
            return;
        }
        let (cw, _) = self.chroma_size();
        let (scw, sch) = src.chroma_size();
        scale_plane(
            (&src.y, src.width as usize, src.width, src.height),
            (&mut self.y, self.width as usize),
            dst,
        );
        let cdst = Rect::new(dst.x / 2, dst.y / 2, dst.width / 2, dst.height / 2);
        if cdst.width == 0 || cdst.height == 0 {
            return;
        }
        scale_plane(
            (&src.u, scw as usize, scw, sch),
            (&mut self.u, cw as usize),
            cdst,
        );
        scale_plane(
            (&src.v, scw as usize, scw, sch),
            (&mut self.v, cw as usize),
            cdst,
        );
    }

    fn clip(&self, r: Rect) -> Rect {
        let x = r.x.min(self.width);
        let y = r.y.min(self.height);
        Rect::new(
            x,
            y,
            r.width.min(self.width - x),
            r.height.min(self.height - y),
        )
    }
}

const fn chroma_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(2), height.div_ceil(2))
}

fn copy_plane(dst: &mut [u8], w: usize, h: usize, src: &[u8], stride: usize) {
    if stride < w {
        return;
    }
    for row in 0..h {
        let Some(line) = src.get(row * stride..row * stride + w) else {
            return;
        };
        dst[row * w..row * w + w].copy_from_slice(line);
    }
}

fn fill_plane(plane: &mut [u8], stride: usize, r: Rect, value: u8) {
    for row in r.y..r.y + r.height {
        let start = row as usize * stride + r.x as usize;
        if let Some(line) = plane.get_mut(start..start + r.width as usize) {
            line.fill(value);
        }
    }
}

fn mean_plane(plane: &[u8], stride: usize, x: u32, y: u32, w: u32, h: u32) -> f64 {
    let mut sum = 0u64;
    let mut n = 0u64;
    for row in y..y + h {
        let start = row as usize * stride + x as usize;
        if let Some(line) = plane.get(start..start + w as usize) {
            sum += line.iter().map(|&b| u64::from(b)).sum::<u64>();
            n += w as u64;
        }
    }
    if n == 0 { 0.0 } else { sum as f64 / n as f64 }
}

/// Fixed-point (8-bit fraction) bilinear scale of a whole source plane into `dst` of the
/// destination plane: a vertical blend of two source rows into a scratch row (contiguous, so
/// it vectorizes), then a horizontal pass with precomputed taps.
fn scale_plane(
    (src, src_stride, sw, sh): (&[u8], usize, u32, u32),
    (dst, dst_stride): (&mut [u8], usize),
    r: Rect,
) {
    let (sw, sh) = (sw as usize, sh as usize);
    if sw == 0 || sh == 0 || src.len() < src_stride * (sh - 1) + sw {
        return;
    }
    let (dw, dh) = (r.width as usize, r.height as usize);
    // Horizontal taps: source index and weight of the right neighbour, pixel centres aligned.
    let taps: Vec<(u32, u16)> = (0..dw)
        .map(|x| {
            let pos = ((2 * x + 1) * sw * 256 / (2 * dw)).saturating_sub(128);
            let i = (pos >> 8).min(sw - 1);
            let frac = if i + 1 < sw { (pos & 0xff) as u16 } else { 0 };
            (i as u32, frac)
        })
        .collect();
    let mut scratch = vec![0u16; sw + 1];
    for y in 0..dh {
        let pos = ((2 * y + 1) * sh * 256 / (2 * dh)).saturating_sub(128);
        let y0 = (pos >> 8).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let fy = (pos & 0xff) as u16;
        let row0 = &src[y0 * src_stride..y0 * src_stride + sw];
        let row1 = &src[y1 * src_stride..y1 * src_stride + sw];
        for ((s, &a), &b) in scratch.iter_mut().zip(row0).zip(row1) {
            *s = u16::from(a) * (256 - fy) + u16::from(b) * fy;
        }
        scratch[sw] = scratch[sw - 1];
        let start = (r.y as usize + y) * dst_stride + r.x as usize;
        let out = &mut dst[start..start + dw];
        for (o, &(i, fx)) in out.iter_mut().zip(&taps) {
            let a = u32::from(scratch[i as usize]);
            let b = u32::from(scratch[i as usize + 1]);
            *o = ((a * u32::from(256 - fx) + b * u32::from(fx) + (1 << 15)) >> 16) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_a_solid_picture_keeps_its_colour_and_stays_inside_the_rect() {
        let src = I420Frame::new(320, 240, Yuv::new(81, 90, 240));
        let mut canvas = I420Frame::new(1280, 720, Yuv::new(16, 128, 128));
        let r = Rect::new(100, 50, 500, 300);
        canvas.draw_scaled(&src, r);
        assert_eq!(canvas.mean(r), (81.0, 90.0, 240.0));
        // Outside the rect nothing changed.
        assert_eq!(canvas.mean(Rect::new(0, 0, 100, 720)), (16.0, 128.0, 128.0));
        assert_eq!(
            canvas.mean(Rect::new(600, 0, 680, 720)),
            (16.0, 128.0, 128.0)
        );
        assert_eq!(
            canvas.mean(Rect::new(100, 350, 500, 370)),
            (16.0, 128.0, 128.0)
        );
    }

    #[test]
    fn scaling_interpolates_a_gradient() {
        let mut src = I420Frame::new(2, 2, Yuv::new(0, 128, 128));
        src.y = vec![0, 200, 0, 200];
        let mut dst = I420Frame::new(8, 2, Yuv::new(0, 128, 128));
        dst.draw_scaled(&src, Rect::new(0, 0, 8, 2));
        let row = &dst.y()[..8];
        assert_eq!(row[0], 0);
        assert_eq!(row[7], 200);
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    }

    #[test]
    fn odd_sizes_and_clipping_do_not_panic() {
        let src = I420Frame::new(3, 5, Yuv::new(200, 100, 100));
        let mut dst = I420Frame::new(7, 9, Yuv::new(16, 128, 128));
        dst.draw_scaled(&src, Rect::new(5, 7, 100, 100));
        dst.fill(Rect::new(6, 8, 10, 10), Yuv::new(1, 2, 3));
        dst.draw_scaled(&src, Rect::new(50, 50, 10, 10));
        let short = I420Frame::from_planes((16, 16), (&[1; 10], &[2; 3], &[3; 3]), (16, 8));
        assert_eq!(short.width(), 16);
    }

    #[test]
    fn rgb_conversion_matches_bt601() {
        assert_eq!(Yuv::from_rgb(0, 0, 0), Yuv::new(16, 128, 128));
        assert_eq!(Yuv::from_rgb(255, 255, 255), Yuv::new(235, 128, 128));
        let red = Yuv::from_rgb(255, 0, 0);
        assert_eq!((red.y, red.u, red.v), (82, 90, 240));
    }
}
