//! Figures with plotters, rendered to SVG (for the web and papers) and PNG: x–y plots with
//! uncertainty bands, shaded regions and error bars; residual panels; bar/tornado charts with
//! confidence intervals; histograms with density overlays; trace plots; pair (corner) plots.
//! One style everywhere: the Okabe–Ito colour-blind-safe palette, DejaVu Sans (bundled, so text
//! renders on machines without system fonts), axis labels with units.

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::sync::Once;

/// Okabe & Ito (2008) colour-blind-safe palette, in the order series use it.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(240, 228, 66),  // yellow
    RGBColor(0, 0, 0),       // black
];

/// Colour `i` of the palette (wrapping).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const FONT: &str = "sans-serif";
static FONT_INIT: Once = Once::new();

fn ensure_font() {
    FONT_INIT.call_once(|| {
        let _ = register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

/// Figure size in pixels.
pub const SIZE: (u32, u32) = (880, 540);

/// A rendered figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// SVG text (inline in the HTML, written as `.svg`).
    pub svg: String,
    /// PNG bytes at the figure's pixel size.
    pub png: Vec<u8>,
}

/// A line.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// Legend text (none when empty).
    pub label: String,
    /// Abscissae, in the x axis' unit.
    pub x: Vec<f64>,
    /// Ordinates, in the y axis' unit.
    pub y: Vec<f64>,
    /// Palette index ([`color`]).
    pub color: usize,
    /// Draw dashed.
    pub dashed: bool,
}

/// A shaded band between `lo` and `hi`.
#[derive(Debug, Clone, Default)]
pub struct Band {
    /// Legend text (none when empty).
    pub label: String,
    /// Abscissae, in the x axis' unit.
    pub x: Vec<f64>,
    /// Lower edge at each x, in the y axis' unit.
    pub lo: Vec<f64>,
    /// Upper edge at each x, in the y axis' unit.
    pub hi: Vec<f64>,
    /// Palette index ([`color`]).
    pub color: usize,
    /// Fill opacity (0.15 for a 95 % band and 0.3 for a 68 % band reads well).
    pub opacity: f64,
}

/// Markers with optional symmetric y error bars.
#[derive(Debug, Clone, Default)]
pub struct Points {
    /// Legend text (none when empty).
    pub label: String,
    /// Abscissae, in the x axis' unit.
    pub x: Vec<f64>,
    /// Ordinates, in the y axis' unit.
    pub y: Vec<f64>,
    /// Symmetric vertical error bars (half-lengths, y axis' unit).
    pub y_err: Option<Vec<f64>>,
    /// Palette index ([`color`]).
    pub color: usize,
    /// Marker radius in pixels (small, e.g. 1–2, for dense measured curves).
    pub size: u32,
}

/// A shaded vertical strip x0 ≤ x ≤ x1 (e.g. a two-phase region).
#[derive(Debug, Clone, Default)]
pub struct XRegion {
    /// Legend text (none when empty).
    pub label: String,
    /// Left edge, in the x axis' unit.
    pub x0: f64,
    /// Right edge, in the x axis' unit.
    pub x1: f64,
}

/// An x–y plot.
#[derive(Debug, Clone, Default)]
pub struct XyPlot {
    /// Title above the plot.
    pub title: String,
    /// Axis labels, with units: "x (site fraction)", "U (V vs Li/Li+)".
    pub x_label: String,
    /// Ordinate label with unit.
    pub y_label: String,
    /// Logarithmic y axis (for a positive quantity spanning decades).
    pub log_y: bool,
    /// Shaded bands, drawn first.
    pub bands: Vec<Band>,
    /// Lines.
    pub lines: Vec<Line>,
    /// Markers, drawn last.
    pub points: Vec<Points>,
    /// Shaded x ranges (e.g. a two-phase region).
    pub regions: Vec<XRegion>,
    /// Horizontal reference lines (value, label).
    pub h_lines: Vec<(f64, String)>,
}

/// Horizontal bars with optional confidence intervals, one group per series.
#[derive(Debug, Clone, Default)]
pub struct BarPlot {
    /// Title above the chart.
    pub title: String,
    /// Abscissa label with unit.
    pub x_label: String,
    /// One label per bar row (e.g. input names), drawn top to bottom.
    pub labels: Vec<String>,
    /// The series (name, one value per label, optional intervals).
    pub series: Vec<BarSeries>,
}

/// One bar series: (name, values, optional (lo, hi) intervals).
pub type BarSeries = (String, Vec<f64>, Option<Vec<(f64, f64)>>);

/// A histogram of samples with overlaid curves (e.g. a posterior marginal with the prior density).
#[derive(Debug, Clone, Default)]
pub struct HistPlot {
    /// Title above the histogram.
    pub title: String,
    /// Abscissa label with unit.
    pub x_label: String,
    /// The samples, in the abscissa's unit.
    pub samples: Vec<f64>,
    /// Number of bins.
    pub bins: usize,
    /// Density curves to overlay (y in 1/x-unit).
    pub curves: Vec<Line>,
    /// Vertical markers (value, label), e.g. the true value.
    pub v_lines: Vec<(f64, String)>,
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn finite_range(vals: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        if v.is_finite() && (!log || v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then_some((lo, hi))
}

fn pad(r: (f64, f64), frac: f64, log: bool) -> (f64, f64) {
    if log {
        let (a, b) = (r.0.ln(), r.1.ln());
        let w = if b > a { b - a } else { 1.0 };
        ((a - frac * w).exp(), (b + frac * w).exp())
    } else {
        let w = if r.1 > r.0 {
            r.1 - r.0
        } else {
            r.0.abs().max(1.0) * 0.1
        };
        (r.0 - frac * w, r.1 + frac * w)
    }
}

/// Render a figure drawn by `draw_svg`/`draw_png` (the same drawing code instantiated for the two
/// backends) at `size`.
pub fn render_with(
    size: (u32, u32),
    draw_svg: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
    draw_png: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<Figure, String> {
    ensure_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_svg(&root)?;
        root.present().map_err(err)?;
    }
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw_png(&root)?;
        root.present().map_err(err)?;
    }
    let img = image::RgbImage::from_raw(size.0, size.1, buf).ok_or("PNG buffer size")?;
    let mut png = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut png),
        image::ImageOutputFormat::Png,
    )
    .map_err(err)?;
    Ok(Figure { svg, png })
}

