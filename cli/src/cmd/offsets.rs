//! `klamm offsets TOPIC`: earliest and latest offset per partition.

use klamm::admin::OffsetSpec;
use serde_json::json;

use super::{Ctx, print_json};
use crate::error::{CliError, CliResult};

pub(crate) async fn run(ctx: &mut Ctx, topic: &str) -> CliResult {
    let admin = ctx.admin().await?;
    let described = admin
        .describe_topics(&[topic])
        .await
        .into_result()
        .map_err(|e| CliError::client(format!("describing topic {topic}"), e))?;
    let mut partitions: Vec<i32> = described
        .iter()
        .flat_map(|d| d.partitions.iter().map(|p| p.partition))
        .collect();
    partitions.sort_unstable();
    let specs = |spec: OffsetSpec| {
        partitions
            .iter()
            .map(|p| ((topic.to_owned(), *p), spec))
            .collect::<Vec<_>>()
    };
    let earliest = admin.list_offsets(&specs(OffsetSpec::Earliest)).await;
    let latest = admin.list_offsets(&specs(OffsetSpec::Latest)).await;
    let mut rows = Vec::with_capacity(partitions.len());
    for p in &partitions {
        let key = (topic.to_owned(), *p);
        let get = |results: &klamm::admin::ItemResults<_, klamm::admin::ListedOffset>,
                   what: &str| {
            match results.get(&key) {
                Some(Ok(o)) => Ok(o.offset),
                Some(Err(e)) => Err(CliError::client(
                    format!("listing the {what} offset of {topic}/{p}"),
                    e.clone(),
                )),
                None => Err(CliError::failed(
                    format!("listing the {what} offset of {topic}/{p}"),
                    "the broker did not answer for this partition",
                )),
            }
        };
        rows.push((*p, get(&earliest, "earliest")?, get(&latest, "latest")?));
    }
    if ctx.json {
        print_json(&json!({
            "topic": topic,
            "partitions": rows.iter().map(|(p, e, l)| json!({
                "partition": p, "earliest": e, "latest": l,
            })).collect::<Vec<_>>(),
        }));
    } else {
        crate::output::out!("{:<10} {:>14} {:>14}", "partition", "earliest", "latest");
        for (p, e, l) in &rows {
            crate::output::out!("{p:<10} {e:>14} {l:>14}");
        }
    }
    Ok(())
}
