//! # crest-plot
//!
//! One small charting layer for every crest report (forecast bands, probe
//! curves, simulation timelines, rehearsal comparisons), so they look alike and
//! none of them has to know plotters' font traps.
//!
//! plotters is built without fontconfig/freetype (`ab_glyph`), so text needs a
//! font registered by name before anything is drawn; [`ensure_font`] registers
//! DejaVu Sans (embedded by the `dejavu` crate) once per process. The output
//! format follows the file extension: `.png` or `.svg`.
//!
//! ```no_run
//! use crest_plot::{Chart, Line};
//! let chart = Chart::new("demand")
//!     .x_label("hour")
//!     .y_label("requests/s")
//!     .line(Line::new("demand", vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)]));
//! crest_plot::render(&[chart], std::path::Path::new("demand.png"), (900, 400)).unwrap();
//! ```
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use thiserror::Error;

/// The font family every chart uses.
pub const FONT: &str = "sans-serif";

/// A chart could not be drawn or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The path's extension is neither `.png` nor `.svg`.
    #[error("failed to plot to {path}: expected a .png or .svg file name")]
    UnknownFormat {
        /// The path given.
        path: String,
    },
    /// There was nothing finite to draw.
    #[error("failed to plot {title:?}: no finite data points")]
    NoData {
        /// The chart title.
        title: String,
    },
    /// plotters failed while drawing or writing.
    #[error("failed to draw {path}: {message}")]
    Draw {
        /// The output path.
        path: String,
        /// plotters' message.
        message: String,
    },
}

/// Register the embedded DejaVu Sans as [`FONT`] (idempotent).
///
/// # Errors
/// [`PlotError::Draw`] if plotters rejects the font (it does not for DejaVu).
pub fn ensure_font() -> Result<(), PlotError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "invalid embedded font".to_string())?;
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .map_err(|_| "invalid embedded font".to_string())
    })
    .clone()
    .map_err(|message| PlotError::Draw {
        path: String::new(),
        message,
    })
}

/// A named line of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// Points; non-finite ones break the line.
    pub points: Vec<(f64, f64)>,
    /// Draw as a step function (instances, weights) instead of a polyline.
    pub step: bool,
    /// Draw markers at each point.
    pub markers: bool,
}

impl Line {
    /// A polyline.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Line {
            label: label.into(),
            points,
            step: false,
            markers: false,
        }
    }

    /// Draw as a step function.
    pub fn stepped(mut self) -> Self {
        self.step = true;
        self
    }

    /// Mark each point.
    pub fn with_markers(mut self) -> Self {
        self.markers = true;
        self
    }
}

/// A shaded band between a lower and an upper path sharing x values.
#[derive(Debug, Clone)]
pub struct Band {
    /// Legend label.
    pub label: String,
    /// `(x, low, high)` triples.
    pub points: Vec<(f64, f64, f64)>,
}

/// One panel: lines, bands and vertical markers over a shared x axis.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Title above the panel.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// X values are Unix seconds: tick labels become dates.
    pub x_is_time: bool,
    /// Lines, drawn in order over the bands.
    pub lines: Vec<Line>,
    /// Bands, drawn first.
    pub bands: Vec<Band>,
    /// Vertical markers `(x, label)`, e.g. the knee or a holiday.
    pub markers: Vec<(f64, String)>,
    /// Force the y range to start at zero.
    pub y_from_zero: bool,
}

impl Chart {
    /// An empty panel with a title.
    pub fn new(title: impl Into<String>) -> Self {
        Chart {
            title: title.into(),
            y_from_zero: true,
            ..Chart::default()
        }
    }

    /// Set the x label.
    pub fn x_label(mut self, s: impl Into<String>) -> Self {
        self.x_label = s.into();
        self
    }

    /// Set the y label.
    pub fn y_label(mut self, s: impl Into<String>) -> Self {
        self.y_label = s.into();
        self
    }

    /// X values are Unix seconds.
    pub fn time_axis(mut self) -> Self {
        self.x_is_time = true;
        self
    }

    /// Let the y axis start at the data's minimum rather than zero.
    pub fn y_auto(mut self) -> Self {
        self.y_from_zero = false;
        self
    }

    /// Add a line.
    pub fn line(mut self, l: Line) -> Self {
        self.lines.push(l);
        self
    }

    /// Add a band.
    pub fn band(mut self, b: Band) -> Self {
        self.bands.push(b);
        self
    }

    /// Add a vertical marker.
    pub fn marker(mut self, x: f64, label: impl Into<String>) -> Self {
        self.markers.push((x, label.into()));
        self
    }

    fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let mut xs = (f64::INFINITY, f64::NEG_INFINITY);
        let mut ys = (f64::INFINITY, f64::NEG_INFINITY);
        let mut see = |x: f64, y: f64| {
            if x.is_finite() && y.is_finite() {
                xs = (xs.0.min(x), xs.1.max(x));
                ys = (ys.0.min(y), ys.1.max(y));
            }
        };
        for l in &self.lines {
            for &(x, y) in &l.points {
                see(x, y);
            }
        }
        for b in &self.bands {
            for &(x, lo, hi) in &b.points {
                see(x, lo);
                see(x, hi);
            }
        }
        if !xs.0.is_finite() {
            return None;
        }
        if self.y_from_zero {
            ys.0 = ys.0.min(0.0);
        }
        if xs.1 <= xs.0 {
            xs.1 = xs.0 + 1.0;
        }
        let pad = ((ys.1 - ys.0) * 0.05).max(1e-9);
        ys = (
            if self.y_from_zero && ys.0 >= 0.0 {
                ys.0
            } else {
                ys.0 - pad
            },
            ys.1 + pad,
        );
        Some((xs, ys))
    }
}