macro_rules! both {
    ($size:expr, $f:ident, $($arg:expr),*) => {
        render_with($size, |a| $f(a, $($arg),*), |a| $f(a, $($arg),*))
    };
}

/// Render an [`XyPlot`].
pub fn xy_figure(p: &XyPlot) -> Result<Figure, String> {
    both!(SIZE, draw_xy, p)
}

/// Render an [`XyPlot`] with a residual panel (data − model) beneath it.
pub fn xy_with_residuals(p: &XyPlot, residuals: &XyPlot) -> Result<Figure, String> {
    let size = (SIZE.0, SIZE.1 + 280);
    render_with(
        size,
        |a| {
            let (top, bottom) = a.split_vertically(SIZE.1);
            draw_xy(&top, p)?;
            draw_xy(&bottom, residuals)
        },
        |a| {
            let (top, bottom) = a.split_vertically(SIZE.1);
            draw_xy(&top, p)?;
            draw_xy(&bottom, residuals)
        },
    )
}

/// Draw an [`XyPlot`] into `area`.
pub fn draw_xy<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &XyPlot) -> DrawResult {
    let xs = p
        .bands
        .iter()
        .flat_map(|b| b.x.iter().copied())
        .chain(p.lines.iter().flat_map(|l| l.x.iter().copied()))
        .chain(p.points.iter().flat_map(|q| q.x.iter().copied()))
        .chain(p.regions.iter().flat_map(|r| [r.x0, r.x1]));
    let ys = p
        .bands
        .iter()
        .flat_map(|b| b.lo.iter().chain(&b.hi).copied())
        .chain(p.lines.iter().flat_map(|l| l.y.iter().copied()))
        .chain(p.points.iter().flat_map(|q| {
            let e = q.y_err.clone().unwrap_or_default();
            q.y.iter()
                .enumerate()
                .flat_map(move |(i, y)| {
                    let d = e.get(i).copied().unwrap_or(0.0);
                    [y - d, y + d]
                })
                .collect::<Vec<_>>()
        }))
        .chain(p.h_lines.iter().map(|h| h.0));
    let xr = pad(finite_range(xs, false).unwrap_or((0.0, 1.0)), 0.02, false);
    let yr = pad(
        finite_range(ys, p.log_y).unwrap_or((0.1, 1.0)),
        0.05,
        p.log_y,
    );
    let mut cb = ChartBuilder::on(area);
    cb.margin(14)
        .caption(&p.title, (FONT, 22))
        .x_label_area_size(52)
        .y_label_area_size(88);
    let (mut legend, crowded) = emptiest_corner(p, xr, yr);
    // Every corner holds data (e.g. a residual scatter): make headroom for the legend.
    let labelled = p.lines.iter().any(|l| !l.label.is_empty())
        || p.bands.iter().any(|b| !b.label.is_empty())
        || p.points.iter().any(|q| !q.label.is_empty())
        || p.regions.iter().any(|r| !r.label.is_empty());
    let yr = if crowded && labelled {
        let yr = if p.log_y {
            (yr.0, yr.1 * (yr.1 / yr.0).powf(0.6))
        } else {
            (yr.0, yr.1 + 0.6 * (yr.1 - yr.0))
        };
        legend = SeriesLabelPosition::UpperRight;
        yr
    } else {
        yr
    };
    if p.log_y {
        let mut chart = cb
            .build_cartesian_2d(xr.0..xr.1, (yr.0..yr.1).log_scale())
            .map_err(err)?;
        configure(&mut chart, p)?;
        draw_series(&mut chart, p, legend)
    } else {
        let mut chart = cb.build_cartesian_2d(xr.0..xr.1, yr.0..yr.1).map_err(err)?;
        configure(&mut chart, p)?;
        draw_series(&mut chart, p, legend)
    }
}

