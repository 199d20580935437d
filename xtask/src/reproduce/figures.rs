//! The report's figures as SVG: text, so a rerun that changes nothing rewrites the same bytes
//! and a diff shows what moved; GitHub and every browser render it inline in `REPORT.md`.

use std::fmt::Write as _;

/// A Q×C matrix of differences (rows: query languages, columns: corpus languages), drawn on a
/// diverging blue–white–red scale centred on 0 and symmetric (±the largest |Δ|), each cell
/// labelled with Δ × 100 (mAP points).
pub fn delta_heatmap(title: &str, rows: &[String], columns: &[String], values: &[Vec<Option<f64>>]) -> String {
    const CELL: f64 = 34.0;
    const LEFT: f64 = 44.0;
    const TOP: f64 = 58.0;
    let extent = values.iter().flatten().flatten().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-9);
    const SUBTITLE: &str = "Δ mAP × 100; rows: query language, columns: corpus language";
    // Wide enough for the grid and colour bar, and for the titles (~8 and ~6.3 px a character).
    let width = (LEFT + CELL * columns.len() as f64 + 90.0)
        .max(LEFT + 8.0 * title.chars().count() as f64)
        .max(LEFT + 6.3 * SUBTITLE.chars().count() as f64);
    let height = TOP + CELL * rows.len() as f64 + 40.0;
    let mut svg = header(width, height);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>"#, escape(title));
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="34" font-size="11">{SUBTITLE}</text>"#);
    for (j, c) in columns.iter().enumerate() {
        let x = LEFT + CELL * (j as f64 + 0.5);
        let _ = writeln!(svg, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, TOP - 6.0, escape(c));
    }
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + CELL * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + CELL * 0.62,
            escape(r)
        );
        for (j, v) in values.get(i).into_iter().flatten().enumerate() {
            let x = LEFT + CELL * j as f64;
            let (fill, label) = match v {
                Some(v) => (diverging(v / extent), format!("{:+.1}", v * 100.0)),
                None => ("#eeeeee".to_string(), "·".to_string()),
            };
            let _ = writeln!(
                svg,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{CELL}" height="{CELL}" fill="{fill}" stroke="#ffffff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{label}</text>"##,
                x + CELL / 2.0,
                y + CELL * 0.6
            );
        }
    }
    // Colour bar.
    let bar_x = LEFT + CELL * columns.len() as f64 + 24.0;
    let bar_h = (CELL * rows.len() as f64).max(60.0);
    let steps = 20;
    for k in 0..steps {
        let t = 1.0 - 2.0 * (k as f64 + 0.5) / steps as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{bar_x:.1}" y="{:.1}" width="14" height="{:.2}" fill="{}"/>"#,
            TOP + bar_h * k as f64 / steps as f64,
            bar_h / steps as f64 + 0.3,
            diverging(t)
        );
    }
    for (t, y) in [(1.0, TOP + 4.0), (0.0, TOP + bar_h / 2.0 + 3.0), (-1.0, TOP + bar_h)] {
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{y:.1}">{:+.1}</text>"#, bar_x + 18.0, t * extent * 100.0);
    }
    svg.push_str("</svg>\n");
    svg
}

/// Blue (−1) – white (0) – red (+1), ColorBrewer RdBu end points.
fn diverging(t: f64) -> String {
    let t = t.clamp(-1.0, 1.0);
    let (end, s) = if t < 0.0 { ((33.0, 102.0, 172.0), -t) } else { ((178.0, 24.0, 43.0), t) };
    let mix = |e: f64| (255.0 + (e - 255.0) * s).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(end.0), mix(end.1), mix(end.2))
}

/// One panel of an α plot: per α, the values of every seed.
pub struct AlphaPanel {
    /// Axis title.
    pub label: String,
    /// (α, one value per seed), α ascending.
    pub points: Vec<(f64, Vec<f64>)>,
    /// A horizontal reference line (mean), e.g. X-X, which has no α.
    pub reference: Option<(String, f64)>,
}

