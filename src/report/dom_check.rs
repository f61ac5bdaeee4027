//! The report as a reader's browser lays it out: headless Chromium loads a copy of `report.html`
//! with a checking script appended, and the script writes what it finds into the page, which
//! `--dump-dom` returns. What is checked, from the laid-out DOM (not from our own strings):
//!
//! - every figure has a visible plot area at least 100 × 60 px holding drawn data (a line,
//!   polygon, circle or bar beyond the background and the axes);
//! - no two texts of one SVG overlap (bounding boxes from `getBoundingClientRect`, so rotated
//!   axis titles count as laid out);
//! - no internal names in the text a reader sees (`name[x=0.98999…]`, `snake_case_vs_names`,
//!   floats printed to 16 digits); code, file paths, text quoted from the study's author and the
//!   provenance listing are exempt;
//! - no exponent-zero or zero-padded exponent number format (`3.45e0`, `1e+00`, `2.0e-05`);
//! - no degenerate interval (`[17.60, 17.60]`: rounded until both ends are the same);
//! - a table of contents whose every link resolves to exactly one element id, and no id used twice.
//!
//! Test-only: the test that runs it needs Debian's chromium and is `#[ignore]`d in a plain
//! `cargo test` (`.ci/run` runs it by name).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The checking script: appends `<pre id="bridgelaw-dom-check">` with one problem per line (or
/// `OK n_figures n_toc_links`).
const SCRIPT: &str = r#"
(function () {
  const problems = [];
  const say = (s) => problems.push(s.replace(/\s+/g, ' ').slice(0, 300));
  const exempt = (el) => !!el.closest('pre, code, .prov, figcaption a, .path, blockquote.source, script, style');
  // 1. Figures: visible plot area with drawn data.
  const figs = Array.from(document.querySelectorAll('figure'));
  figs.forEach((f, i) => {
    const name = f.id || ('figure ' + (i + 1));
    const svg = f.querySelector('svg');
    if (!svg) { say(name + ': no inline SVG'); return; }
    const r = svg.getBoundingClientRect();
    const cs = getComputedStyle(svg);
    if (r.width < 100 || r.height < 60 || cs.display === 'none' || cs.visibility === 'hidden') {
      say(name + ': plot area not visible (' + Math.round(r.width) + ' × ' + Math.round(r.height) + ' px)');
      return;
    }
    let drawn = 0;
    svg.querySelectorAll('polyline, polygon, circle, path, rect').forEach((e) => {
      const b = e.getBoundingClientRect();
      const fill = e.getAttribute('fill') || '';
      const stroke = e.getAttribute('stroke') || '';
      // The background rectangle covers the whole figure; axes and grid are grey or black lines.
      if (b.width >= r.width - 2 && b.height >= r.height - 2) return;
      if (b.width <= 0 && b.height <= 0) return;
      const grey = (c) => /^#([0-9A-Fa-f]{2})\1\1$/.test(c) || c === 'none' || c === '';
      if (grey(fill) && grey(stroke)) return;
      drawn++;
    });
    if (drawn === 0) say(name + ': empty plot area (no data drawn)');
  });
  // 2. Overlapping text within one SVG.
  document.querySelectorAll('svg').forEach((svg, si) => {
    const fig = svg.closest('figure');
    const name = fig ? (fig.id || 'figure') : ('svg ' + si);
    const ts = Array.from(svg.querySelectorAll('text'))
      .filter((t) => t.textContent.trim() !== '')
      .map((t) => ({ t: t.textContent.trim(), b: t.getBoundingClientRect() }))
      .filter((x) => x.b.width > 0 && x.b.height > 0);
    let n = 0;
    for (let a = 0; a < ts.length; a++) {
      for (let c = a + 1; c < ts.length; c++) {
        const A = ts[a].b, B = ts[c].b;
        const w = Math.min(A.right, B.right) - Math.max(A.left, B.left);
        const h = Math.min(A.bottom, B.bottom) - Math.max(A.top, B.top);
        // Font boxes include the line gap: a sliver of 2 px is not an overlap a reader sees.
        if (w > 2 && h > 0.3 * Math.min(A.height, B.height)) {
          if (n++ < 3) say(name + ': text "' + ts[a].t + '" overlaps "' + ts[c].t + '"');
        }
      }
    }
  });
  // 3./4./5. Text a reader sees: internal names, exponent-zero numbers, degenerate intervals.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || exempt(el) || el.closest('#bridgelaw-dom-check, style')) continue;
    const s = node.textContent;
    if (s.trim() !== '') texts.push(s);
  }
  const seen = new Set();
  const flag = (kind, m) => {
    const key = kind + m;
    if (seen.has(key)) return;
    seen.add(key);
    say(kind + ': ' + m);
  };
  texts.forEach((s) => {
    // Paths and file names are not labels.
    const words = s.split(/\s+/).filter((w) => !/[\/\\]|\.(toml|csv|json|svg|png|html)\b/.test(w));
    const t = words.join(' ');
    let m;
    const internal = [
      /[A-Za-z][\w]*\[[A-Za-z]\w*=[^\]]*\]/g,                    // U[x=0.98]
      /\b[A-Za-z0-9]+_vs_[A-Za-z0-9_]+\b/g,                       // D_tr_vs_T
      /\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+){2,}\b/g,           // capacity_1C_25C
      /\d\.\d*(?:9{6,}|0{6,})\d\b/g,                               // 0.9899999999999999
    ];
    internal.forEach((re) => { while ((m = re.exec(t)) !== null) flag('internal name', m[0] + ' in "' + t.trim().slice(Math.max(0, m.index - 40), m.index + 60) + '"'); });
    const expo = /\d[eE][+-]?0\d*\b/g;
    while ((m = expo.exec(t)) !== null) flag('exponent-zero number format', m[0] + ' in "' + t.trim().slice(0, 80) + '"');
    const degenerate = /\[\s*([-+−]?[\d.,]+(?:[eE][-+]?\d+)?)\s*,\s*\1\s*\]/g;
    while ((m = degenerate.exec(t)) !== null) flag('degenerate interval', m[0]);
  });
  // 6. Table of contents and ids.
  const ids = new Map();
  document.querySelectorAll('[id]').forEach((e) => ids.set(e.id, (ids.get(e.id) || 0) + 1));
  ids.forEach((k, id) => { if (k > 1 && id !== 'bridgelaw-dom-check') say('duplicate id: ' + id); });
  const toc = document.querySelector('nav.toc');
  let links = 0;
  if (!toc) say('no table of contents (nav.toc)');
  else {
    toc.querySelectorAll('a').forEach((a) => {
      links++;
      const h = a.getAttribute('href') || '';
      if (!h.startsWith('#') || !document.getElementById(decodeURIComponent(h.slice(1))))
        say('table of contents link does not resolve: ' + h);
    });
    if (links < 2) say('table of contents has ' + links + ' links');
  }
  const heads = document.querySelectorAll('h2, h3');
  heads.forEach((h) => { if (!h.id) say('heading without id: ' + h.textContent); });
  const out = document.createElement('pre');
  out.id = 'bridgelaw-dom-check';
  out.textContent = problems.length ? problems.join('\n') : ('OK ' + figs.length + ' ' + links);
  document.body.appendChild(out);
})();
"#;

