//! Reading MD trajectories frame by frame — extended XYZ (ASE) and LAMMPS dump text — keeping only
//! the mobile ions, with wrapped coordinates unwrapped through the box.
//!
//! Memory is one frame's worth of the selected ions, whatever the trajectory's length: the readers
//! are iterators over [`Frame`]s. Positions are Cartesian in Å, times in ps.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A trajectory that cannot be used. Every variant names the file and, where there is one, the
/// frame (1-based) and line (1-based) and what was expected there.
#[derive(Debug, Clone, Error, PartialEq)]
#[non_exhaustive]
pub enum TrajectoryError {
    /// The file cannot be read.
    #[error("{file}: cannot read the file: {message}")]
    Io {
        /// The trajectory file.
        file: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// The file ends inside a frame.
    #[error(
        "{file}: frame {frame}: the file ends at line {line} inside the frame; expected {expected}"
    )]
    Truncated {
        /// The trajectory file.
        file: PathBuf,
        /// Frame number, 1-based.
        frame: usize,
        /// Line in the file, 1-based.
        line: usize,
        /// What the rest of the frame should have held.
        expected: String,
    },
    /// A frame has a different atom count from the first.
    #[error(
        "{file}: frame {frame} (line {line}): {found} atoms, expected {expected} as in frame 1 (the atom count must not change)"
    )]
    AtomCount {
        /// The trajectory file.
        file: PathBuf,
        /// Frame number, 1-based.
        frame: usize,
        /// Line in the file, 1-based.
        line: usize,
        /// Atoms in frame 1.
        expected: usize,
        /// Atoms in this frame.
        found: usize,
    },
    /// An extended-XYZ frame without a `Lattice=` key.
    #[error(
        "{file}: frame {frame} (line {line}): no lattice; expected a key Lattice=\"ax ay az bx by bz cx cy cz\" (Å) in the comment line (the box unwraps the positions and gives the volume)"
    )]
    MissingLattice {
        /// The trajectory file.
        file: PathBuf,
        /// Frame number, 1-based.
        frame: usize,
        /// Line in the file, 1-based.
        line: usize,
    },
    /// A frame's time is not after the previous frame's.
    #[error(
        "{file}: frame {frame} (line {line}): time {found} ps is not after the previous frame's {previous} ps; expected strictly increasing times"
    )]
    NonMonotoneTime {
        /// The trajectory file.
        file: PathBuf,
        /// Frame number, 1-based.
        frame: usize,
        /// Line in the file, 1-based.
        line: usize,
        /// The previous frame's time \[ps\].
        previous: f64,
        /// This frame's time \[ps\].
        found: f64,
    },
    /// Frames are not evenly spaced in time.
    #[error(
        "{file}: frame {frame} (line {line}): time {found} ps breaks the even spacing of {interval} ps set by frames 1 and 2; expected evenly spaced frames (the MSD's lags are counted in frames)"
    )]
    UnevenTime {
        /// The trajectory file.
        file: PathBuf,
        /// Frame number, 1-based.
        frame: usize,
        /// Line in the file, 1-based.
        line: usize,
        /// The spacing set by frames 1 and 2 \[ps\].
        interval: f64,
        /// This frame's time \[ps\].
        found: f64,
    },
    /// A field of a frame is not what the format needs there.
    #[error("{file}: frame {frame}, line {line}: expected {expected}, found '{found}'")]
    Field {
        /// The trajectory file.
        file: PathBuf,
        /// Frame number, 1-based.
        frame: usize,
        /// Line in the file, 1-based.
        line: usize,
        /// What the field must hold.
        expected: String,
        /// The field as found.
        found: String,
    },
    /// The file cannot be used as a whole: no frame, no atom of the species selected, or times
    /// that need an MD step or frame interval not given.
    #[error("{file}: {what}")]
    Content {
        /// The trajectory file.
        file: PathBuf,
        /// What is wrong, in words.
        what: String,
    },
}

/// The periodic box: rows are the lattice vectors a, b, c in Å.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lattice {
    /// Lattice vectors a, b, c as rows \[Å\].
    pub vectors: [[f64; 3]; 3],
}

impl Lattice {
    /// An orthorhombic box with edges `lx, ly, lz` in Å.
    pub fn orthorhombic(lx: f64, ly: f64, lz: f64) -> Self {
        Lattice {
            vectors: [[lx, 0.0, 0.0], [0.0, ly, 0.0], [0.0, 0.0, lz]],
        }
    }