/// The plot corner (upper right first) holding the fewest data vertices, where the legend
/// covers the least, and whether even that corner is crowded (over 1 % of the vertices).
/// Corners are the outer 40 % of the width by 35 % of the height.
fn emptiest_corner(p: &XyPlot, xr: (f64, f64), yr: (f64, f64)) -> (SeriesLabelPosition, bool) {
    let ty = |y: f64| if p.log_y { y.max(1e-300).log10() } else { y };
    let (y0, y1) = (ty(yr.0), ty(yr.1));
    let unit = |x: f64, y: f64| ((x - xr.0) / (xr.1 - xr.0), (ty(y) - y0) / (y1 - y0));
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for l in &p.lines {
        pts.extend(l.x.iter().zip(&l.y).map(|(x, y)| unit(*x, *y)));
    }
    for b in &p.bands {
        pts.extend(b.x.iter().zip(&b.lo).map(|(x, y)| unit(*x, *y)));
        pts.extend(b.x.iter().zip(&b.hi).map(|(x, y)| unit(*x, *y)));
    }
    for q in &p.points {
        pts.extend(q.x.iter().zip(&q.y).map(|(x, y)| unit(*x, *y)));
    }
    let count = |right: bool, upper: bool| {
        pts.iter()
            .filter(|(u, v)| {
                (if right { *u > 0.6 } else { *u < 0.4 })
                    && (if upper { *v > 0.65 } else { *v < 0.35 })
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, count(true, true)),
        (SeriesLabelPosition::UpperLeft, count(false, true)),
        (SeriesLabelPosition::LowerRight, count(true, false)),
        (SeriesLabelPosition::LowerLeft, count(false, false)),
    ]
    .into_iter()
    .min_by_key(|c| c.1)
    .map(|c| (c.0, c.1 * 100 > pts.len()))
    .unwrap_or((SeriesLabelPosition::UpperRight, false))
}

fn configure<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    p: &XyPlot,
) -> DrawResult {
    let (x0, x1) = (chart.x_range().start, chart.x_range().end);
    let (y0, y1) = (chart.y_range().start, chart.y_range().end);
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|v| super::format::tick_in(*v, x0, x1))
        .y_label_formatter(&|v| super::format::tick_in(*v, y0, y1))
        .draw()
        .map_err(err)
}

/// Compact tick labels: [`super::format::tick`] (plain for moderate magnitudes, `2.5×10⁻¹²`
/// otherwise).
pub fn tick(v: f64) -> String {
    super::format::tick(v)
}

