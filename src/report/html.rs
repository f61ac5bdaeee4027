//! One self-contained HTML file per run: SVG figures inline, no scripts, no network access, opens
//! from disk. Each figure is also written beside it as SVG and PNG with the CSV behind it.
//!
//! Layout: the title, a table of contents, then one part per run (an `<h2>`): its summary first
//! (what was run, the key numbers, the warnings), then its details (`<h3>` subsections). Every
//! heading and figure has a unique id, which the table of contents links to.

use super::plots::Figure;
use crate::output::write_atomic;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A table; rows listed in `warn_rows` are highlighted.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Title shown above the table.
    pub caption: String,
    /// Column headings (with units where the column has one).
    pub header: Vec<String>,
    /// Cells, already formatted (see [`super::format`]).
    pub rows: Vec<Vec<String>>,
    /// Indices into `rows` of the rows to highlight as warnings.
    pub warn_rows: Vec<usize>,
}

/// A figure with the data behind it.
#[derive(Debug, Clone)]
pub struct ReportFigure {
    /// File stem: `figures/<name>.svg|png|csv`.
    pub name: String,
    /// Caption under the figure: what is drawn, in words.
    pub caption: String,
    /// The rendered SVG and PNG.
    pub figure: Figure,
    /// The CSV behind the figure (with a header naming columns and units).
    pub csv: String,
}

/// A block of content.
#[derive(Debug, Clone)]
pub enum Block {
    /// Plain text.
    Paragraph(String),
    /// Highlighted plain-language warning.
    Warning(String),
    /// A table.
    Table(Table),
    /// A figure with its caption and the CSV behind it.
    Figure(ReportFigure),
    /// Preformatted text (e.g. a priors file's source).
    Pre(String),
    /// Text quoted verbatim from the study's author (a priors file's `source`): shown as a
    /// quotation, its names as the author wrote them.
    Quote(String),
}

/// A titled section: its blocks, then its subsections. A report's top-level sections are its
/// parts (one per run, `<h2>`), whose blocks are the run's summary and whose subsections
/// (`<h3>`) are the details.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Heading text (a human label, no internal names).
    pub heading: String,
    /// Content shown under the heading, before any subsection.
    pub blocks: Vec<Block>,
    /// Detail sections, one level down.
    pub subsections: Vec<Section>,
}

impl Section {
    /// A section with blocks and no subsections.
    pub fn new(heading: impl Into<String>, blocks: Vec<Block>) -> Self {
        Self {
            heading: heading.into(),
            blocks,
            subsections: vec![],
        }
    }

    /// One run's part: `summary` (what was run, key numbers, warnings) first, then `details`.
    pub fn part(heading: impl Into<String>, summary: Vec<Block>, details: Vec<Section>) -> Self {
        Self {
            heading: heading.into(),
            blocks: summary,
            subsections: details,
        }
    }

    /// Every figure of this section and its subsections, mutably (for renaming files).
    pub fn figures_mut(&mut self) -> Vec<&mut ReportFigure> {
        let mut v: Vec<&mut ReportFigure> = self
            .blocks
            .iter_mut()
            .filter_map(|b| match b {
                Block::Figure(f) => Some(f),
                _ => None,
            })
            .collect();
        for s in &mut self.subsections {
            v.extend(s.figures_mut());
        }
        v
    }

    fn figures(&self) -> Vec<&ReportFigure> {
        let mut v: Vec<&ReportFigure> = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Figure(f) => Some(f),
                _ => None,
            })
            .collect();
        for s in &self.subsections {
            v.extend(s.figures());
        }
        v
    }
}