/// Panels side by side, α on the x axis (0 = X-Y, 1 = X-X-mono): every seed as a dot, the mean
/// as a line, ± one standard deviation as a bar.
pub fn alpha_plot(title: &str, panels: &[AlphaPanel]) -> String {
    const W: f64 = 300.0;
    const H: f64 = 200.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 44.0;
    let width = LEFT + panels.len() as f64 * (W + LEFT) + 10.0;
    let height = TOP + H + 56.0;
    // Wide enough for the title too (~8 px a bold character).
    let width = width.max(LEFT + 8.0 * title.chars().count() as f64);
    let mut svg = header(width, height);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>"#, escape(title));
    for (p, panel) in panels.iter().enumerate() {
        let x0 = LEFT + p as f64 * (W + LEFT);
        let mut all: Vec<f64> = panel.points.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        all.extend(panel.reference.as_ref().map(|r| r.1));
        if all.is_empty() {
            continue;
        }
        let (lo, hi, step) = nice_range(&all);
        let px = |a: f64| x0 + 12.0 + a * (W - 24.0);
        let py = |v: f64| TOP + H - (v - lo) / (hi - lo) * H;
        let _ =
            writeln!(svg, r##"<rect x="{x0:.1}" y="{TOP}" width="{W}" height="{H}" fill="none" stroke="#888888"/>"##);
        let ticks = ((hi - lo) / step).round() as usize;
        for k in 0..=ticks {
            let v = lo + step * k as f64;
            let y = py(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                x0 + W,
                x0 - 4.0,
                y + 4.0,
                tick_label(v, step)
            );
        }
        for (a, name, strategy) in
            [(0.0, "0", "X-Y"), (0.25, "0.25", ""), (0.5, "0.5", ""), (0.75, "0.75", ""), (1.0, "1", "X-X-mono")]
        {
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{name}</text><text x="{x:.1}" y="{:.1}" text-anchor="middle">{strategy}</text>"#,
                TOP + H + 15.0,
                TOP + H + 28.0,
                x = px(a)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">α (share of X-X-mono batches)</text>"#,
            x0 + W / 2.0,
            TOP + H + 44.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
            x0 + W / 2.0,
            TOP - 8.0,
            escape(&panel.label)
        );
        if let Some((name, v)) = &panel.reference {
            let y = py(*v);
            let _ = writeln!(
                svg,
                r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#7a7a7a" stroke-dasharray="5,4"/><text x="{:.1}" y="{:.1}" fill="#555555">{}</text>"##,
                x0 + W,
                x0 + 4.0,
                y - 4.0,
                escape(name)
            );
        }
        let means: Vec<(f64, f64)> = panel
            .points
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(a, v)| (*a, v.iter().sum::<f64>() / v.len() as f64))
            .collect();
        let path: Vec<String> = means.iter().map(|(a, m)| format!("{:.1},{:.1}", px(*a), py(*m))).collect();
        let _ =
            writeln!(svg, r##"<polyline points="{}" fill="none" stroke="#b2182b" stroke-width="2"/>"##, path.join(" "));
        for (a, values) in &panel.points {
            if values.len() > 1 {
                let m = values.iter().sum::<f64>() / values.len() as f64;
                let sd = (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt();
                let _ = writeln!(
                    svg,
                    r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#b2182b"/>"##,
                    py(m - sd),
                    py(m + sd),
                    x = px(*a)
                );
            }
            for v in values {
                let _ = writeln!(
                    svg,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#2166ac" fill-opacity="0.7"/>"##,
                    px(*a),
                    py(*v)
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// An axis around `values` from and to multiples of a round step (1, 2 or 5 × 10ᵏ, about four
/// intervals): (low, high, step).
fn nice_range(values: &[f64]) -> (f64, f64, f64) {
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let span = (hi - lo).max(hi.abs() * 0.01).max(1e-6);
    let raw = span / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    // A margin of 5% of the span keeps points off the frame.
    let lo = ((lo - 0.05 * span) / step).floor() * step;
    let hi = ((hi + 0.05 * span) / step).ceil() * step;
    let hi = if hi - lo < step / 2.0 { lo + step } else { hi };
    (lo, hi, step)
}

fn tick_label(v: f64, step: f64) -> String {
    let digits = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.digits$}")
}

fn header(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diverging_scale_is_white_at_zero_and_saturates_at_the_ends() {
        assert_eq!(diverging(0.0), "#ffffff");
        assert_eq!(diverging(1.0), "#b2182b");
        assert_eq!(diverging(-1.0), "#2166ac");
        assert_eq!(diverging(-7.0), "#2166ac");
    }

    #[test]
    fn a_heatmap_labels_every_cell_and_marks_missing_ones() {
        let langs = vec!["de".to_string(), "en".to_string()];
        let svg = delta_heatmap("Δ", &langs, &langs, &[vec![None, Some(0.0123)], vec![Some(-0.004), None]]);
        assert!(svg.contains(">+1.2<") && svg.contains(">-0.4<") && svg.matches(">·<").count() == 2, "{svg}");
        // The scale is symmetric around 0: its ends are ± the largest |Δ|.
        assert!(svg.contains(">+1.2</text>") && svg.contains(">-1.2</text>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }

    #[test]
    fn an_alpha_plot_draws_every_seed_and_the_reference() {
        let panel = AlphaPanel {
            label: "multilingual mAP".into(),
            points: vec![(0.0, vec![0.70, 0.72, 0.71]), (0.5, vec![0.69, 0.70, 0.71]), (1.0, vec![0.66])],
            reference: Some(("X-X".into(), 0.40)),
        };
        let svg = alpha_plot("xquad-r", &[panel]);
        assert_eq!(svg.matches("<circle").count(), 7);
        assert!(svg.contains("X-X</text>") && svg.contains("<polyline"), "{svg}");
        let (lo, hi, step) = nice_range(&[0.40, 0.72]);
        assert_eq!(step, 0.1);
        assert!((lo - 0.3).abs() < 1e-12 && (hi - 0.8).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(tick_label(0.30000000000000004, step), "0.3");
        assert_eq!(nice_range(&[17.9, 27.6]).2, 5.0);
    }
}