fn draw_series<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    p: &XyPlot,
    legend: SeriesLabelPosition,
) -> DrawResult {
    let (y0, y1) = {
        let r = chart.y_range();
        (r.start, r.end)
    };
    let mut any_label = false;
    for r in &p.regions {
        let s = chart
            .draw_series(std::iter::once(Rectangle::new(
                [(r.x0, y0), (r.x1, y1)],
                RGBColor(120, 120, 120).mix(0.15).filled(),
            )))
            .map_err(err)?;
        if !r.label.is_empty() {
            any_label = true;
            s.label(&r.label).legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 6), (x + 18, y + 6)],
                    RGBColor(120, 120, 120).mix(0.3).filled(),
                )
            });
        }
    }
    for b in &p.bands {
        let c = color(b.color);
        let poly: Vec<(f64, f64)> =
            b.x.iter()
                .zip(&b.hi)
                .map(|(x, y)| (*x, *y))
                .chain(b.x.iter().zip(&b.lo).rev().map(|(x, y)| (*x, *y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
        let op = if b.opacity > 0.0 { b.opacity } else { 0.2 };
        let s = chart
            .draw_series(std::iter::once(Polygon::new(poly, c.mix(op).filled())))
            .map_err(err)?;
        if !b.label.is_empty() {
            any_label = true;
            s.label(&b.label).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.mix(op).filled())
            });
        }
    }
    for (v, label) in &p.h_lines {
        let x = chart.x_range();
        let s = chart
            .draw_series(LineSeries::new(
                [(x.start, *v), (x.end, *v)],
                ShapeStyle::from(&RGBColor(90, 90, 90)).stroke_width(1),
            ))
            .map_err(err)?;
        if !label.is_empty() {
            any_label = true;
            s.label(label)
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RGBColor(90, 90, 90)));
        }
    }
    for l in &p.lines {
        let c = color(l.color);
        let pts: Vec<(f64, f64)> =
            l.x.iter()
                .zip(&l.y)
                .map(|(x, y)| (*x, *y))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
        let style = ShapeStyle::from(&c).stroke_width(2);
        let s = if l.dashed {
            chart
                .draw_series(DashedLineSeries::new(pts, 8, 5, style))
                .map_err(err)?
        } else {
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(err)?
        };
        if !l.label.is_empty() {
            any_label = true;
            s.label(&l.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
        }
    }
    for q in &p.points {
        let c = color(q.color);
        let r = q.size.max(1);
        if let Some(e) = &q.y_err {
            chart
                .draw_series(q.x.iter().zip(&q.y).zip(e).map(|((x, y), d)| {
                    ErrorBar::new_vertical(*x, y - d, *y, y + d, c.stroke_width(1), 8)
                }))
                .map_err(err)?;
        }
        let s = chart
            .draw_series(
                q.x.iter()
                    .zip(&q.y)
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|(x, y)| Circle::new((*x, *y), r, c.filled())),
            )
            .map_err(err)?;
        if !q.label.is_empty() {
            any_label = true;
            s.label(&q.label)
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
        }
    }
    if any_label {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 15))
            .position(legend)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Render a [`BarPlot`] (horizontal bars; whiskers for intervals).
pub fn bar_figure(p: &BarPlot) -> Result<Figure, String> {
    let h = (SIZE.1).max(120 + 46 * p.labels.len() as u32) + bar_legend_px(p);
    both!((SIZE.0, h), draw_bars, p)
}

/// Height (px) kept free below the bars for the legend, so it never covers a bar.
fn bar_legend_px(p: &BarPlot) -> u32 {
    let k = p.series.len();
    if k > 1 || p.series.iter().any(|s| !s.0.is_empty()) {
        22 * k as u32 + 18
    } else {
        0
    }
}

fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BarPlot) -> DrawResult {
    let n = p.labels.len();
    let k = p.series.len().max(1);
    let vals = p.series.iter().flat_map(|(_, v, ci)| {
        v.iter()
            .copied()
            .chain(ci.iter().flat_map(|c| c.iter().flat_map(|(a, b)| [*a, *b])))
            .collect::<Vec<_>>()
    });
    let (lo, hi) = finite_range(vals.chain([0.0]), false).unwrap_or((0.0, 1.0));
    let (lo, hi) = pad((lo, hi), 0.05, false);
    let label_w = p
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 9
        + 20;
    // Extend the y range below the last bar by the legend's height in data units.
    let legend_px = bar_legend_px(p) as f64;
    let plot_px = (area.dim_in_pixel().1 as f64 - 110.0).max(legend_px + 50.0);
    // A multiple of ½ keeps the tick grid on the bar-group centres, where the labels go.
    let below = (2.0 * legend_px * n.max(1) as f64 / (plot_px - legend_px)).ceil() / 2.0;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .caption(&p.title, (FONT, 22))
        .x_label_area_size(52)
        .y_label_area_size(label_w.clamp(60, 320))
        .build_cartesian_2d(lo..hi, -below..n as f64)
        .map_err(err)?;
    let labels = p.labels.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(&p.x_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .y_labels(((n.max(1) as f64 + below) * 2.0) as usize + 1)
        .y_label_formatter(&move |v| {
            let pos = n as f64 - v - 0.5;
            let i = pos.round();
            if (pos - i).abs() < 0.01 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|v| super::format::tick_in(*v, lo, hi))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    let slot = 0.8 / k as f64;
    for (s, (name, v, ci)) in p.series.iter().enumerate() {
        let c = color(s);
        let rects = v.iter().enumerate().map(|(i, val)| {
            let top = n as f64 - i as f64 - 0.1 - s as f64 * slot;
            Rectangle::new([(0.0, top - slot * 0.9), (*val, top)], c.mix(0.8).filled())
        });
        let series = chart.draw_series(rects).map_err(err)?;
        if k > 1 || !name.is_empty() {
            series.label(name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.mix(0.8).filled())
            });
        }
        if let Some(ci) = ci {
            chart
                .draw_series(ci.iter().zip(v).enumerate().map(|(i, ((a, b), val))| {
                    let y = n as f64 - i as f64 - 0.1 - s as f64 * slot - slot * 0.45;
                    // The marker sits on the estimate (the bar's end), not the interval's middle.
                    ErrorBar::new_horizontal(y, *a, *val, *b, BLACK.stroke_width(1), 8)
                }))
                .map_err(err)?;
        }
    }
    if k > 1 || p.series.iter().any(|s| !s.0.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 15))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// A forest plot: one row per label (e.g. per cell), drawn top to bottom, each with a point
/// estimate and an interval on a shared x axis, over an optional shaded reference interval
/// (e.g. the prior's) with its centre line.
#[derive(Debug, Clone, Default)]
pub struct ForestPlot {
    /// Title above the chart.
    pub title: String,
    /// Axis label with unit: "E_m (eV)".
    pub x_label: String,
    /// One row label per estimate.
    pub labels: Vec<String>,
    /// Point estimates, in the x axis' unit.
    pub estimate: Vec<f64>,
    /// (lo, hi) per row.
    pub intervals: Vec<(f64, f64)>,
    /// (lo, centre, hi, label) drawn behind the rows.
    pub reference: Option<(f64, f64, f64, String)>,
}

/// Render a [`ForestPlot`] (height grows with the number of rows).
pub fn forest_figure(p: &ForestPlot) -> Result<Figure, String> {
    let h = (SIZE.1).max(130 + 24 * p.labels.len() as u32);
    both!((SIZE.0, h), draw_forest, p)
}

fn draw_forest<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &ForestPlot) -> DrawResult {
    let n = p.labels.len();
    let vals = p
        .estimate
        .iter()
        .copied()
        .chain(p.intervals.iter().flat_map(|(a, b)| [*a, *b]))
        .chain(p.reference.iter().flat_map(|r| [r.0, r.2]));
    let (lo, hi) = pad(finite_range(vals, false).unwrap_or((0.0, 1.0)), 0.05, false);
    let label_w = p
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 9
        + 20;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .caption(&p.title, (FONT, 22))
        .x_label_area_size(52)
        .y_label_area_size(label_w.clamp(60, 320))
        .build_cartesian_2d(lo..hi, 0.0..n.max(1) as f64)
        .map_err(err)?;
    let labels = p.labels.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(&p.x_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .y_labels(2 * n.max(1) + 1)
        .y_label_formatter(&move |v| {
            // Row i is centred at n − i − ½.
            let pos = n as f64 - v - 0.5;
            let i = pos.round();
            if (pos - i).abs() < 0.01 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|v| super::format::tick_in(*v, lo, hi))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    if let Some((a, c, b, label)) = &p.reference {
        let shade = color(7);
        chart
            .draw_series([Rectangle::new(
                [(*a, 0.0), (*b, n.max(1) as f64)],
                shade.mix(0.15).filled(),
            )])
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], shade.mix(0.3).filled())
            });
        chart
            .draw_series(LineSeries::new(
                [(*c, 0.0), (*c, n.max(1) as f64)],
                shade.stroke_width(1),
            ))
            .map_err(err)?;
    }
    let c = color(0);
    chart
        .draw_series(
            p.intervals
                .iter()
                .zip(&p.estimate)
                .enumerate()
                .map(|(i, ((a, b), v))| {
                    let y = n as f64 - i as f64 - 0.5;
                    ErrorBar::new_horizontal(y, *a, *v, *b, c.stroke_width(2), 8)
                }),
        )
        .map_err(err)?;
    chart
        .draw_series(
            p.estimate
                .iter()
                .enumerate()
                .map(|(i, v)| Circle::new((*v, n as f64 - i as f64 - 0.5), 4, c.filled())),
        )
        .map_err(err)?;
    if p.reference.is_some() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Render a [`HistPlot`] (density-normalised histogram + overlays).
