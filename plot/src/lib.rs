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
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};
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

/// Tick steps a time axis may use, in seconds, smallest first: minutes,
/// hours, days, weeks. Days start at 00:00 UTC, weeks on Monday.
const TIME_STEPS: [i64; 16] = [
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    28 * 86_400,
    91 * 86_400,
];

/// Ticks of a time axis from `x0` to `x1` (Unix seconds): the smallest
/// round step of [`TIME_STEPS`] that gives at most `max_ticks` ticks, every
/// tick on a multiple of it (weeks: Mondays 00:00 UTC). Returns the step too.
pub fn time_ticks(x0: f64, x1: f64, max_ticks: usize) -> (i64, Vec<f64>) {
    let max_ticks = max_ticks.max(2) as f64;
    let span = (x1 - x0).max(1.0);
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|&s| (span / s as f64).floor() + 1.0 <= max_ticks)
        .unwrap_or_else(|| {
            let days = (span / max_ticks / 86_400.0).ceil() as i64;
            days.max(1) * 86_400
        });
    // 1970-01-05 was a Monday: weeks are counted from it.
    let origin = if step % (7 * 86_400) == 0 {
        4 * 86_400
    } else {
        0
    };
    let first = ((x0 - origin as f64) / step as f64).ceil() as i64 * step + origin;
    let ticks = (0..)
        .map(|k| (first + k * step) as f64)
        .take_while(|&t| t <= x1)
        .collect();
    (step, ticks)
}

/// A tick label for Unix seconds `x` on an axis ticking every `step`
/// seconds: "Dec 31 18:00" below a day, "Dec 31" from a day up.
pub fn time_label(x: f64, step: i64) -> String {
    let format = if step < 86_400 {
        "%b %d %H:%M"
    } else {
        "%b %d"
    };
    chrono::DateTime::from_timestamp(x.round() as i64, 0)
        .map(|d| d.format(format).to_string())
        .unwrap_or_default()
}

