//! `klamm-web-service`: see the crate's README.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use klamm_web_service::{Args, Settings, run};

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_max_level(args.log)
        .with_target(false)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.workers {
        runtime.worker_threads(n.max(1));
    }
    let runtime = match runtime.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("klamm-web-service: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.host, args.port);
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("klamm-web-service: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Ok(bound) = listener.local_addr() {
            // Scripts and tests read the port from this line (with --port 0).
            println!("listening on {bound}");
        }
        match run(Settings::from(&args), listener, shutdown_signal()).await {
            Ok(summary) if summary.flushed => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!(
                    "klamm-web-service: some records were not delivered before the close timeout"
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("klamm-web-service: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        _ = term.recv() => tracing::info!("SIGTERM"),
    }
}