/// The palette, colour-blind friendly (Okabe–Ito).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// Draw `charts` as vertically stacked panels into `path` (`.png` or `.svg`).
///
/// # Errors
/// [`PlotError`] for an unknown extension, a chart without data, or a write failure.
pub fn render(charts: &[Chart], path: &Path, size: (u32, u32)) -> Result<(), PlotError> {
    ensure_font()?;
    let shown = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw_all(&root, charts, &shown)?;
            root.present().map_err(|e| draw_err(&shown, e))
        }
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_all(&root, charts, &shown)?;
            root.present().map_err(|e| draw_err(&shown, e))
        }
        _ => Err(PlotError::UnknownFormat { path: shown }),
    }
}

fn draw_err(path: &str, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw {
        path: path.to_string(),
        message: e.to_string(),
    }
}

fn draw_all<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[Chart],
    path: &str,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let panels = root.split_evenly((charts.len().max(1), 1));
    for (chart, area) in charts.iter().zip(panels.iter()) {
        draw_one(area, chart, path)?;
    }
    Ok(())
}

fn fmt_time(x: f64) -> String {
    chrono::DateTime::from_timestamp(x as i64, 0)
        .map(|d| d.format("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn draw_one<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    path: &str,
) -> Result<(), PlotError> {
    let ((x0, x1), (y0, y1)) = chart.ranges().ok_or_else(|| PlotError::NoData {
        title: chart.title.clone(),
    })?;
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, (FONT, 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| draw_err(path, e))?;
    let time = chart.x_is_time;
    let x_fmt = move |x: &f64| if time { fmt_time(*x) } else { format!("{x}") };
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_labels(8)
        .x_label_formatter(&x_fmt)
        .label_style((FONT, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| draw_err(path, e))?;

    for (i, b) in chart.bands.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()].mix(0.2);
        let mut poly: Vec<(f64, f64)> = b
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
            .map(|&(x, lo, _)| (x, lo))
            .collect();
        let upper: Vec<(f64, f64)> = b
            .points
            .iter()
            .rev()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
            .map(|&(x, _, hi)| (x, hi))
            .collect();
        poly.extend(upper);
        ctx.draw_series(std::iter::once(Polygon::new(poly, c.filled())))
            .map_err(|e| draw_err(path, e))?
            .label(b.label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.filled()));
    }
    for (i, l) in chart.lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut pts: Vec<(f64, f64)> = Vec::with_capacity(l.points.len() * 2);
        for w in l
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
        {
            if l.step
                && let Some(&(_, prev_y)) = pts.last()
            {
                pts.push((w.0, prev_y));
            }
            pts.push(*w);
        }
        ctx.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| draw_err(path, e))?
            .label(l.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2))
            });
        if l.markers {
            ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| draw_err(path, e))?;
        }
    }
    for (x, label) in &chart.markers {
        let c = RGBColor(120, 120, 120);
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(*x, y0), (*x, y1)],
            c.stroke_width(1),
        )))
        .map_err(|e| draw_err(path, e))?;
        ctx.draw_series(std::iter::once(Text::new(
            label.clone(),
            (*x, y1 - (y1 - y0) * 0.04),
            (FONT, 12).into_font().color(&c),
        )))
        .map_err(|e| draw_err(path, e))?;
    }
    if !chart.lines.is_empty() || !chart.bands.is_empty() {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| draw_err(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        Chart::new("t")
            .time_axis()
            .line(Line::new("a", vec![(1.4e9, 1.0), (1.4e9 + 3600.0, 2.0)]))
            .band(Band {
                label: "p10-p90".into(),
                points: vec![(1.4e9, 0.5, 1.5), (1.4e9 + 3600.0, 1.5, 2.5)],
            })
            .marker(1.4e9 + 1800.0, "knee")
    }

    #[test]
    fn renders_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.png", "a.svg"] {
            let p = dir.path().join(name);
            render(&[sample(), sample()], &p, (600, 400)).unwrap();
            assert!(
                std::fs::metadata(&p).unwrap().len() > 1000,
                "{name} too small"
            );
        }
        let svg = std::fs::read_to_string(dir.path().join("a.svg")).unwrap();
        assert!(svg.contains("knee"));
    }

    #[test]
    fn rejects_unknown_extension_and_empty_chart() {
        let dir = tempfile::tempdir().unwrap();
        let err = render(&[sample()], &dir.path().join("a.gif"), (10, 10)).unwrap_err();
        assert!(err.to_string().contains("expected a .png or .svg"));
        let err = render(
            &[Chart::new("empty")],
            &dir.path().join("b.png"),
            (100, 100),
        )
        .unwrap_err();
        assert!(matches!(err, PlotError::NoData { .. }));
    }
}
