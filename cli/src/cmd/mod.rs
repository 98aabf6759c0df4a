//! One module per subcommand; this one connects and dispatches.

mod cluster;
mod configs;
mod consume;
mod demo;
mod groups;
mod offsets;
mod produce;
mod topics;

use std::process::ExitCode;
use std::time::Duration;

use klamm::admin::Admin;
use klamm::config::Properties;
use klamm::{Client, ClientConfig};

use crate::args::{Cli, Command, Global};
use crate::error::{CliError, CliResult};

/// What every command gets: the property bag and the output mode.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Properties not yet taken by a configuration layer.
    pub(crate) props: Properties,
    /// `--json`.
    pub(crate) json: bool,
}

impl Ctx {
    /// Takes the client's properties; `finish` says whether to reject
    /// anything left over (true when no other layer will read the bag).
    pub(crate) fn client_config(&mut self) -> CliResult<ClientConfig> {
        ClientConfig::from_properties(&mut self.props)
            .map_err(|e| CliError::client("bad client configuration", e))
    }

    /// Rejects properties no layer took.
    pub(crate) fn finish(&mut self) -> CliResult {
        std::mem::take(&mut self.props)
            .finish()
            .map_err(|e| CliError::client("bad configuration", e))
    }

    /// A connected client from the client properties alone.
    pub(crate) async fn client(&mut self) -> CliResult<Client> {
        let config = self.client_config()?;
        self.finish()?;
        connect(config).await
    }

    /// An admin on a connected client.
    pub(crate) async fn admin(&mut self) -> CliResult<Admin> {
        Ok(Admin::new(self.client().await?).with_timeout(Duration::from_secs(30)))
    }
}

/// Connects, naming the brokers tried when it fails.
pub(crate) async fn connect(config: ClientConfig) -> CliResult<Client> {
    let brokers = config.bootstrap().join(",");
    // The client retries bootstrap addresses; bound the wait so an
    // unreachable broker is an error, not a hang.
    let limit = config.connect_timeout() + config.request_timeout().min(Duration::from_secs(10));
    match tokio::time::timeout(limit, Client::connect(config)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(CliError::client("connecting to the cluster", e)),
        Err(_) => Err(CliError {
            code: crate::error::UNREACHABLE,
            ..CliError::failed(
                format!("cannot connect to {brokers}"),
                format!("no broker answered within {limit:?}"),
            )
            .hint(crate::error::START_BROKER)
        }),
    }
}

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> CliResult<ExitCode> {
    let Cli { global, command } = cli;
    let mut ctx = context(&global)?;
    match command {
        Command::Cluster => cluster::run(&mut ctx).await?,
        Command::Topics(t) => topics::run(&mut ctx, t).await?,
        Command::Offsets { topic } => offsets::run(&mut ctx, &topic).await?,
        Command::Produce(p) => produce::run(&mut ctx, p).await?,
        Command::Consume(c) => consume::run(&mut ctx, c).await?,
        Command::Demo(d) => return demo::run(&mut ctx, d).await,
        Command::Groups(g) => groups::run(&mut ctx, g).await?,
        Command::Configs(c) => configs::run(&mut ctx, c).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn context(global: &Global) -> CliResult<Ctx> {
    let props = crate::config::properties(global, std::env::var("KLAMM_BOOTSTRAP").ok())?;
    Ok(Ctx {
        props,
        json: global.json,
    })
}

/// Prints one JSON value on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    crate::output::out!("{value}");
}