/// A value-axis label: no trailing ".0", thousands without separators
/// (plotters' default prints "1800.0").
pub fn value_label(y: f64) -> String {
    if y == 0.0 {
        return "0".into();
    }
    let a = y.abs();
    let decimals = if a >= 10.0 || (a.fract() == 0.0) {
        0
    } else if a >= 1.0 {
        1
    } else {
        3
    };
    let s = format!("{y:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// An x axis with the ticks given: for time, the round times of
/// [`time_ticks`] rather than plotters' round numbers.
struct TickedAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        TickedAxis {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Pixels one time tick label needs, with room between neighbours.
const TIME_LABEL_PX: u32 = 110;

fn draw_one<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    path: &str,
) -> Result<(), PlotError> {
    let ((x0, x1), (y0, y1)) = chart.ranges().ok_or_else(|| PlotError::NoData {
        title: chart.title.clone(),
    })?;
    // Room above the data for the legend (upper left), so it covers no line.
    // Marker labels take one more row at the top, above the legend.
    let entries = chart.lines.len() + chart.bands.len();
    let rows = entries + usize::from(!chart.markers.is_empty());
    let y1 = y1 + (y1 - y0) * 0.07 * rows as f64;
    let (width, _) = area.dim_in_pixel();
    let time = chart.x_is_time;
    let (step, ticks) = if time {
        time_ticks(x0, x1, (width / TIME_LABEL_PX) as usize)
    } else {
        (0, RangedCoordf64::from(x0..x1).key_points(8))
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&chart.title, (FONT, 18))
        .margin(10)
        // A tick label is centred on its tick: leave half of the widest one
        // free at the right so the last is never cut.
        .margin_right(if chart.x_is_time { 45 } else { 25 })
        .x_label_area_size(40)
        .y_label_area_size(65);
    let x_desc = match (chart.x_label.as_str(), chart.x_is_time) {
        ("", true) => "time (UTC)",
        (l, _) => l,
    };
    let y_fmt = |y: &f64| value_label(*y);
    let x_fmt = move |x: &f64| {
        if time {
            time_label(*x, step)
        } else {
            value_label(*x)
        }
    };
    let mut ctx = builder
        .build_cartesian_2d(TickedAxis::new(x0..x1, ticks), y0..y1)
        .map_err(|e| draw_err(path, e))?;
    ctx.configure_mesh()
        .x_desc(x_desc)
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    draw_data(&mut ctx, chart, (x0, x1), (y0, y1), width, path)
}

/// Bands, lines, markers and the legend, on either kind of x axis.
fn draw_data<'a, DB, X>(
    ctx: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    chart: &Chart,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    width: u32,
    path: &str,
) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
{
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
        // More points than pixels: a 2-pixel stroke's miter joins at the
        // near-reversals of dense data shoot spikes out of the panel.
        let stroke = if pts.len() > width as usize { 1 } else { 2 };
        ctx.draw_series(LineSeries::new(pts.clone(), color.stroke_width(stroke)))
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
        // The label sits beside its line on the side with more room, so a
        // marker near the right edge is never cut off.
        let right_half = *x > x0 + (x1 - x0) / 2.0;
        let (anchor, nudge) = if right_half {
            (HPos::Right, -4)
        } else {
            (HPos::Left, 4)
        };
        let style = (FONT, 12)
            .into_font()
            .color(&c)
            .pos(Pos::new(anchor, VPos::Top));
        ctx.draw_series(std::iter::once(
            EmptyElement::at((*x, y1 - (y1 - y0) * 0.02))
                + Text::new(label.clone(), (nudge, 0), style),
        ))
        .map_err(|e| draw_err(path, e))?;
    }
    if !chart.lines.is_empty() || !chart.bands.is_empty() {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .position(if chart.markers.is_empty() {
                SeriesLabelPosition::UpperLeft
            } else {
                // Below the marker labels' row.
                SeriesLabelPosition::Coordinate(5, 22)
            })
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

    /// 2014-12-31T00:00:00Z.
    const NYE: f64 = 1_419_984_000.0;

    #[test]
    fn time_ticks_fall_on_round_hours_days_and_mondays() {
        // Two days on an 8-tick axis: every 6 hours from midnight.
        let (step, ticks) = time_ticks(NYE - 1234.0, NYE + 2.0 * 86_400.0, 9);
        assert_eq!(step, 6 * 3600);
        assert_eq!(ticks.first(), Some(&NYE));
        assert_eq!(ticks.len(), 9);
        assert!(ticks.iter().all(|t| *t as i64 % (6 * 3600) == 0));
        let labels: Vec<String> = ticks.iter().map(|t| time_label(*t, step)).collect();
        assert_eq!(labels[3], "Dec 31 18:00");
        assert_eq!(labels[4], "Jan 01 00:00");

        // Four hours: half-hours.
        let (step, ticks) = time_ticks(NYE + 600.0, NYE + 600.0 + 4.0 * 3600.0, 9);
        assert_eq!(step, 1800);
        assert_eq!(ticks[0], NYE + 1800.0);

        // Ten weeks: weekly ticks, all on Mondays at 00:00, labelled by day.
        let (step, ticks) = time_ticks(NYE, NYE + 70.0 * 86_400.0, 12);
        assert_eq!(step, 7 * 86_400);
        for t in &ticks {
            let d = chrono::DateTime::from_timestamp(*t as i64, 0).unwrap();
            assert_eq!(d.format("%a %H:%M").to_string(), "Mon 00:00");
        }
        assert_eq!(time_label(ticks[0], step), "Jan 05");
    }

    #[test]
    fn value_labels_drop_the_trailing_zero() {
        assert_eq!(value_label(1800.0), "1800");
        assert_eq!(value_label(0.0), "0");
        assert_eq!(value_label(2.5), "2.5");
        assert_eq!(value_label(12.5), "12");
        assert_eq!(value_label(0.25), "0.25");
        assert_eq!(value_label(-500.0), "-500");
    }

    #[test]
    fn marker_labels_face_into_the_chart_and_time_axes_say_utc() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.svg");
        let chart = Chart::new("t")
            .time_axis()
            .line(Line::new("a", vec![(NYE, 1.0), (NYE + 86_400.0, 2.0)]))
            .marker(NYE + 86_000.0, "late")
            .marker(NYE + 400.0, "early");
        render(&[chart], &p, (800, 300)).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        let tag_of = |text: &str| {
            let end = svg.find(&format!(">\n{text}\n<")).unwrap();
            let start = svg[..end].rfind("<text").unwrap();
            svg[start..end].to_string()
        };
        assert!(
            tag_of("late").contains("text-anchor=\"end\""),
            "{}",
            tag_of("late")
        );
        assert!(
            !tag_of("early").contains("text-anchor=\"end\""),
            "{}",
            tag_of("early")
        );
        assert!(svg.contains("time (UTC)"));
        assert!(svg.contains("Dec 31 06:00"), "no round tick label");
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
