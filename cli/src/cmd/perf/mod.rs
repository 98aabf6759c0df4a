//! `klamm perf produce|consume`: throughput, send-to-ack latency and the
//! client's CPU time, as text or one JSON object (`--json`) for scripts.

mod consume;
mod produce;
mod report;

use super::Ctx;
use crate::args::PerfCommand;
use crate::error::CliResult;

pub(crate) async fn run(ctx: &mut Ctx, command: PerfCommand) -> CliResult {
    match command {
        PerfCommand::Produce(args) => produce::run(ctx, args).await,
        PerfCommand::Consume(args) => consume::run(ctx, args).await,
    }
}