pub fn hist_figure(p: &HistPlot) -> Result<Figure, String> {
    both!(SIZE, draw_hist, p)
}

/// Render an overview panel (e.g. prior and posterior on the prior's scale) above a zoomed
/// [`HistPlot`], for a posterior so much narrower than its prior that one axis cannot show both.
pub fn hist_with_overview(overview: &XyPlot, zoom: &HistPlot) -> Result<Figure, String> {
    let top_h = SIZE.1 * 3 / 4;
    render_with(
        (SIZE.0, SIZE.1 + top_h),
        |a| {
            let (top, bottom) = a.split_vertically(top_h);
            draw_xy(&top, overview)?;
            draw_hist(&bottom, zoom)
        },
        |a| {
            let (top, bottom) = a.split_vertically(top_h);
            draw_xy(&top, overview)?;
            draw_hist(&bottom, zoom)
        },
    )
}

/// Two x–y plots stacked: `top` at the usual size, `bottom` `bottom_h` px tall beneath it.
pub fn xy_stack(top: &XyPlot, bottom: &XyPlot, bottom_h: u32) -> Result<Figure, String> {
    render_with(
        (SIZE.0, SIZE.1 + bottom_h),
        |a| {
            let (t, b) = a.split_vertically(SIZE.1);
            draw_xy(&t, top)?;
            draw_xy(&b, bottom)
        },
        |a| {
            let (t, b) = a.split_vertically(SIZE.1);
            draw_xy(&t, top)?;
            draw_xy(&b, bottom)
        },
    )
}

/// Silverman's rule-of-thumb bandwidth for a Gaussian kernel density estimate,
/// h = 0.9·min(sd, IQR/1.34)·n^(−1/5) (Silverman 1986, eq. 3.31), in the samples' unit; 0 for
/// fewer than two distinct finite samples.
pub fn silverman_bandwidth(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n < 2 {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let q = |p: f64| {
        let h = p * (n - 1) as f64;
        let i = h.floor() as usize;
        let f = h - i as f64;
        v[i] + f * (v[(i + 1).min(n - 1)] - v[i])
    };
    let iqr = q(0.75) - q(0.25);
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    0.9 * spread * (n as f64).powf(-0.2)
}

/// Gaussian kernel density estimate of `samples` on `grid` with Silverman's bandwidth
/// ([`silverman_bandwidth`]): f(x) = (1/(n h)) Σ φ((x − x_i)/h), in 1/(unit of the samples).
/// All zeros when the bandwidth is 0.
pub fn kde(samples: &[f64], grid: &[f64]) -> Vec<f64> {
    let h = silverman_bandwidth(samples);
    let v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if h <= 0.0 || v.is_empty() {
        return vec![0.0; grid.len()];
    }
    let c = 1.0 / (v.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt());
    grid.iter()
        .map(|&x| {
            c * v
                .iter()
                .map(|&xi| {
                    let u = (x - xi) / h;
                    (-0.5 * u * u).exp()
                })
                .sum::<f64>()
        })
        .collect()
}

/// Density-normalised histogram heights: (edges, heights).
pub fn histogram(samples: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    let bins = bins.max(1);
    let Some((lo, hi)) = finite_range(samples.iter().copied(), false) else {
        return (vec![0.0, 1.0], vec![0.0]);
    };
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0.0; bins];
    let mut n = 0.0;
    for &s in samples.iter().filter(|s| s.is_finite()) {
        let k = (((s - lo) / w) as usize).min(bins - 1);
        counts[k] += 1.0;
        n += 1.0;
    }
    let edges = (0..=bins).map(|k| lo + k as f64 * w).collect();
    (edges, counts.iter().map(|c| c / (n * w)).collect())
}

