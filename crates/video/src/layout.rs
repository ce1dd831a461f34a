//! Where each participant goes on the canvas.
//!
//! The main window takes the canvas above a strip of up to `max_strip` thumbnails along the
//! bottom (a quarter of the height, 16:9 tiles at the default 1280×720 with 4 tiles); with no
//! one in the strip the main window takes the whole canvas. Pictures are fitted into their
//! slot keeping their aspect ratio, on a dark background.

use pont_types::ParticipantId;

use crate::frame::Rect;

/// What the main window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Layout {
    /// The active speaker (from [`Composer::set_speaker`](crate::Composer::set_speaker)) in the
    /// main window, the others in the strip.
    #[default]
    Speaker,
    /// One participant's video in the main window whoever speaks (a screen share, once it is a
    /// participant source of its own, or a pinned participant); the speaker goes first in the
    /// strip.
    Pinned(ParticipantId),
}

/// The slots of one composed picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) main: Rect,
    pub(crate) strip: Vec<Rect>,
}

const fn even(v: u32) -> u32 {
    v & !1
}

/// Main window and `shown` strip tiles on a `width`×`height` canvas sized for `max_strip`.
pub(crate) fn geometry(width: u32, height: u32, max_strip: usize, shown: usize) -> Geometry {
    if shown == 0 || max_strip == 0 {
        return Geometry {
            main: Rect::new(0, 0, width, height),
            strip: Vec::new(),
        };
    }
    let strip_h = even(height / 4);
    let tile_w = even(width / max_strip as u32);
    let used = tile_w * shown as u32;
    let x0 = even(width.saturating_sub(used) / 2);
    let y = height - strip_h;
    Geometry {
        main: Rect::new(0, 0, width, y),
        strip: (0..shown as u32)
            .map(|i| Rect::new(x0 + i * tile_w, y, tile_w, strip_h))
            .collect(),
    }
}

/// The largest rectangle with the source's aspect ratio centred in `slot` (even-aligned).
pub(crate) fn fit(src_w: u32, src_h: u32, slot: Rect) -> Rect {
    if src_w == 0 || src_h == 0 || slot.width == 0 || slot.height == 0 {
        return slot;
    }
    let (sw, sh) = (u64::from(src_w), u64::from(src_h));
    let (w, h) = if u64::from(slot.width) * sh <= u64::from(slot.height) * sw {
        // Limited by width.
        (slot.width, (u64::from(slot.width) * sh / sw) as u32)
    } else {
        ((u64::from(slot.height) * sw / sh) as u32, slot.height)
    };
    let (w, h) = (
        even(w).max(2).min(slot.width),
        even(h).max(2).min(slot.height),
    );
    Rect::new(
        slot.x + even((slot.width - w) / 2),
        slot.y + even((slot.height - h) / 2),
        w,
        h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_canvas_has_a_16_9_strip_under_the_main_window() {
        let g = geometry(1280, 720, 4, 2);
        assert_eq!(g.main, Rect::new(0, 0, 1280, 540));
        assert_eq!(
            g.strip,
            vec![Rect::new(320, 540, 320, 180), Rect::new(640, 540, 320, 180)]
        );
        assert_eq!(geometry(1280, 720, 4, 0).main, Rect::new(0, 0, 1280, 720));
    }

    #[test]
    fn fit_keeps_aspect_and_centres() {
        assert_eq!(
            fit(640, 360, Rect::new(0, 0, 1280, 540)),
            Rect::new(160, 0, 960, 540)
        );
        assert_eq!(
            fit(320, 240, Rect::new(0, 540, 320, 180)),
            Rect::new(40, 540, 240, 180)
        );
        assert_eq!(
            fit(1920, 200, Rect::new(0, 0, 100, 100)),
            Rect::new(0, 44, 100, 10)
        );
    }
}
