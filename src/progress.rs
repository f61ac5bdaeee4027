//! Progress of a long run on stderr, for every engine (Monte Carlo, Sobol, Morris, Shapley,
//! ranking, NUTS chains): a bar per lane on a terminal; otherwise — a batch job's log, a pipe —
//! one plain line every [`line_interval`] (default 30 s), so a run whose stderr goes to a file
//! still shows that it is moving. Either way a long run says once, early, how long it will take
//! (time per unit so far, the rest at the same rate).
//!
//! A run has one or more lanes (the chains of a calibration, or one lane for the whole run),
//! each with its own count; counts are atomic, so the workers of a rayon pool report without a
//! lock. Nothing is shown when progress is switched off.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seconds between two plain progress lines when stderr is not a terminal:
/// `BRIDGELAW_PROGRESS_SECONDS` (a positive number), else 30.
pub fn line_interval() -> Duration {
    std::env::var("BRIDGELAW_PROGRESS_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(30), Duration::from_secs_f64)
}

/// A run's estimate is said once it has run this long, if the rest takes longer than
/// [`ANNOUNCE_ABOVE`].
const ANNOUNCE_AFTER: Duration = Duration::from_secs(2);
/// Runs expected to end sooner than this say nothing about their duration.
const ANNOUNCE_ABOVE: f64 = 10.0;
/// A bar appears only once a run has lasted this long (short runs stay quiet).
const BAR_AFTER: Duration = Duration::from_secs(1);

/// How progress is shown.
enum Display {
    Off,
    /// On a terminal: one bar per lane, created once the run has lasted [`BAR_AFTER`].
    Bars {
        multi: MultiProgress,
        bars: Mutex<Vec<ProgressBar>>,
    },
    /// Not a terminal: a line every `every`.
    Lines {
        every: Duration,
        last: Mutex<Instant>,
    },
}

/// Progress of one run: see the module doc.
pub struct Progress {
    /// What runs, for the messages ("propagate", "sobol", "calibrate").
    what: String,
    /// What is counted ("samples", "draws", "rows").
    unit: &'static str,
    /// Units of each lane.
    totals: Vec<u64>,
    done: Vec<AtomicU64>,
    /// The latest message of each lane (shown beside its bar or in its line).
    messages: Mutex<Vec<String>>,
    lane_name: &'static str,
    start: Instant,
    announced: AtomicBool,
    display: Display,
}

impl Progress {
    /// One lane of `total` units. `show = false` shows nothing.
    pub fn new(what: &str, unit: &'static str, total: u64, show: bool) -> Self {
        Self::lanes(what, unit, "", &[total], show)
    }

    /// One lane per entry of `totals` (e.g. the chains of a calibration, named `lane_name` k,
    /// numbered from 0 by position). `show = false` shows nothing.
    pub fn lanes(
        what: &str,
        unit: &'static str,
        lane_name: &'static str,
        totals: &[u64],
        show: bool,
    ) -> Self {
        let display = if !show {
            Display::Off
        } else if std::io::stderr().is_terminal() {
            Display::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(Vec::new()),
            }
        } else {
            Display::Lines {
                every: line_interval(),
                last: Mutex::new(Instant::now()),
            }
        };
        Self {
            what: what.to_string(),
            unit,
            totals: totals.to_vec(),
            done: totals.iter().map(|_| AtomicU64::new(0)).collect(),
            messages: Mutex::new(vec![String::new(); totals.len()]),
            lane_name,
            start: Instant::now(),
            announced: AtomicBool::new(false),
            display,
        }
    }

    /// A run that shows nothing.
    pub fn hidden() -> Self {
        Self::new("", "", 0, false)
    }

    /// `n` more units done on lane `lane`.
    #[inline]
    pub fn inc(&self, lane: usize, n: u64) {
        if matches!(self.display, Display::Off) {
            return;
        }
        self.done[lane].fetch_add(n, Ordering::Relaxed);
        self.tick();
    }

    /// Lane `lane` has done `done` units in all.
    #[inline]
    pub fn set(&self, lane: usize, done: u64) {
        if matches!(self.display, Display::Off) {
            return;
        }
        self.done[lane].store(done, Ordering::Relaxed);
        self.tick();
    }

    /// The message shown beside lane `lane` (e.g. a chain's phase and divergences).
    pub fn set_message(&self, lane: usize, message: String) {
        if matches!(self.display, Display::Off) {
            return;
        }
        if let Ok(mut m) = self.messages.lock() {
            m[lane] = message;
        }
    }

    /// Lane `lane`'s handle, for a worker that reports only its own lane.
    pub fn lane(&self, lane: usize) -> Lane<'_> {
        Lane {
            progress: self,
            lane,
        }
    }

    /// Units done over all lanes.
    pub fn done(&self) -> u64 {
        self.done.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// The run's estimate of the time to go \[s\]: the rest at the rate so far (None before
    /// any unit is done).
    pub fn seconds_to_go(&self) -> Option<f64> {
        let done = self.done();
        let total: u64 = self.totals.iter().sum();
        (done > 0).then(|| {
            self.start.elapsed().as_secs_f64() / done as f64 * total.saturating_sub(done) as f64
        })
    }

    /// Update the display: the one-time estimate, then the bars or the periodic line.
    fn tick(&self) {
        let elapsed = self.start.elapsed();
        if elapsed >= ANNOUNCE_AFTER && !self.announced.swap(true, Ordering::Relaxed) {
            self.announce();
        }
        match &self.display {
            Display::Off => {}
            Display::Bars { multi, bars } => {
                if elapsed < BAR_AFTER {
                    return;
                }
                let Ok(mut bars) = bars.lock() else { return };
                if bars.is_empty() {
                    *bars = self.make_bars(multi);
                }
                let messages = self.messages.lock().ok();
                for (k, b) in bars.iter().enumerate() {
                    b.set_position(self.done[k].load(Ordering::Relaxed));
                    if let Some(m) = messages.as_ref() {
                        b.set_message(m[k].clone());
                    }
                }
            }
            Display::Lines { every, last } => {
                let Ok(mut last) = last.try_lock() else {
                    return;
                };
                if last.elapsed() >= *every {
                    *last = Instant::now();
                    drop(last);
                    eprintln!("{}", self.line());
                }
            }
        }
    }

    fn make_bars(&self, multi: &MultiProgress) -> Vec<ProgressBar> {
        let template = if self.totals.len() > 1 {
            format!(
                "{} {{prefix}} [{{bar:30}}] {{pos}}/{{len}} {} {{msg}} ({{elapsed}}, eta {{eta}})",
                self.lane_name, self.unit
            )
        } else {
            format!(
                "{} [{{bar:40}}] {{human_pos}}/{{human_len}} {} ({{per_sec}}, eta {{eta}}) {{msg}}",
                self.what, self.unit
            )
        };
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.totals
            .iter()
            .enumerate()
            .map(|(k, &t)| {
                let b = multi.add(ProgressBar::new(t));
                b.set_style(style.clone());
                b.set_prefix(k.to_string());
                b
            })
            .collect()
    }

    /// "calibrate: 1200/8000 draws (15 %), 42 s elapsed, about 3 min to go [chain 0: …]".
    fn line(&self) -> String {
        let done = self.done();
        let total: u64 = self.totals.iter().sum();
        let mut s = format!(
            "{}: {done}/{total} {} ({:.0} %), {} elapsed",
            self.what,
            self.unit,
            100.0 * done as f64 / total.max(1) as f64,
            crate::budget::human_duration(self.start.elapsed().as_secs_f64())
        );
        if let Some(rest) = self.seconds_to_go() {
            s += &format!(", about {} to go", crate::budget::human_duration(rest));
        }
        if self.totals.len() > 1 {
            let messages = self.messages.lock().ok();
            let lanes: Vec<String> = (0..self.totals.len())
                .map(|k| {
                    let m = messages.as_ref().map_or("", |m| m[k].as_str());
                    format!(
                        "{} {k}: {}/{}{}{m}",
                        self.lane_name,
                        self.done[k].load(Ordering::Relaxed),
                        self.totals[k],
                        if m.is_empty() { "" } else { " " }
                    )
                })
                .collect();
            s += &format!(" [{}]", lanes.join("; "));
        }
        s
    }

    /// Once, early: how long the rest will take, when that is long enough to matter.
    fn announce(&self) {
        let Some(rest) = self.seconds_to_go() else {
            self.announced.store(false, Ordering::Relaxed);
            return;
        };
        if rest < ANNOUNCE_ABOVE {
            return;
        }
        let total: u64 = self.totals.iter().sum();
        self.say(format!(
            "{}: {total} {}, about {} to go (at the rate of the first {})",
            self.what,
            self.unit,
            crate::budget::human_duration(rest),
            self.done()
        ));
    }

    /// Say once the caller's own estimate of the time to go \[s\] (e.g. a Monte Carlo run after
    /// its serial pilot, spreading the rest over the pool), instead of the rate-so-far one.
    pub fn announce_estimate(&self, rest: f64) {
        if matches!(self.display, Display::Off) || self.announced.swap(true, Ordering::Relaxed) {
            return;
        }
        if rest >= ANNOUNCE_ABOVE {
            self.say(format!(
                "{}: {} {}, about {} to go",
                self.what,
                self.totals.iter().sum::<u64>(),
                self.unit,
                crate::budget::human_duration(rest)
            ));
        }
    }

    /// A line on stderr that does not tear a bar.
    fn say(&self, text: String) {
        match &self.display {
            Display::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            _ => eprintln!("{text}"),
        }
    }

    /// End the display: bars cleared (terminal) or a last line (otherwise, for runs that
    /// printed at least one).
    pub fn finish(&self) {
        match &self.display {
            Display::Off => {}
            Display::Bars { bars, .. } => {
                if let Ok(bars) = bars.lock() {
                    for b in bars.iter() {
                        b.finish_and_clear();
                    }
                }
            }
            Display::Lines { .. } => {
                if self.start.elapsed() >= line_interval() {
                    eprintln!("{}", self.line());
                }
            }
        }
    }
}

/// One lane of a [`Progress`] (a chain of a calibration).
#[derive(Clone, Copy)]
pub struct Lane<'a> {
    progress: &'a Progress,
    lane: usize,
}

impl Lane<'_> {
    /// `n` more units done.
    #[inline]
    pub fn inc(&self, n: u64) {
        self.progress.inc(self.lane, n);
    }

    /// The message shown beside the lane.
    pub fn set_message(&self, message: String) {
        self.progress.set_message(self.lane, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lanes_and_estimates_the_rest() {
        let p = Progress::lanes("calibrate", "draws", "chain", &[100, 100], true);
        p.inc(0, 30);
        p.set(1, 20);
        assert_eq!(p.done(), 50);
        let line = p.line();
        assert!(line.starts_with("calibrate: 50/200 draws (25 %)"), "{line}");
        assert!(line.contains("chain 0: 30/100") && line.contains("chain 1: 20/100"));
        assert!(p.seconds_to_go().is_some_and(|s| s >= 0.0));
        let off = Progress::hidden();
        off.inc(0, 5);
        assert_eq!(off.done(), 0, "a hidden run counts nothing");
    }
}
