//! The bridgelaw command line: a thin layer that reads files, calls the library, writes results.
//! Bad input exits with code 2 and a message naming the file, the field and what was expected.

mod cli;

use clap::Parser;

/// On SIGINT, SIGTERM or SIGHUP: delete this run's staging folders and locks (the previous
/// result of the target stays as it was) and exit with 128 + the signal number, as a shell
/// reports a process killed by it. The signals are taken on a thread of signal-hook's, where
/// the file system may be touched (a plain handler may not).
fn exit_cleanly_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        // No handler: the default action (exit) leaves the staging folder for the next run.
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            bridgelaw::run_folder::abandon_for_exit();
            eprintln!("interrupted: nothing was written");
            std::process::exit(128 + sig);
        }
    });
}

fn main() {
    let args = cli::Cli::parse();
    exit_cleanly_on_signals();
    let result = cli::run(args);
    // A run that stopped because a signal cancelled it must not end the process while the
    // signal thread is still deleting the staging folder: wait for that clean-up (it runs
    // once), then let the signal thread exit with its code.
    if bridgelaw::run_folder::interrupted().is_cancelled() {
        bridgelaw::run_folder::abandon_for_exit();
        std::thread::sleep(std::time::Duration::from_secs(10));
        std::process::exit(130);
    }
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