fn draw_hist<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &HistPlot) -> DrawResult {
    let (edges, h) = histogram(&p.samples, if p.bins == 0 { 40 } else { p.bins });
    let mut plot = XyPlot {
        title: p.title.clone(),
        x_label: p.x_label.clone(),
        y_label: format!("density (1/{})", unit_of(&p.x_label)),
        lines: p.curves.clone(),
        ..Default::default()
    };
    // Bars as a band from 0 to the height, step-shaped.
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (k, hk) in h.iter().enumerate() {
        x.extend([edges[k], edges[k + 1]]);
        y.extend([*hk, *hk]);
    }
    plot.bands.push(Band {
        label: "samples".into(),
        lo: vec![0.0; x.len()],
        hi: y,
        x,
        color: 0,
        opacity: 0.45,
    });
    for (v, label) in &p.v_lines {
        let top = h.iter().copied().fold(0.0, f64::max) * 1.05;
        plot.lines.push(Line {
            label: label.clone(),
            x: vec![*v, *v],
            y: vec![0.0, top],
            color: 7,
            dashed: true,
        });
    }
    draw_xy(area, &plot)
}

/// The unit in a label of the form "name (unit)", or "unit" when none is given.
pub fn unit_of(label: &str) -> String {
    match (label.rfind('('), label.ends_with(')')) {
        (Some(a), true) => label[a + 1..label.len() - 1].to_string(),
        _ => "unit".into(),
    }
}

/// Trace plot: one line per chain.
pub fn trace_figure(title: &str, y_label: &str, chains: &[Vec<f64>]) -> Result<Figure, String> {
    let p = XyPlot {
        title: title.into(),
        x_label: "draw (after warm-up)".into(),
        y_label: y_label.into(),
        lines: chains
            .iter()
            .enumerate()
            .map(|(c, v)| Line {
                label: format!("chain {}", c + 1),
                x: (0..v.len()).map(|i| i as f64).collect(),
                y: v.clone(),
                color: c,
                dashed: false,
            })
            .collect(),
        ..Default::default()
    };
    xy_figure(&p)
}

/// Pair (corner) plot: marginal histograms on the diagonal, scatter of pairs below it.
/// `columns` are (label with unit, samples).
pub fn pair_figure(title: &str, columns: &[(String, Vec<f64>)]) -> Result<Figure, String> {
    let k = columns.len().max(1) as u32;
    let cell = (900 / k).clamp(160, 300);
    let size = (cell * k + 20, cell * k + 60);
    both!(size, draw_pairs, title, columns)
}

