//! Heatmap PNG of one measure's query-language × corpus-language matrix (plotters, bitmap).
//!
//! Text needs a TrueType font; nothing is bundled and no system font library is linked.
//! The font is found at run time: `$POLYRET_FONT`, else DejaVu Sans where Linux distributions
//! install it (Debian/Ubuntu package `fonts-dejavu-core`), else a few other common paths. With
//! no font the heatmap is skipped with a warning — an evaluation never fails for a picture.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{EvalError, Result};
use crate::metrics::Metric;
use crate::report::CellMatrix;

/// Where fonts are looked for after `$POLYRET_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", // Debian, Ubuntu: fonts-dejavu-core
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", // Fedora: dejavu-sans-fonts
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",          // older Fedora, openSUSE
    "/usr/share/fonts/TTF/DejaVuSans.ttf",             // Arch: ttf-dejavu
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf", // macOS
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];
const FAMILY: &str = "sans-serif";

/// The font file used for the heatmap, if any: `$POLYRET_FONT` when set, else the first of the
/// known system paths that exists.
pub fn font_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POLYRET_FONT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    FONT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Registers the font with plotters once per process; the outcome is remembered.
fn ensure_font() -> std::result::Result<PathBuf, String> {
    static FONT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let path = font_path().ok_or_else(|| {
            "no font found: install DejaVu Sans (Debian/Ubuntu: apt-get install fonts-dejavu-core) \
             or point POLYRET_FONT at a .ttf file"
                .to_owned()
        })?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // plotters keeps fonts for the life of the process; this runs once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a usable TrueType font", path.display()))?;
        Ok(path)
    })
    .clone()
}

/// Viridis, sampled at five points and interpolated linearly.
fn color(v: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
    let x = v.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let t = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws `metric` of `matrix` into a PNG at `path` (written atomically). Returns `false`
/// (after a warning) when no font is available; errors only on drawing or writing failures.
pub fn draw(path: &Path, title: &str, matrix: &CellMatrix, metric: Metric) -> Result<bool> {
    if let Err(why) = ensure_font() {
        tracing::warn!("heatmap skipped: {why}");
        return Ok(false);
    }
    let plot_err = |e: String| EvalError::Plot { path: path.to_owned(), message: e };
    let values = matrix.metric(metric);
    let (rows, cols) = (matrix.query_langs.len(), matrix.corpus_langs.len());
    let cell = (720 / rows.max(cols).max(1)).clamp(12, 64) as i32;
    let (left, top, right, bottom) = (70, 70, 100, 20);
    let width = (left + cell * cols as i32 + right).max(480) as u32;
    let height = (top + cell * rows as i32 + bottom).max(200) as u32;
    let label_size = if cell >= 24 { 14 } else { 10 };
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let e = |x: DrawingAreaErrorKind<_>| plot_err(x.to_string());
        root.fill(&WHITE).map_err(e)?;
        let style = |size: i32, color: &RGBColor, h: HPos| TextStyle {
            font: (FAMILY, size).into_font(),
            color: color.to_backend_color(),
            pos: Pos::new(h, VPos::Center),
        };
        root.draw(&Text::new(title.to_owned(), (8, 16), style(16, &BLACK, HPos::Left))).map_err(e)?;
        root.draw(&Text::new(
            "rows: query language, columns: corpus language".to_owned(),
            (8, 38),
            style(11, &BLACK, HPos::Left),
        ))
        .map_err(e)?;
        for (c, lang) in matrix.corpus_langs.iter().enumerate() {
            let x = left + cell * c as i32 + cell / 2;
            root.draw(&Text::new(lang.clone(), (x, top - 14), style(label_size, &BLACK, HPos::Center))).map_err(e)?;
        }
        for (r, lang) in matrix.query_langs.iter().enumerate() {
            let y = top + cell * r as i32 + cell / 2;
            root.draw(&Text::new(lang.clone(), (left - 8, y), style(label_size, &BLACK, HPos::Right))).map_err(e)?;
            for c in 0..cols {
                let x = left + cell * c as i32;
                let v = values.get(r).and_then(|row| row.get(c)).copied().flatten();
                let fill = v.map_or(RGBColor(225, 225, 225), color);
                root.draw(&Rectangle::new([(x, y - cell / 2), (x + cell - 1, y + cell / 2 - 1)], fill.filled()))
                    .map_err(e)?;
                if cell >= 36 {
                    let text = v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"));
                    let ink = if v.is_some_and(|v| v < 0.6) { WHITE } else { BLACK };
                    root.draw(&Text::new(text, (x + cell / 2, y), style(12, &ink, HPos::Center))).map_err(e)?;
                }
            }
        }
        // Colour bar, fixed 0..1 so pictures of different models compare.
        let (bx, bh) = (left + cell * cols as i32 + 24, cell * rows as i32);
        for i in 0..bh.max(1) {
            let v = 1.0 - f64::from(i) / f64::from(bh.max(1));
            root.draw(&Rectangle::new([(bx, top + i), (bx + 16, top + i + 1)], color(v).filled())).map_err(e)?;
        }
        for (v, label) in [(1.0, "1"), (0.5, "0.5"), (0.0, "0")] {
            let y = top + ((1.0 - v) * f64::from(bh)) as i32;
            root.draw(&Text::new(label.to_owned(), (bx + 22, y), style(11, &BLACK, HPos::Left))).map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|x| plot_err(x.to_string()))?;
        writer.write_image_data(&pixels).map_err(|x| plot_err(x.to_string()))?;
    }
    polyret_files::write_atomic(path, &png_bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_map_runs_from_dark_to_bright() {
        assert_eq!(color(0.0), RGBColor(68, 1, 84));
        assert_eq!(color(1.0), RGBColor(253, 231, 37));
        assert_eq!(color(2.0), color(1.0));
        let lum = |c: RGBColor| u32::from(c.0) + u32::from(c.1) + u32::from(c.2);
        assert!(lum(color(0.3)) < lum(color(0.7)));
    }
}