    /// Volume V = |a · (b × c)| in Å³.
    pub fn volume(&self) -> f64 {
        let [a, b, c] = self.vectors;
        let bxc = [
            b[1] * c[2] - b[2] * c[1],
            b[2] * c[0] - b[0] * c[2],
            b[0] * c[1] - b[1] * c[0],
        ];
        (a[0] * bxc[0] + a[1] * bxc[1] + a[2] * bxc[2]).abs()
    }

    /// The inverse of the matrix whose rows are a, b, c: fractional s = r · M⁻¹. `None` when the
    /// vectors are (nearly) coplanar.
    fn inverse(&self) -> Option<[[f64; 3]; 3]> {
        let m = self.vectors;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        let scale = m.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
        if det.is_nan() || det.abs() <= 1e-12 * scale.powi(3) {
            return None;
        }
        let c = |r: usize, s: usize| {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (s1, s2) = ((s + 1) % 3, (s + 2) % 3);
            m[r1][s1] * m[r2][s2] - m[r1][s2] * m[r2][s1]
        };
        let mut inv = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                inv[i][j] = c(j, i) / det;
            }
        }
        Some(inv)
    }

    /// Cartesian position of fractional coordinates s: r = s · M.
    fn cartesian(&self, s: [f64; 3]) -> [f64; 3] {
        let m = self.vectors;
        std::array::from_fn(|j| s[0] * m[0][j] + s[1] * m[1][j] + s[2] * m[2][j])
    }
}

/// One frame of the selected (mobile) ions.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Frame number in the file, 1-based.
    pub number: usize,
    /// Line on which the frame starts, 1-based.
    pub line: usize,
    /// Time in ps.
    pub time_ps: f64,
    /// The periodic box of the frame.
    pub lattice: Lattice,
    /// Cartesian positions of the selected ions in Å, unwrapped (continuous in time), in a fixed
    /// order (file order for XYZ, atom id for LAMMPS).
    pub positions: Vec<[f64; 3]>,
    /// Mean unwrapped position (Å) of the other atoms — the framework — when the reader was
    /// asked for it ([`Trajectory::with_framework_centre`]) and there are any; its change from
    /// frame 1 is the framework drift.
    pub framework_centre: Option<[f64; 3]>,
}

/// Trajectory file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrajectoryFormat {
    /// ASE extended XYZ: a count line, a comment line of key=value pairs (`Lattice="..."`,
    /// `Properties=species:S:1:pos:R:3`, `Time=` in ps), one line per atom.
    ExtendedXyz,
    /// LAMMPS text dump (`ITEM: TIMESTEP`, `NUMBER OF ATOMS`, `BOX BOUNDS`, `ATOMS id type ...`).
    LammpsDump,
}

impl TrajectoryFormat {
    /// The format from a file name: `.xyz`/`.extxyz` → extended XYZ; `.lammpstrj`, `.dump`,
    /// `.lammps` → LAMMPS dump.
    pub fn from_path(p: &Path) -> Option<Self> {
        let name = p.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".xyz") || name.ends_with(".extxyz") {
            Some(Self::ExtendedXyz)
        } else if name.ends_with(".lammpstrj")
            || name.ends_with(".dump")
            || name.ends_with(".lammps")
            || name.contains("dump")
        {
            Some(Self::LammpsDump)
        } else {
            None
        }
    }
}

/// Where a frame's time comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeSource {
    /// From the file: the XYZ `Time=` key (ps), or its `step=` key times the MD step; the LAMMPS
    /// `TIMESTEP` times the MD step. `md_step_ps` is the integration step in ps.
    File {
        /// The MD integration step \[ps\], for files that give steps rather than times.
        md_step_ps: Option<f64>,
    },
    /// Frame k (0-based) at k·Δt, Δt in ps; the file's times are ignored.
    FrameInterval(f64),
}

/// Which atoms are the mobile ions: an element symbol (XYZ species, LAMMPS `element` column) or
/// a LAMMPS atom type (the `type` column, matched as text, e.g. "1").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(pub String);

/// Open a trajectory as an iterator over frames of the selected ions.
pub fn open_trajectory(
    path: &Path,
    format: TrajectoryFormat,
    selection: &Selection,
    time: TimeSource,
) -> Result<Trajectory<BufReader<File>>, TrajectoryError> {
    let f = File::open(path).map_err(|e| TrajectoryError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Trajectory::new(
        BufReader::with_capacity(1 << 16, f),
        path,
        format,
        selection,
        time,
    ))
}

/// Positions of each column in the atom lines.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CoordKind {
    /// Cartesian, wrapped into the box (unwrap by minimum image between frames).
    Wrapped,
    /// Cartesian, already continuous.
    Unwrapped,
    /// Fractional, wrapped.
    ScaledWrapped,
    /// Fractional, continuous.
    ScaledUnwrapped,
    /// Cartesian wrapped with image flags ix iy iz: exact unwrapping.
    WithImages,
}