/// A report: sections plus provenance (priors files and their sources, data files, seed,
/// version, settings).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Page title (`<h1>`).
    pub title: String,
    /// One line under the title: what the report covers.
    pub subtitle: String,
    /// The parts, in order (see [`Section`]).
    pub sections: Vec<Section>,
    /// (what, value) pairs listed at the end: priors files, data files, seed, version, settings.
    pub provenance: Vec<(String, String)>,
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", Verdana, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; } th { background: #f1f4f8; }
td:first-child, th:first-child { text-align: left; }
tr.warn td { background: #fff1e0; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3em; }
.warning { background: #fff1e0; border-left: 5px solid #d55e00; padding: 0.5em 0.8em; margin: 0.8em 0; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.92em; color: #444; } figcaption a { margin-right: 0.6em; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; font-size: 0.88em; }
blockquote.source { margin: 0.8em 0; padding: 0.4em 0.9em; border-left: 4px solid #ccd6e0; color: #444; font-size: 0.92em; }
nav.toc { background: #f7f9fb; border: 1px solid #dde3ea; padding: 0.4em 1em; margin: 1em 0 2em; font-size: 0.95em; }
nav.toc .toc-title { font-weight: bold; margin: 0.3em 0; } nav.toc ol { margin: 0.2em 0; padding-left: 1.4em; } nav.toc ol ol { font-size: 0.92em; }
h3 { margin-top: 1.6em; color: #333; }
dl.prov dt { font-weight: bold; margin-top: 0.4em; } dl.prov dd { margin-left: 1.2em; white-space: pre-wrap; font-family: monospace; font-size: 0.88em; }
"#;

/// Width of a double-column journal figure (mm): the figure files are sized to it.
pub const JOURNAL_WIDTH_MM: f64 = 180.0;

/// The SVG with a physical size: `width_mm` wide, the height in proportion, the drawing scaled
/// through its viewBox (an 880 px figure at 180 mm puts 14 px tick labels at 8 pt). Returned
/// unchanged when its root has no pixel width and height.
pub fn svg_at_width(svg: &str, width_mm: f64) -> String {
    let Some(start) = svg.find("<svg") else {
        return svg.to_string();
    };
    let Some(end) = svg[start..].find('>').map(|e| start + e) else {
        return svg.to_string();
    };
    let root = &svg[start..end];
    let attr = |name: &str| -> Option<(usize, usize, f64)> {
        let key = format!(" {name}=\"");
        let i = root.find(&key)? + key.len();
        let j = i + root[i..].find('"')?;
        let v = root[i..j].trim_end_matches("px").parse::<f64>().ok()?;
        Some((i, j, v))
    };
    let (Some(w), Some(h)) = (attr("width"), attr("height")) else {
        return svg.to_string();
    };
    let height_mm = width_mm * h.2 / w.2;
    let mut new_root = root.to_string();
    // Replace the later attribute first so the earlier one's offsets stay valid.
    let (first, second, fv, sv) = if w.0 < h.0 {
        (w, h, format!("{width_mm}mm"), format!("{height_mm:.1}mm"))
    } else {
        (h, w, format!("{height_mm:.1}mm"), format!("{width_mm}mm"))
    };
    new_root.replace_range(second.0..second.1, &sv);
    new_root.replace_range(first.0..first.1, &fv);
    if !root.contains("viewBox") {
        new_root.push_str(&format!(" viewBox=\"0 0 {} {}\"", w.2, h.2));
    }
    format!("{}{}{}", &svg[..start], new_root, &svg[end..])
}

fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn table_html(t: &Table) -> String {
    let mut s = String::from("<table>");
    if !t.caption.is_empty() {
        let _ = write!(s, "<caption>{}</caption>", esc(&t.caption));
    }
    s.push_str("<thead><tr>");
    for h in &t.header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for (i, r) in t.rows.iter().enumerate() {
        s.push_str(if t.warn_rows.contains(&i) {
            "<tr class=\"warn\">"
        } else {
            "<tr>"
        });
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>\n");
    s
}

/// A heading's id: lower-case words joined by `-`, unique in the page (`-2`, `-3`, … appended).
fn unique_id(used: &mut std::collections::HashSet<String>, text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug
        .trim_end_matches('-')
        .chars()
        .take(60)
        .collect::<String>();
    let slug = if slug.is_empty() {
        "section".into()
    } else {
        slug
    };
    let mut id = slug.clone();
    let mut k = 2;
    while !used.insert(id.clone()) {
        id = format!("{slug}-{k}");
        k += 1;
    }
    id
}

fn blocks_html(s: &mut String, blocks: &[Block], used: &mut std::collections::HashSet<String>) {
    for b in blocks {
        match b {
            Block::Paragraph(p) => {
                let _ = writeln!(s, "<p>{}</p>", esc(p));
            }
            Block::Warning(w) => {
                let _ = writeln!(s, "<div class=\"warning\">⚠ {}</div>", esc(w));
            }
            Block::Table(t) => s.push_str(&table_html(t)),
            Block::Pre(p) => {
                let _ = writeln!(s, "<pre>{}</pre>", esc(p));
            }
            Block::Quote(q) => {
                let _ = writeln!(s, "<blockquote class=\"source\">{}</blockquote>", esc(q));
            }
            Block::Figure(f) => {
                let id = unique_id(used, &format!("fig-{}", f.name));
                let _ = writeln!(
                    s,
                    "<figure id=\"{id}\">{svg}<figcaption>{cap} <a href=\"figures/{n}.svg\">SVG</a><a href=\"figures/{n}.png\">PNG</a><a href=\"figures/{n}.csv\">data (CSV)</a></figcaption></figure>",
                    n = esc(&f.name),
                    svg = strip_xml_decl(&f.figure.svg),
                    cap = esc(&f.caption)
                );
            }
        }
    }
}

/// The HTML text of a report (figures inline): title, table of contents, the parts (each a
/// summary then its details), provenance.
pub fn render_html(r: &Report) -> String {
    let mut used = std::collections::HashSet::new();
    // Ids first, so that the table of contents can link to them.
    let ids: Vec<(String, Vec<String>)> = r
        .sections
        .iter()
        .map(|sec| {
            let id = unique_id(&mut used, &sec.heading);
            let subs = sec
                .subsections
                .iter()
                .map(|sub| {
                    // The part's first words keep the id short and readable.
                    let part: Vec<&str> = sec.heading.split_whitespace().take(4).collect();
                    unique_id(&mut used, &format!("{} {}", part.join(" "), sub.heading))
                })
                .collect();
            (id, subs)
        })
        .collect();
    let prov_id = unique_id(&mut used, "provenance");
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>\n",
        esc(&r.title),
        STYLE
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&r.title));
    if !r.subtitle.is_empty() {
        let _ = writeln!(s, "<p class=\"subtitle\">{}</p>", esc(&r.subtitle));
    }
    s.push_str("<nav class=\"toc\"><p class=\"toc-title\">Contents</p><ol>\n");
    for (sec, (id, subs)) in r.sections.iter().zip(&ids) {
        let _ = write!(s, "<li><a href=\"#{id}\">{}</a>", esc(&sec.heading));
        if !sec.subsections.is_empty() {
            s.push_str("<ol>");
            for (sub, sid) in sec.subsections.iter().zip(subs) {
                let _ = write!(s, "<li><a href=\"#{sid}\">{}</a></li>", esc(&sub.heading));
            }
            s.push_str("</ol>");
        }
        s.push_str("</li>\n");
    }
    if !r.provenance.is_empty() {
        let _ = writeln!(s, "<li><a href=\"#{prov_id}\">Provenance</a></li>");
    }
    s.push_str("</ol></nav>\n");
    for (sec, (id, subs)) in r.sections.iter().zip(&ids) {
        let _ = writeln!(s, "<section><h2 id=\"{id}\">{}</h2>", esc(&sec.heading));
        blocks_html(&mut s, &sec.blocks, &mut used);
        for (sub, sid) in sec.subsections.iter().zip(subs) {
            let _ = writeln!(s, "<h3 id=\"{sid}\">{}</h3>", esc(&sub.heading));
            blocks_html(&mut s, &sub.blocks, &mut used);
            // Deeper levels are not used; their content is shown at this level.
            for deeper in &sub.subsections {
                let _ = writeln!(s, "<h4>{}</h4>", esc(&deeper.heading));
                blocks_html(&mut s, &deeper.blocks, &mut used);
            }
        }
        s.push_str("</section>\n");
    }
    if !r.provenance.is_empty() {
        let _ = writeln!(
            s,
            "<h2 id=\"{prov_id}\">Provenance</h2>\n<dl class=\"prov\">"
        );
        for (k, v) in &r.provenance {
            let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
        s.push_str("</dl>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// Write `report.html` and `figures/NAME.{svg,png,csv}` into `dir`, each atomically; the SVG
/// files are sized to a double-column journal figure ([`JOURNAL_WIDTH_MM`]). Returns the path
/// of the HTML file.
pub fn write_report(dir: &Path, r: &Report) -> std::io::Result<PathBuf> {
    let fig_dir = dir.join("figures");
    crate::output::create_dir_all(&fig_dir)?;
    for sec in &r.sections {
        for f in sec.figures() {
            write_atomic(
                &fig_dir.join(format!("{}.svg", f.name)),
                svg_at_width(&f.figure.svg, JOURNAL_WIDTH_MM).as_bytes(),
            )?;
            write_atomic(&fig_dir.join(format!("{}.png", f.name)), &f.figure.png)?;
            write_atomic(&fig_dir.join(format!("{}.csv", f.name)), f.csv.as_bytes())?;
        }
    }
    let html = dir.join("report.html");
    write_atomic(&html, render_html(r).as_bytes())?;
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_inlines() {
        let r = Report {
            title: "a < b".into(),
            sections: vec![Section {
                heading: "S".into(),
                subsections: vec![],
                blocks: vec![
                    Block::Warning("R-hat > 1.01".into()),
                    Block::Table(Table {
                        header: vec!["p".into(), "v".into()],
                        rows: vec![vec!["x".into(), "1 ± 2".into()]],
                        warn_rows: vec![0],
                        ..Default::default()
                    }),
                ],
            }],
            provenance: vec![("seed".into(), "42".into())],
            ..Default::default()
        };
        let h = render_html(&r);
        assert!(
            h.contains("a &lt; b")
                && h.contains("R-hat &gt; 1.01")
                && h.contains("tr class=\"warn\"")
        );
        assert!(!h.contains("<script") && !h.contains("http"));
    }

    #[test]
    fn svg_sized_in_millimetres() {
        let svg =
            "<?xml version=\"1.0\"?>\n<svg width=\"880\" height=\"540\" xmlns=\"x\"><rect/></svg>";
        let s = svg_at_width(svg, 180.0);
        assert!(
            s.contains(
                "<svg width=\"180mm\" height=\"110.5mm\" xmlns=\"x\" viewBox=\"0 0 880 540\">"
            ),
            "{s}"
        );
        assert_eq!(
            svg_at_width("<svg><rect/></svg>", 180.0),
            "<svg><rect/></svg>"
        );
    }

    #[test]
    fn table_of_contents_links_unique_ids() {
        let sec = |h: &str| Section::part(h, vec![], vec![Section::new("Outputs", vec![])]);
        let r = Report {
            title: "t".into(),
            sections: vec![sec("Run A"), sec("Run B"), sec("Run A")],
            ..Default::default()
        };
        let h = render_html(&r);
        for id in [
            "run-a",
            "run-b",
            "run-a-2",
            "run-a-outputs",
            "run-b-outputs",
            "run-a-outputs-2",
        ] {
            assert!(h.contains(&format!("href=\"#{id}\"")), "no link to {id}");
            assert!(h.contains(&format!("id=\"{id}\"")), "no id {id}");
        }
    }
}
