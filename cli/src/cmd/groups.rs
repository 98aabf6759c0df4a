//! `klamm groups list|describe|delete`.

use serde_json::json;

use super::{Ctx, print_json};
use crate::args::GroupsCommand;
use crate::error::{CliError, CliResult};
use crate::output::out;

pub(crate) async fn run(ctx: &mut Ctx, command: GroupsCommand) -> CliResult {
    let admin = ctx.admin().await?;
    match command {
        GroupsCommand::List => {
            let groups = admin
                .list_groups(&[], &[])
                .await
                .map_err(|e| CliError::client("listing groups", e))?;
            if ctx.json {
                print_json(&json!(
                    groups
                        .iter()
                        .map(|g| json!({
                            "group": g.group_id, "protocol_type": g.protocol_type,
                            "state": g.state, "coordinator": g.coordinator,
                        }))
                        .collect::<Vec<_>>()
                ));
            } else {
                for g in &groups {
                    out!("{}  {}", g.group_id, g.state.as_deref().unwrap_or(""));
                }
            }
        }
        GroupsCommand::Describe { groups } => {
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            let described = admin.describe_groups(&names).await;
            let mut all = Vec::new();
            for name in &groups {
                let d = match described.get(name.as_str()) {
                    Some(Ok(d)) => d.clone(),
                    Some(Err(e)) => {
                        return Err(CliError::client(
                            format!("describing group {name}"),
                            e.clone(),
                        ));
                    }
                    None => {
                        return Err(CliError::failed(
                            format!("describing group {name}"),
                            "the broker did not answer for it",
                        ));
                    }
                };
                let offsets = admin
                    .list_group_offsets(name, None)
                    .await
                    .map_err(|e| CliError::client(format!("listing offsets of group {name}"), e))?;
                all.push((d, offsets));
            }
            if ctx.json {
                print_json(&json!(all.iter().map(|(d, offsets)| json!({
                    "group": d.group_id, "state": d.state,
                    "protocol_type": d.protocol_type, "protocol": d.protocol,
                    "members": d.members.iter().map(|m| json!({
                        "member_id": m.member_id, "instance_id": m.group_instance_id,
                        "client_id": m.client_id, "host": m.client_host,
                        "assignment": m.assignment.iter().map(|(t, ps)| json!({ "topic": t, "partitions": ps })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "offsets": offsets.iter().map(|o| json!({
                        "topic": o.topic, "partition": o.partition, "offset": o.offset,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()));
            } else {
                for (d, offsets) in &all {
                    out!(
                        "group {}  state {}  protocol {} {}  members {}",
                        d.group_id,
                        d.state,
                        d.protocol_type,
                        d.protocol,
                        d.members.len()
                    );
                    for m in &d.members {
                        let assigned: Vec<String> = m
                            .assignment
                            .iter()
                            .map(|(t, ps)| format!("{t}{ps:?}"))
                            .collect();
                        out!(
                            "  member {} ({} at {}) {}",
                            m.member_id,
                            m.client_id,
                            m.client_host,
                            assigned.join(" ")
                        );
                    }
                    for o in offsets {
                        out!("  committed {}/{} at {}", o.topic, o.partition, o.offset);
                    }
                }
            }
        }
        GroupsCommand::Delete { groups } => {
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            let results = admin.delete_groups(&names).await;
            for name in &groups {
                match results.get(name.as_str()) {
                    Some(Ok(())) => {
                        if ctx.json {
                            print_json(&json!({ "deleted": name }));
                        } else {
                            out!("deleted group {name}");
                        }
                    }
                    Some(Err(e)) => {
                        return Err(CliError::client(
                            format!("deleting group {name}"),
                            e.clone(),
                        ));
                    }
                    None => {
                        return Err(CliError::failed(
                            format!("deleting group {name}"),
                            "the broker did not answer for it",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
