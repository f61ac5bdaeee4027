//! `mpirun -n R bridgelaw propagate ...` (cargo feature `mpi`): rank r runs shard r + 1 of R,
//! rank 0 gathers the parts in rank order and merges them with the fold `bridgelaw merge` uses,
//! so the run folder is the one a single process writes, bit for bit. Progress, results and
//! files come from rank 0 only. A rank whose shard fails sends its error to rank 0, which ends
//! the job with it (exit 1); a rank that dies outright is reported by the launcher, which ends
//! the job.

use super::CliError;
use mpi::traits::{Communicator, Destination, Source};

/// The MPI world of a run started by an MPI launcher with more than one rank.
pub struct Ranks {
    world: mpi::topology::SimpleCommunicator,
    // Finalises MPI when dropped, after the world is done with.
    _universe: mpi::environment::Universe,
}

/// The environment variables an MPI launcher (Open MPI, MPICH, PMIx) sets in every rank; without
/// any of them the run is an ordinary process and MPI is not initialised.
const LAUNCHER_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_RANK",
    "MPI_LOCALNRANKS",
];

/// Some when this process is one of several MPI ranks.
pub fn ranks() -> Option<Ranks> {
    if !LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some()) {
        return None;
    }
    let universe = mpi::initialize()?;
    let world = universe.world();
    if world.size() < 2 {
        return None;
    }
    Some(Ranks {
        world,
        _universe: universe,
    })
}

impl Ranks {
    /// This rank, 0-based.
    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    /// The number of ranks R.
    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// Every rank's outcome on rank 0, in rank order (`Some`), after each other rank sent its
    /// own (`None`). Message: one status byte (0 = the payload, 1 = an error text), then the
    /// bytes. Any rank's failure becomes rank 0's error, naming the rank.
    pub fn gather(&self, mine: Result<Vec<u8>, String>) -> Result<Option<Vec<Vec<u8>>>, CliError> {
        let encode = |r: &Result<Vec<u8>, String>| -> Vec<u8> {
            match r {
                Ok(b) => [&[0u8][..], b].concat(),
                Err(e) => [&[1u8][..], e.as_bytes()].concat(),
            }
        };
        if self.rank() != 0 {
            self.world.process_at_rank(0).send(&encode(&mine)[..]);
            return match mine {
                Ok(_) => Ok(None),
                Err(e) => Err(CliError::failed(format!("rank {}: {e}", self.rank()))),
            };
        }
        let mut all = vec![mine];
        for r in 1..self.world.size() {
            let (msg, _) = self.world.process_at_rank(r).receive_vec::<u8>();
            all.push(match msg.split_first() {
                Some((0, b)) => Ok(b.to_vec()),
                Some((_, e)) => Err(String::from_utf8_lossy(e).into_owned()),
                None => Err("an empty message".into()),
            });
        }
        let mut parts = Vec::with_capacity(all.len());
        for (r, a) in all.into_iter().enumerate() {
            match a {
                Ok(b) => parts.push(b),
                Err(e) => {
                    return Err(CliError::failed(format!(
                        "rank {r} of {} failed, so the run is incomplete: {e}",
                        self.size()
                    )));
                }
            }
        }
        Ok(Some(parts))
    }
}