/// Lay out the report at `html` (its `figures/` beside it) in headless Chromium and return the
/// problems found (empty: none), or an error when the browser could not be run.
pub fn check_report_dom(chromium: &Path, html: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(html).map_err(|e| format!("{}: {e}", html.display()))?;
    let dir = html
        .parent()
        .ok_or_else(|| format!("{}: no folder", html.display()))?;
    let script = format!("<script>{SCRIPT}</script>");
    let checked = match text.rfind("</body>") {
        Some(i) => format!("{}{script}{}", &text[..i], &text[i..]),
        None => format!("{text}{script}"),
    };
    // Beside the report, so its relative links behave as they do for a reader.
    let copy = tempfile::Builder::new()
        .prefix(".dom-check-")
        .suffix(".html")
        .tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(copy.path(), checked).map_err(|e| format!("{e}"))?;
    let profile = tempfile::tempdir().map_err(|e| format!("{e}"))?;
    let out = tempfile::NamedTempFile::new().map_err(|e| format!("{e}"))?;
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "file://{}",
            copy.path()
                .canonicalize()
                .map_err(|e| format!("{e}"))?
                .display()
        ))
        .stdout(out.reopen().map_err(|e| format!("{e}"))?)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", chromium.display()))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| format!("{e}"))? {
            break s;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            return Err("chromium did not finish within 180 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        return Err(format!("chromium exited with {status}"));
    }
    let dom = std::fs::read_to_string(out.path()).map_err(|e| format!("{e}"))?;
    let open = "<pre id=\"bridgelaw-dom-check\">";
    let i = dom
        .find(open)
        .ok_or("the checking script wrote nothing (did it run?)")?;
    let rest = &dom[i + open.len()..];
    let body = &rest[..rest.find("</pre>").ok_or("unterminated result")?];
    let body = body
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    if body.starts_with("OK ") {
        Ok(vec![])
    } else {
        Ok(body.lines().map(str::to_string).collect())
    }
}
