//! `klamm`: Kafka from the command line, built on the klamm client's public
//! API. See `cli/README.md` for every subcommand.

mod args;
mod cmd;
mod config;
mod cpu;
mod error;
mod format;
mod latency;
mod output;
mod progress;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("klamm: cannot start the async runtime: {e}");
            return ExitCode::from(error::FAILED);
        }
    };
    let result = runtime.block_on(cmd::run(cli));
    // Tasks still running (fetchers, sinks) end with the runtime; never wait long.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// `-v` turns on logs to stderr; RUST_LOG, when set, decides instead.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match verbose {
            0 => "off",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