fn draw_pairs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    columns: &[(String, Vec<f64>)],
) -> DrawResult {
    let area = area.titled(title, (FONT, 22)).map_err(err)?;
    let k = columns.len();
    let cells = area.split_evenly((k, k));
    for i in 0..k {
        for j in 0..k {
            let a = &cells[i * k + j];
            if j > i {
                continue;
            }
            let (xl, xs) = &columns[j];
            let xr = pad(
                finite_range(xs.iter().copied(), false).unwrap_or((0.0, 1.0)),
                0.05,
                false,
            );
            let x_desc = if i == k - 1 { xl.as_str() } else { "" };
            if i == j {
                let (edges, h) = histogram(xs, 30);
                let top = h.iter().copied().fold(0.0, f64::max) * 1.1;
                let mut chart = ChartBuilder::on(a)
                    .margin(6)
                    .x_label_area_size(if i == k - 1 { 40 } else { 16 })
                    .y_label_area_size(16)
                    .build_cartesian_2d(xr.0..xr.1, 0.0..top.max(1e-300))
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .y_labels(0)
                    .x_labels(4)
                    .x_desc(x_desc)
                    .label_style((FONT, 11))
                    .axis_desc_style((FONT, 13))
                    .x_label_formatter(&|v| tick(*v))
                    .draw()
                    .map_err(err)?;
                chart
                    .draw_series(h.iter().enumerate().map(|(b, hb)| {
                        Rectangle::new(
                            [(edges[b], 0.0), (edges[b + 1], *hb)],
                            color(0).mix(0.6).filled(),
                        )
                    }))
                    .map_err(err)?;
            } else {
                let (yl, ys) = &columns[i];
                let yr = pad(
                    finite_range(ys.iter().copied(), false).unwrap_or((0.0, 1.0)),
                    0.05,
                    false,
                );
                let mut chart = ChartBuilder::on(a)
                    .margin(6)
                    .x_label_area_size(if i == k - 1 { 40 } else { 16 })
                    .y_label_area_size(if j == 0 { 56 } else { 16 })
                    .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_labels(4)
                    .y_labels(if j == 0 { 4 } else { 0 })
                    .x_desc(x_desc)
                    .y_desc(if j == 0 { yl.as_str() } else { "" })
                    .label_style((FONT, 11))
                    .axis_desc_style((FONT, 13))
                    .x_label_formatter(&|v| super::format::tick_in(*v, xr.0, xr.1))
                    .y_label_formatter(&|v| super::format::tick_in(*v, yr.0, yr.1))
                    .draw()
                    .map_err(err)?;
                let stride = (xs.len() / 2000).max(1);
                chart
                    .draw_series(
                        xs.iter()
                            .zip(ys)
                            .step_by(stride)
                            .map(|(x, y)| Circle::new((*x, *y), 1, color(0).mix(0.35).filled())),
                    )
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_svg_and_png_with_text() {
        let x: Vec<f64> = (0..50).map(|i| i as f64 / 49.0).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.4 + 0.1 * (v - 0.5)).collect();
        let p = XyPlot {
            title: "OCV".into(),
            x_label: "x (site fraction)".into(),
            y_label: "U (V)".into(),
            bands: vec![Band {
                label: "95 %".into(),
                x: x.clone(),
                lo: y.iter().map(|v| v - 0.02).collect(),
                hi: y.iter().map(|v| v + 0.02).collect(),
                color: 0,
                opacity: 0.2,
            }],
            lines: vec![Line {
                label: "mean".into(),
                x: x.clone(),
                y,
                color: 0,
                dashed: false,
            }],
            regions: vec![XRegion {
                label: "two-phase".into(),
                x0: 0.2,
                x1: 0.8,
            }],
            ..Default::default()
        };
        let f = xy_figure(&p).unwrap();
        assert!(
            f.svg.contains("<svg")
                && f.svg.contains("site fraction")
                && f.svg.contains("two-phase")
        );
        assert!(f.png.len() > 1000 && f.png.starts_with(&[0x89, b'P', b'N', b'G']));
        let b = bar_figure(&BarPlot {
            title: "S".into(),
            x_label: "index (1)".into(),
            labels: vec!["E_m".into(), "nu0".into()],
            series: vec![(
                "S1".into(),
                vec![0.7, 0.2],
                Some(vec![(0.65, 0.75), (0.15, 0.25)]),
            )],
        })
        .unwrap();
        assert!(b.svg.contains("E_m"));
        let h = hist_figure(&HistPlot {
            title: "m".into(),
            x_label: "E_m (eV)".into(),
            samples: (0..1000).map(|i| (i as f64 * 0.618).fract()).collect(),
            bins: 20,
            ..Default::default()
        })
        .unwrap();
        assert!(h.svg.contains("density (1/eV)"));
        let c = pair_figure(
            "pairs",
            &[
                ("a (1)".into(), vec![1.0, 2.0, 3.0]),
                ("b (1)".into(), vec![2.0, 1.0, 3.0]),
            ],
        )
        .unwrap();
        assert!(c.png.len() > 1000);
    }

    #[test]
    fn legend_goes_to_the_emptiest_corner() {
        // A rising line fills the lower-left and upper-right corners.
        let x: Vec<f64> = (0..=100).map(|k| k as f64 / 100.0).collect();
        let mut p = XyPlot {
            lines: vec![Line {
                label: "rising".into(),
                x: x.clone(),
                y: x.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (pos, crowded) = emptiest_corner(&p, (0.0, 1.0), (0.0, 1.0));
        assert!(matches!(pos, SeriesLabelPosition::UpperLeft), "{pos:?}");
        assert!(!crowded);
        // A scatter over the whole plot leaves no free corner.
        p.points.push(Points {
            label: "scatter".into(),
            x: (0..400).map(|k| (k % 20) as f64 / 19.0).collect(),
            y: (0..400).map(|k| (k / 20) as f64 / 19.0).collect(),
            ..Default::default()
        });
        assert!(emptiest_corner(&p, (0.0, 1.0), (0.0, 1.0)).1);
    }

    #[test]
    fn ticks_are_compact() {
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(1.5e-9), "1.5×10⁻⁹");
    }
}
