//! Draws as CmdStan CSV, one file per chain.
