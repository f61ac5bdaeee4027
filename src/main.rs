//! The bridgelaw command line: a thin layer that reads files, calls the library, writes results.
//! Bad input exits with code 2 and a message naming the file, the field and what was expected.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
