//! `klamm cluster`: brokers, controller, negotiated API versions.

use klamm::ConnKind;
use klamm::protocol::ApiKey;
use serde_json::json;

use super::{Ctx, print_json};
use crate::error::{CliError, CliResult};

/// One API as negotiated with one broker.
struct Negotiated {
    name: &'static str,
    ours: String,
    theirs: String,
    used: Option<i16>,
}

pub(crate) async fn run(ctx: &mut Ctx) -> CliResult {
    let admin = ctx.admin().await?;
    let cluster = admin
        .describe_cluster()
        .await
        .map_err(|e| CliError::client("describing the cluster", e))?;
    let mut per_broker = Vec::new();
    for node in &cluster.brokers {
        let conn = admin
            .client()
            .connection(node.id, ConnKind::Other)
            .await
            .map_err(|e| CliError::client(format!("connecting to broker {}", node.id), e))?;
        let mut apis: Vec<Negotiated> = conn
            .versions()
            .iter()
            .filter_map(|(key, theirs)| {
                let api = ApiKey::from_i16(key)?;
                let ours = api.valid_versions();
                Some(Negotiated {
                    name: api.name(),
                    ours: ours.to_string(),
                    theirs: theirs.to_string(),
                    used: ours.highest_common(&theirs),
                })
            })
            .collect();
        apis.sort_by_key(|a| a.name);
        per_broker.push((node, apis));
    }

    if ctx.json {
        print_json(&json!({
            "cluster_id": cluster.cluster_id,
            "controller": cluster.controller,
            "brokers": per_broker.iter().map(|(n, apis)| json!({
                "id": n.id,
                "host": n.host,
                "port": n.port,
                "rack": n.rack,
                "apis": apis.iter().map(|a| json!({
                    "api": a.name, "ours": a.ours, "broker": a.theirs, "version": a.used,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    crate::output::out!(
        "cluster {}  controller {}",
        cluster.cluster_id.as_deref().unwrap_or("(no id)"),
        cluster
            .controller
            .map_or_else(|| "unknown".to_owned(), |c| c.to_string())
    );
    for (node, apis) in &per_broker {
        let rack = node
            .rack
            .as_deref()
            .map(|r| format!(" rack {r}"))
            .unwrap_or_default();
        let role = if cluster.controller == Some(node.id) {
            " (controller)"
        } else {
            ""
        };
        crate::output::out!(
            "broker {} at {}:{}{rack}{role}",
            node.id,
            node.host,
            node.port
        );
        crate::output::out!("  {:<30} {:<8} {:<8} used", "api", "klamm", "broker");
        for a in apis {
            let used = a
                .used
                .map_or_else(|| "none".to_owned(), |v| format!("v{v}"));
            crate::output::out!("  {:<30} {:<8} {:<8} {used}", a.name, a.ours, a.theirs);
        }
    }
    Ok(())
}