#[derive(Debug, Clone)]
struct Layout {
    /// Column of the species/element (XYZ species, LAMMPS element), or of the LAMMPS type.
    species: usize,
    /// First of three coordinate columns (or the x, y, z columns separately for LAMMPS).
    coords: [usize; 3],
    images: Option<[usize; 3]>,
    id: Option<usize>,
    kind: CoordKind,
    n_columns: usize,
}

/// A streaming reader: an iterator over [`Frame`]s (or the first error, after which it stops).
pub struct Trajectory<R: BufRead> {
    input: R,
    file: PathBuf,
    format: TrajectoryFormat,
    selection: Selection,
    time: TimeSource,
    line_no: usize,
    buf: String,
    frames_read: usize,
    n_atoms: Option<usize>,
    /// Indices (XYZ: position in the frame) or ids (LAMMPS) of the selected ions, from frame 1.
    selected: Vec<u64>,
    previous_time: Option<f64>,
    interval: Option<f64>,
    first_time: f64,
    unwrap: Unwrapper,
    /// Parse the other atoms too and report their mean unwrapped position.
    framework_centre: bool,
    framework_unwrap: Unwrapper,
    done: bool,
    /// The last line read had no newline: the file ends there (a malformed last line is then
    /// reported as a truncated frame).
    at_eof_without_newline: bool,
}

impl<R: BufRead> Trajectory<R> {
    /// A reader over any buffered text source; `file` names it in errors.
    pub fn new(
        input: R,
        file: &Path,
        format: TrajectoryFormat,
        selection: &Selection,
        time: TimeSource,
    ) -> Self {
        Trajectory {
            input,
            file: file.to_path_buf(),
            format,
            selection: selection.clone(),
            time,
            line_no: 0,
            buf: String::new(),
            frames_read: 0,
            n_atoms: None,
            selected: Vec::new(),
            previous_time: None,
            interval: None,
            first_time: 0.0,
            unwrap: Unwrapper::default(),
            framework_centre: false,
            framework_unwrap: Unwrapper::default(),
            done: false,
            at_eof_without_newline: false,
        }
    }

    /// Also read the other (framework) atoms' positions and give their mean unwrapped position
    /// in each frame ([`Frame::framework_centre`]), for the drift correction.
    pub fn with_framework_centre(mut self) -> Self {
        self.framework_centre = true;
        self
    }

    /// The mean of the framework positions after unwrapping them like the ions.
    fn framework_mean(
        &mut self,
        lattice: &Lattice,
        positions: Vec<[f64; 3]>,
        kind: CoordKind,
        images: &[[f64; 3]],
    ) -> Option<[f64; 3]> {
        if positions.is_empty() {
            return None;
        }
        let n = positions.len() as f64;
        let u = self.framework_unwrap.step(lattice, positions, kind, images);
        let mut c = [0.0; 3];
        for r in &u {
            for d in 0..3 {
                c[d] += r[d] / n;
            }
        }
        Some(c)
    }

