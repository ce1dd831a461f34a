//! A tiny embedded 5×7 bitmap font (the classic HD44780-style glyphs; upper case, digits and a
//! little punctuation) for the name on a participant's tile. Lower case is drawn as upper
//! case; anything else as `?`.

use crate::frame::{I420Frame, Rect};

const GLYPH_W: u32 = 5;
const GLYPH_H: u32 = 7;

/// Five columns per glyph, bit 0 at the top.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        ' ' => [0x00, 0x00, 0x00, 0x00, 0x00],
        '0' => [0x3E, 0x51, 0x49, 0x45, 0x3E],
        '1' => [0x00, 0x42, 0x7F, 0x40, 0x00],
        '2' => [0x42, 0x61, 0x51, 0x49, 0x46],
        '3' => [0x21, 0x41, 0x45, 0x4B, 0x31],
        '4' => [0x18, 0x14, 0x12, 0x7F, 0x10],
        '5' => [0x27, 0x45, 0x45, 0x45, 0x39],
        '6' => [0x3C, 0x4A, 0x49, 0x49, 0x30],
        '7' => [0x01, 0x71, 0x09, 0x05, 0x03],
        '8' => [0x36, 0x49, 0x49, 0x49, 0x36],
        '9' => [0x06, 0x49, 0x49, 0x29, 0x1E],
        'A' => [0x7E, 0x11, 0x11, 0x11, 0x7E],
        'B' => [0x7F, 0x49, 0x49, 0x49, 0x36],
        'C' => [0x3E, 0x41, 0x41, 0x41, 0x22],
        'D' => [0x7F, 0x41, 0x41, 0x22, 0x1C],
        'E' => [0x7F, 0x49, 0x49, 0x49, 0x41],
        'F' => [0x7F, 0x09, 0x09, 0x01, 0x01],
        'G' => [0x3E, 0x41, 0x41, 0x51, 0x32],
        'H' => [0x7F, 0x08, 0x08, 0x08, 0x7F],
        'I' => [0x00, 0x41, 0x7F, 0x41, 0x00],
        'J' => [0x20, 0x40, 0x41, 0x3F, 0x01],
        'K' => [0x7F, 0x08, 0x14, 0x22, 0x41],
        'L' => [0x7F, 0x40, 0x40, 0x40, 0x40],
        'M' => [0x7F, 0x02, 0x04, 0x02, 0x7F],
        'N' => [0x7F, 0x04, 0x08, 0x10, 0x7F],
        'O' => [0x3E, 0x41, 0x41, 0x41, 0x3E],
        'P' => [0x7F, 0x09, 0x09, 0x09, 0x06],
        'Q' => [0x3E, 0x41, 0x51, 0x21, 0x5E],
        'R' => [0x7F, 0x09, 0x19, 0x29, 0x46],
        'S' => [0x46, 0x49, 0x49, 0x49, 0x31],
        'T' => [0x01, 0x01, 0x7F, 0x01, 0x01],
        'U' => [0x3F, 0x40, 0x40, 0x40, 0x3F],
        'V' => [0x1F, 0x20, 0x40, 0x20, 0x1F],
        'W' => [0x7F, 0x20, 0x18, 0x20, 0x7F],
        'X' => [0x63, 0x14, 0x08, 0x14, 0x63],
        'Y' => [0x07, 0x08, 0x70, 0x08, 0x07],
        'Z' => [0x61, 0x51, 0x49, 0x45, 0x43],
        '-' => [0x08, 0x08, 0x08, 0x08, 0x08],
        '_' => [0x40, 0x40, 0x40, 0x40, 0x40],
        '.' => [0x00, 0x60, 0x60, 0x00, 0x00],
        ',' => [0x00, 0x50, 0x30, 0x00, 0x00],
        '\'' => [0x00, 0x05, 0x03, 0x00, 0x00],
        '(' => [0x00, 0x1C, 0x22, 0x41, 0x00],
        ')' => [0x00, 0x41, 0x22, 0x1C, 0x00],
        '+' => [0x08, 0x08, 0x3E, 0x08, 0x08],
        '@' => [0x32, 0x49, 0x79, 0x41, 0x3E],
        '#' => [0x14, 0x7F, 0x14, 0x7F, 0x14],
        _ => [0x02, 0x01, 0x51, 0x09, 0x06], // '?'
    }
}

/// Draws `text` centred in `area` in luma `value`, at the largest integer scale (up to 6) at
/// which it fits, cutting it with `..` if even scale 1 is too wide. Returns the area drawn.
pub(crate) fn draw_text_centered(
    canvas: &mut I420Frame,
    area: Rect,
    text: &str,
    value: u8,
) -> Rect {
    let mut chars: Vec<char> = text.chars().collect();
    let advance = GLYPH_W + 1;
    let max_chars = (area.width / advance).max(1) as usize;
    if chars.len() > max_chars {
        chars.truncate(max_chars.saturating_sub(2));
        chars.extend(['.', '.']);
    }
    let n = chars.len() as u32;
    if n == 0 {
        return Rect::new(area.x, area.y, 0, 0);
    }
    let text_w = n * advance - 1;
    let scale = (area.width * 8 / 10 / text_w)
        .min(area.height / 3 / GLYPH_H)
        .clamp(1, 6);
    let (w, h) = (text_w * scale, GLYPH_H * scale);
    let x0 = area.x + area.width.saturating_sub(w) / 2;
    let y0 = area.y + area.height.saturating_sub(h) / 2;
    for (i, c) in chars.iter().enumerate() {
        let cols = glyph(*c);
        let gx = x0 + i as u32 * advance * scale;
        for (cx, bits) in cols.iter().enumerate() {
            for cy in 0..GLYPH_H {
                if bits >> cy & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        canvas.put_luma(gx + cx as u32 * scale + dx, y0 + cy * scale + dy, value);
                    }
                }
            }
        }
    }
    Rect::new(x0, y0, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Yuv;

    #[test]
    fn text_is_drawn_inside_the_area() {
        let mut f = I420Frame::new(320, 180, Yuv::new(60, 128, 128));
        let area = Rect::new(0, 0, 320, 180);
        let drawn = draw_text_centered(&mut f, area, "Alice", 235);
        assert!(drawn.width > 0 && drawn.x + drawn.width <= 320);
        let bright = f.y().iter().filter(|&&p| p == 235).count();
        assert!(bright > 100, "{bright} text pixels");
        // A long name is cut and still fits.
        let mut g = I420Frame::new(40, 40, Yuv::new(60, 128, 128));
        let d = draw_text_centered(&mut g, Rect::new(0, 0, 40, 40), "Bartholomew Ü", 235);
        assert!(d.x + d.width <= 40);
    }
}
