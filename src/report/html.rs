//! One self-contained HTML file per run: SVG figures inline, no scripts, no network access, opens
//! from disk. Each figure is also written beside it as SVG and PNG with the CSV behind it.

use super::plots::Figure;
use crate::output::write_atomic;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A table; rows listed in `warn_rows` are highlighted.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub warn_rows: Vec<usize>,
}

/// A figure with the data behind it.
#[derive(Debug, Clone)]
pub struct ReportFigure {
    /// File stem: `figures/<name>.svg|png|csv`.
    pub name: String,
    pub caption: String,
    pub figure: Figure,
    /// The CSV behind the figure (with a header naming columns and units).
    pub csv: String,
}

/// A block of content.
#[derive(Debug, Clone)]
pub enum Block {
    Paragraph(String),
    /// Highlighted plain-language warning.
    Warning(String),
    Table(Table),
    Figure(ReportFigure),
    /// Preformatted text (e.g. a priors file's source).
    Pre(String),
}

/// A titled section.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// A report: sections plus provenance (priors files and their sources, data files, seed,
/// version, settings).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub title: String,
    pub subtitle: String,
    pub sections: Vec<Section>,
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
dl.prov dt { font-weight: bold; margin-top: 0.4em; } dl.prov dd { margin-left: 1.2em; white-space: pre-wrap; font-family: monospace; font-size: 0.88em; }
"#;

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

/// The HTML text of a report (figures inline).
pub fn render_html(r: &Report) -> String {
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
    for sec in &r.sections {
        let _ = writeln!(s, "<h2>{}</h2>", esc(&sec.heading));
        for b in &sec.blocks {
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
                Block::Figure(f) => {
                    let _ = writeln!(
                        s,
                        "<figure id=\"fig-{n}\">{svg}<figcaption>{cap} <a href=\"figures/{n}.svg\">SVG</a><a href=\"figures/{n}.png\">PNG</a><a href=\"figures/{n}.csv\">data (CSV)</a></figcaption></figure>",
                        n = esc(&f.name),
                        svg = strip_xml_decl(&f.figure.svg),
                        cap = esc(&f.caption)
                    );
                }
            }
        }
    }
    if !r.provenance.is_empty() {
        s.push_str("<h2>Provenance</h2>\n<dl class=\"prov\">");
        for (k, v) in &r.provenance {
            let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
        s.push_str("</dl>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// Write `report.html` and `figures/NAME.{svg,png,csv}` into `dir`, each atomically. Returns the
/// path of the HTML file.
pub fn write_report(dir: &Path, r: &Report) -> std::io::Result<PathBuf> {
    let fig_dir = dir.join("figures");
    crate::output::create_dir_all(&fig_dir)?;
    for sec in &r.sections {
        for b in &sec.blocks {
            if let Block::Figure(f) = b {
                write_atomic(
                    &fig_dir.join(format!("{}.svg", f.name)),
                    f.figure.svg.as_bytes(),
                )?;
                write_atomic(&fig_dir.join(format!("{}.png", f.name)), &f.figure.png)?;
                write_atomic(&fig_dir.join(format!("{}.csv", f.name)), f.csv.as_bytes())?;
            }
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
}