    /// Read the next line into `self.buf` (without its newline); false at the end of the file.
    fn next_line(&mut self) -> Result<bool, TrajectoryError> {
        self.buf.clear();
        let n = self
            .input
            .read_line(&mut self.buf)
            .map_err(|e| TrajectoryError::Io {
                file: self.file.clone(),
                message: format!("line {}: {e}", self.line_no + 1),
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        self.at_eof_without_newline = !self.buf.ends_with('\n');
        let t = self.buf.trim_end_matches(['\n', '\r']).len();
        self.buf.truncate(t);
        Ok(true)
    }

    fn require_line(&mut self, frame: usize, expected: &str) -> Result<(), TrajectoryError> {
        if self.next_line()? {
            Ok(())
        } else {
            Err(TrajectoryError::Truncated {
                file: self.file.clone(),
                frame,
                line: self.line_no,
                expected: expected.to_string(),
            })
        }
    }

    fn field_error(&self, frame: usize, expected: &str, found: &str) -> TrajectoryError {
        if self.at_eof_without_newline {
            return TrajectoryError::Truncated {
                file: self.file.clone(),
                frame,
                line: self.line_no,
                expected: format!("{expected}, found '{found}'"),
            };
        }
        TrajectoryError::Field {
            file: self.file.clone(),
            frame,
            line: self.line_no,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn parse_f64(
        &self,
        frame: usize,
        tok: Option<&str>,
        what: &str,
    ) -> Result<f64, TrajectoryError> {
        match tok.map(|t| (t, t.parse::<f64>())) {
            Some((_, Ok(v))) if v.is_finite() => Ok(v),
            Some((t, _)) => Err(self.field_error(frame, what, t)),
            None => Err(self.field_error(frame, what, &self.buf.clone())),
        }
    }

    fn check_atom_count(
        &mut self,
        frame: usize,
        found: usize,
        line: usize,
    ) -> Result<(), TrajectoryError> {
        match self.n_atoms {
            None => {
                self.n_atoms = Some(found);
                Ok(())
            }
            Some(n) if n == found => Ok(()),
            Some(n) => Err(TrajectoryError::AtomCount {
                file: self.file.clone(),
                frame,
                line,
                expected: n,
                found,
            }),
        }
    }

    /// The frame's time from the file's value (`file_time`, ps, or MD steps) or the interval.
    fn frame_time(
        &mut self,
        frame: usize,
        line: usize,
        file_time: Option<FileTime>,
    ) -> Result<f64, TrajectoryError> {
        let t = match (self.time, file_time) {
            (TimeSource::FrameInterval(dt), _) => (frame - 1) as f64 * dt,
            (TimeSource::File { .. }, Some(FileTime::Ps(t))) => t,
            (
                TimeSource::File {
                    md_step_ps: Some(s),
                },
                Some(FileTime::Steps(n)),
            ) => n * s,
            (TimeSource::File { md_step_ps: None }, Some(FileTime::Steps(_))) => {
                return Err(TrajectoryError::Content {
                    file: self.file.clone(),
                    what: format!(
                        "frame {frame} (line {line}): the file gives MD step numbers, not times; expected the MD step length (--timestep PS) or the frame interval (--frame-interval PS)"
                    ),
                });
            }
            (TimeSource::File { .. }, None) => {
                return Err(TrajectoryError::Content {
                    file: self.file.clone(),
                    what: format!(
                        "frame {frame} (line {line}): no time; expected a Time= key (ps) or step= key in the comment line, or the frame interval (--frame-interval PS)"
                    ),
                });
            }
        };
        if let Some(prev) = self.previous_time {
            if t.is_nan() || t <= prev {
                return Err(TrajectoryError::NonMonotoneTime {
                    file: self.file.clone(),
                    frame,
                    line,
                    previous: prev,
                    found: t,
                });
            }
            match self.interval {
                None => self.interval = Some(t - prev),
                Some(dt) => {
                    let expected = self.first_time + (frame - 1) as f64 * dt;
                    if (t - expected).abs() > 1e-6 * dt.max(t.abs() * 1e-9) + 1e-4 * dt {
                        return Err(TrajectoryError::UnevenTime {
                            file: self.file.clone(),
                            frame,
                            line,
                            interval: dt,
                            found: t,
                        });
                    }
                }
            }
        } else {
            self.first_time = t;
        }
        self.previous_time = Some(t);
        Ok(t)
    }

    /// The next line that is not blank into `buf` (writers put blank lines between frames or
    /// at the end); false at the end of the file.
    fn next_nonblank_line(&mut self) -> Result<bool, TrajectoryError> {
        while self.next_line()? {
            if !self.buf.trim().is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn read_xyz_frame(&mut self) -> Result<Option<Frame>, TrajectoryError> {
        if !self.next_nonblank_line()? {
            return Ok(None);
        }
        let frame = self.frames_read + 1;
        let start = self.line_no;
        let count = self.buf.trim();
        let n: usize = count.parse().map_err(|_| {
            self.field_error(
                frame,
                "the number of atoms (an integer) on the frame's first line",
                count,
            )
        })?;
        self.check_atom_count(frame, n, start)?;
        self.require_line(
            frame,
            "the comment line (Lattice=..., Properties=..., Time=...)",
        )?;
        let info = parse_xyz_comment(&self.buf);
        let lattice_text = info
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("lattice"))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| TrajectoryError::MissingLattice {
                file: self.file.clone(),
                frame,
                line: self.line_no,
            })?;
        let vals: Vec<f64> = lattice_text
            .split_ascii_whitespace()
            .map(|t| t.parse::<f64>())
            .collect::<Result<_, _>>()
            .ok()
            .filter(|v: &Vec<f64>| v.len() == 9 && v.iter().all(|x| x.is_finite()))
            .ok_or_else(|| {
                self.field_error(
                    frame,
                    "Lattice= with 9 numbers (a, b, c in Å)",
                    &lattice_text,
                )
            })?;
        let lattice = Lattice {
            vectors: [
                [vals[0], vals[1], vals[2]],
                [vals[3], vals[4], vals[5]],
                [vals[6], vals[7], vals[8]],
            ],
        };
        if lattice.inverse().is_none() {
            return Err(self.field_error(
                frame,
                "Lattice= with three non-coplanar vectors",
                &lattice_text,
            ));
        }
        let properties = info
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("properties"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("species:S:1:pos:R:3");
        let layout =
            xyz_layout(properties).map_err(|what| self.field_error(frame, &what, properties))?;
        let file_time = info.iter().find_map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            if k == "time" || k == "time_ps" {
                Some(v.parse::<f64>().map(FileTime::Ps).map_err(|_| v.clone()))
            } else if k == "step" || k == "timestep" {
                Some(v.parse::<f64>().map(FileTime::Steps).map_err(|_| v.clone()))
            } else {
                None
            }
        });
        let file_time = match file_time {
            None => None,
            Some(Ok(t)) if t.value().is_finite() => Some(t),
            Some(Ok(t)) => {
                return Err(self.field_error(frame, "a finite time", &t.value().to_string()));
            }
            Some(Err(v)) => return Err(self.field_error(frame, "a number for the time key", &v)),
        };
        let comment_line = self.line_no;
        let time_ps = self.frame_time(frame, comment_line, file_time)?;
        let first = frame == 1;
        let mut positions = Vec::with_capacity(self.selected.len());
        let mut framework = Vec::new();
        let mut found_species: Vec<String> = Vec::new();
        let mut sel_k = 0;
        for i in 0..n {
            self.require_line(
                frame,
                &format!("{n} atom lines (atom {} of {n} is missing)", i + 1),
            )?;
            let toks: Vec<&str> = self.buf.split_ascii_whitespace().collect();
            if toks.len() < layout.n_columns {
                return Err(self.field_error(
                    frame,
                    &format!(
                        "an atom line with {} columns ({properties})",
                        layout.n_columns
                    ),
                    &self.buf.clone(),
                ));
            }
            let species = toks[layout.species];
            let take = if first {
                let t = species == self.selection.0;
                if t {
                    self.selected.push(i as u64);
                } else if !found_species.iter().any(|s| s == species) {
                    found_species.push(species.to_string());
                }
                t
            } else if sel_k < self.selected.len() && self.selected[sel_k] == i as u64 {
                if species != self.selection.0 {
                    return Err(self.field_error(
                        frame,
                        &format!(
                            "species '{}' for atom {} as in frame 1",
                            self.selection.0,
                            i + 1
                        ),
                        species,
                    ));
                }
                true
            } else {
                false
            };
            if take {
                sel_k += 1;
                let mut r = [0.0; 3];
                for (d, rc) in r.iter_mut().enumerate() {
                    *rc = self.parse_f64(
                        frame,
                        Some(toks[layout.coords[0] + d]),
                        "a finite coordinate",
                    )?;
                }
                positions.push(r);
            } else if self.framework_centre {
                let mut r = [0.0; 3];
                for (d, rc) in r.iter_mut().enumerate() {
                    *rc = self.parse_f64(
                        frame,
                        Some(toks[layout.coords[0] + d]),
                        "a finite coordinate",
                    )?;
                }
                framework.push(r);
            }
        }
        if first && self.selected.is_empty() {
            return Err(self.no_selected(&found_species));
        }
        self.frames_read += 1;
        let positions = self
            .unwrap
            .step(&lattice, positions, CoordKind::Wrapped, &[]);
        let framework_centre = self.framework_mean(&lattice, framework, CoordKind::Wrapped, &[]);
        Ok(Some(Frame {
            number: frame,
            line: start,
            time_ps,
            lattice,
            positions,
            framework_centre,
        }))
    }

    fn no_selected(&self, found: &[String]) -> TrajectoryError {
        TrajectoryError::Content {
            file: self.file.clone(),
            what: format!(
                "frame 1: no atom of species '{}'; expected the mobile species by element or LAMMPS type, found: {}",
                self.selection.0,
                found.join(", ")
            ),
        }
    }

    fn read_lammps_frame(&mut self) -> Result<Option<Frame>, TrajectoryError> {
        if !self.next_nonblank_line()? {
            return Ok(None);
        }
        let frame = self.frames_read + 1;
        let start = self.line_no;
        if !self.buf.trim_start().starts_with("ITEM: TIMESTEP") {
            return Err(self.field_error(frame, "ITEM: TIMESTEP", &self.buf.clone()));
        }
        self.require_line(frame, "the timestep number after ITEM: TIMESTEP")?;
        let step = self.parse_f64(
            frame,
            self.buf.split_ascii_whitespace().next(),
            "the timestep number",
        )?;
        let step_line = self.line_no;
        let mut n_atoms: Option<usize> = None;
        let mut lattice: Option<Lattice> = None;
        loop {
            self.require_line(
                frame,
                "ITEM: NUMBER OF ATOMS, ITEM: BOX BOUNDS or ITEM: ATOMS",
            )?;
            let item = self.buf.trim().to_string();
            if item.starts_with("ITEM: NUMBER OF ATOMS") {
                self.require_line(frame, "the number of atoms")?;
                let t = self.buf.trim().to_string();
                let n: usize = t
                    .parse()
                    .map_err(|_| self.field_error(frame, "the number of atoms (an integer)", &t))?;
                let line = self.line_no;
                self.check_atom_count(frame, n, line)?;
                n_atoms = Some(n);
            } else if item.starts_with("ITEM: BOX BOUNDS") {
                let triclinic = item.contains("xy");
                let mut b = [[0.0; 3]; 3];
                for row in b.iter_mut() {
                    self.require_line(frame, "three box-bound lines")?;
                    let toks: Vec<&str> = self.buf.split_ascii_whitespace().collect();
                    let want = if triclinic { 3 } else { 2 };
                    if toks.len() < want {
                        return Err(self.field_error(
                            frame,
                            &format!("{want} numbers on a box-bound line"),
                            &self.buf.clone(),
                        ));
                    }
                    for k in 0..want {
                        row[k] = self.parse_f64(frame, Some(toks[k]), "a box bound")?;
                    }
                }
                lattice = Some(lammps_lattice(b, triclinic));
            } else if item.starts_with("ITEM: ATOMS") {
                let header = item.clone();
                let layout = lammps_layout(&header)
                    .map_err(|what| self.field_error(frame, &what, &header))?;
                let n = n_atoms.ok_or_else(|| {
                    self.field_error(frame, "ITEM: NUMBER OF ATOMS before ITEM: ATOMS", &header)
                })?;
                let lattice = lattice.ok_or_else(|| TrajectoryError::MissingLattice {
                    file: self.file.clone(),
                    frame,
                    line: self.line_no,
                })?;
                if lattice.inverse().is_none() {
                    return Err(self.field_error(
                        frame,
                        "a box of non-zero volume",
                        "degenerate BOX BOUNDS",
                    ));
                }
                let time_ps = self.frame_time(frame, step_line, Some(FileTime::Steps(step)))?;
                return self
                    .lammps_atoms(frame, start, n, layout, lattice, time_ps)
                    .map(Some);
            } else {
                return Err(self.field_error(
                    frame,
                    "ITEM: NUMBER OF ATOMS, ITEM: BOX BOUNDS or ITEM: ATOMS",
                    &item,
                ));
            }
        }
    }

    fn lammps_atoms(
        &mut self,
        frame: usize,
        start: usize,
        n: usize,
        layout: Layout,
        lattice: Lattice,
        time_ps: f64,
    ) -> Result<Frame, TrajectoryError> {
        let first = frame == 1;
        let id_col = layout.id.unwrap_or(usize::MAX);
        let mut rows: Vec<(u64, [f64; 3], [f64; 3])> = Vec::with_capacity(self.selected.len());
        let mut framework_rows: Vec<(u64, [f64; 3], [f64; 3])> = Vec::new();
        let mut found_species: Vec<String> = Vec::new();
        for i in 0..n {
            self.require_line(
                frame,
                &format!("{n} atom lines (atom {} of {n} is missing)", i + 1),
            )?;
            if self.buf.starts_with("ITEM:") {
                let line = self.line_no;
                return Err(TrajectoryError::AtomCount {
                    file: self.file.clone(),
                    frame,
                    line,
                    expected: n,
                    found: i,
                });
            }
            let toks: Vec<&str> = self.buf.split_ascii_whitespace().collect();
            if toks.len() < layout.n_columns {
                return Err(self.field_error(
                    frame,
                    &format!("an atom line with {} columns", layout.n_columns),
                    &self.buf.clone(),
                ));
            }
            let species = toks[layout.species];
            let is_framework = species != self.selection.0;
            if is_framework {
                if first && !found_species.iter().any(|s| s == species) {
                    found_species.push(species.to_string());
                }
                if !self.framework_centre {
                    continue;
                }
            }
            let id = if id_col == usize::MAX {
                i as u64
            } else {
                toks[id_col]
                    .parse::<u64>()
                    .map_err(|_| self.field_error(frame, "an integer atom id", toks[id_col]))?
            };
            let mut r = [0.0; 3];
            for d in 0..3 {
                r[d] =
                    self.parse_f64(frame, Some(toks[layout.coords[d]]), "a finite coordinate")?;
            }
            let mut img = [0.0; 3];
            if let Some(ic) = layout.images {
                for d in 0..3 {
                    img[d] = self.parse_f64(frame, Some(toks[ic[d]]), "an integer image flag")?;
                }
            }
            if is_framework {
                framework_rows.push((id, r, img));
            } else {
                rows.push((id, r, img));
            }
        }
        rows.sort_by_key(|r| r.0);
        framework_rows.sort_by_key(|r| r.0);
        if first {
            if rows.is_empty() {
                return Err(self.no_selected(&found_species));
            }
            self.selected = rows.iter().map(|r| r.0).collect();
        } else if rows.len() != self.selected.len()
            || rows.iter().zip(&self.selected).any(|(r, &id)| r.0 != id)
        {
            return Err(TrajectoryError::Content {
                file: self.file.clone(),
                what: format!(
                    "frame {frame} (line {start}): the atoms of species '{}' are not those of frame 1 ({} then, {} now); expected the same atom ids in every frame",
                    self.selection.0,
                    self.selected.len(),
                    rows.len()
                ),
            });
        }
        self.frames_read += 1;
        let images: Vec<[f64; 3]> = rows.iter().map(|r| r.2).collect();
        let positions = rows.into_iter().map(|r| r.1).collect();
        let positions = self.unwrap.step(&lattice, positions, layout.kind, &images);
        let images: Vec<[f64; 3]> = framework_rows.iter().map(|r| r.2).collect();
        let framework = framework_rows.into_iter().map(|r| r.1).collect();
        let framework_centre = self.framework_mean(&lattice, framework, layout.kind, &images);
        Ok(Frame {
            number: frame,
            line: start,
            time_ps,
            lattice,
            positions,
            framework_centre,
        })
    }
}

impl<R: BufRead> Iterator for Trajectory<R> {
    type Item = Result<Frame, TrajectoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.format {
            TrajectoryFormat::ExtendedXyz => self.read_xyz_frame(),
            TrajectoryFormat::LammpsDump => self.read_lammps_frame(),
        };
        match r {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => {
                self.done = true;
                if self.frames_read == 0 {
                    Some(Err(TrajectoryError::Content {
                        file: self.file.clone(),
                        what: "no frame; expected at least one frame".into(),
                    }))
                } else {
                    None
                }
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum FileTime {
    Ps(f64),
    Steps(f64),
}

impl FileTime {
    fn value(&self) -> f64 {
        match *self {
            FileTime::Ps(v) | FileTime::Steps(v) => v,
        }
    }
}

/// key=value pairs of an extended-XYZ comment line; values may be "double quoted". A bare word
/// is a key with an empty value.
fn parse_xyz_comment(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        // Allow spaces around '='.
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    value.push(c);
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key, value));
    }
    out
}

/// Columns of species and positions from an extended-XYZ `Properties=name:type:count:...`.
fn xyz_layout(properties: &str) -> Result<Layout, String> {
    let parts: Vec<&str> = properties.split(':').collect();
    if !parts.len().is_multiple_of(3) {
        return Err("Properties=name:type:count triples (e.g. species:S:1:pos:R:3)".into());
    }
    let mut col = 0;
    let (mut species, mut pos) = (None, None);
    for t in parts.chunks(3) {
        let count: usize = t[2]
            .parse()
            .map_err(|_| format!("an integer column count in Properties, not '{}'", t[2]))?;
        match t[0].to_ascii_lowercase().as_str() {
            "species" | "element" | "type_symbol" => species = Some(col),
            "pos" | "positions" if count == 3 => pos = Some(col),
            _ => {}
        }
        col += count;
    }
    match (species, pos) {
        (Some(s), Some(p)) => Ok(Layout {
            species: s,
            coords: [p, p + 1, p + 2],
            images: None,
            id: None,
            kind: CoordKind::Wrapped,
            n_columns: col,
        }),
        _ => Err("Properties with a species:S:1 and a pos:R:3 entry".into()),
    }
}

/// Columns from a LAMMPS `ITEM: ATOMS id type x y z ...` header.
fn lammps_layout(header: &str) -> Result<Layout, String> {
    let names: Vec<&str> = header
        .trim_start_matches("ITEM: ATOMS")
        .split_ascii_whitespace()
        .collect();
    let find = |n: &str| names.iter().position(|c| *c == n);
    let species = find("element")
        .or_else(|| find("type"))
        .ok_or("an ATOMS header with a type or element column")?;
    let triple = |a: &str, b: &str, c: &str| Some([find(a)?, find(b)?, find(c)?]);
    let (coords, kind) = if let Some(c) = triple("xu", "yu", "zu") {
        (c, CoordKind::Unwrapped)
    } else if let Some(c) = triple("x", "y", "z") {
        if triple("ix", "iy", "iz").is_some() {
            (c, CoordKind::WithImages)
        } else {
            (c, CoordKind::Wrapped)
        }
    } else if let Some(c) = triple("xsu", "ysu", "zsu") {
        (c, CoordKind::ScaledUnwrapped)
    } else if let Some(c) = triple("xs", "ys", "zs") {
        (c, CoordKind::ScaledWrapped)
    } else {
        return Err(
            "an ATOMS header with coordinates x y z, xu yu zu, xs ys zs or xsu ysu zsu".into(),
        );
    };
    Ok(Layout {
        species,
        coords,
        images: (kind == CoordKind::WithImages)
            .then(|| triple("ix", "iy", "iz"))
            .flatten(),
        id: find("id"),
        kind,
        n_columns: names.len(),
    })
}

/// The lattice from LAMMPS box bounds (rows: lo, hi[, tilt]); triclinic boxes follow the LAMMPS
/// manual's "Triclinic (non-orthogonal) simulation boxes": the stored bounds enclose the tilted box,
/// lo = lo_bound − min(0, tilts...), hi = hi_bound − max(0, tilts...).
fn lammps_lattice(b: [[f64; 3]; 3], triclinic: bool) -> Lattice {
    if !triclinic {
        return Lattice::orthorhombic(b[0][1] - b[0][0], b[1][1] - b[1][0], b[2][1] - b[2][0]);
    }
    let (xy, xz, yz) = (b[0][2], b[1][2], b[2][2]);
    let xlo = b[0][0] - 0f64.min(xy).min(xz).min(xy + xz);
    let xhi = b[0][1] - 0f64.max(xy).max(xz).max(xy + xz);
    let ylo = b[1][0] - 0f64.min(yz);
    let yhi = b[1][1] - 0f64.max(yz);
    Lattice {
        vectors: [
            [xhi - xlo, 0.0, 0.0],
            [xy, yhi - ylo, 0.0],
            [xz, yz, b[2][1] - b[2][0]],
        ],
    }
}

/// Turns each frame's positions into continuous (unwrapped) ones. For wrapped coordinates the
/// displacement between consecutive frames is taken as its minimum image in fractional
/// coordinates, s − round(s): exact as long as no ion moves more than half a box length between
/// two frames (orthorhombic and triclinic boxes alike, for displacements within the inscribed
/// sphere's radius).
#[derive(Debug, Default, Clone)]
pub struct Unwrapper {
    previous_wrapped: Vec<[f64; 3]>,
    previous_unwrapped: Vec<[f64; 3]>,
}

impl Unwrapper {
    fn step(
        &mut self,
        lattice: &Lattice,
        mut positions: Vec<[f64; 3]>,
        kind: CoordKind,
        images: &[[f64; 3]],
    ) -> Vec<[f64; 3]> {
        match kind {
            CoordKind::Unwrapped => return positions,
            CoordKind::ScaledUnwrapped => {
                return positions
                    .into_iter()
                    .map(|s| lattice.cartesian(s))
                    .collect();
            }
            CoordKind::WithImages => {
                return positions
                    .iter()
                    .zip(images)
                    .map(|(r, n)| {
                        let shift = lattice.cartesian(*n);
                        [r[0] + shift[0], r[1] + shift[1], r[2] + shift[2]]
                    })
                    .collect();
            }
            CoordKind::ScaledWrapped => {
                for r in positions.iter_mut() {
                    *r = lattice.cartesian(*r);
                }
            }
            CoordKind::Wrapped => {}
        }
        let inv = lattice
            .inverse()
            .expect("the readers reject degenerate boxes");
        if self.previous_wrapped.len() != positions.len() {
            self.previous_wrapped = positions.clone();
            self.previous_unwrapped = positions.clone();
            return positions;
        }
        for ((r, pw), pu) in positions
            .iter()
            .zip(self.previous_wrapped.iter_mut())
            .zip(self.previous_unwrapped.iter_mut())
        {
            let d = [r[0] - pw[0], r[1] - pw[1], r[2] - pw[2]];
            let s: [f64; 3] = std::array::from_fn(|j| {
                let v = d[0] * inv[0][j] + d[1] * inv[1][j] + d[2] * inv[2][j];
                v - v.round()
            });
            let dm = lattice.cartesian(s);
            *pw = *r;
            *pu = [pu[0] + dm[0], pu[1] + dm[1], pu[2] + dm[2]];
        }
        self.previous_unwrapped.clone()
    }
}
