//! `klamm groups list|describe|delete`.

use klamm::admin::{Admin, OffsetSpec};
use serde_json::json;

use super::{Ctx, print_json};
use crate::args::{GroupsCommand, ResetTo};
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
        GroupsCommand::ResetOffsets {
            group,
            topic,
            to,
            execute,
        } => reset_offsets(ctx, &admin, &group, &topic, &to, execute).await?,
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

/// Plans (and with `execute` applies) new committed offsets for every
/// partition of `topic`.
async fn reset_offsets(
    ctx: &Ctx,
    admin: &Admin,
    group: &str,
    topic: &str,
    to: &ResetTo,
    execute: bool,
) -> CliResult {
    let partitions =
        super::consume::partitions_of(admin, std::slice::from_ref(&topic.to_owned()), &[]).await?;
    let keys: Vec<(String, i32)> = partitions
        .iter()
        .map(|tp| (tp.topic.to_string(), tp.partition))
        .collect();
    let targets: Vec<((String, i32), i64)> = match to.to_offset {
        Some(o) if o < 0 => {
            return Err(CliError::usage(
                "bad --to-offset",
                "offsets are not negative",
            ));
        }
        Some(o) => keys.iter().map(|k| (k.clone(), o)).collect(),
        None => {
            let spec = if to.to_earliest {
                OffsetSpec::Earliest
            } else {
                OffsetSpec::Latest
            };
            let specs: Vec<_> = keys.iter().map(|k| (k.clone(), spec)).collect();
            let listed = admin.list_offsets(&specs).await;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                match listed.get(k) {
                    Some(Ok(o)) => out.push((k.clone(), o.offset)),
                    Some(Err(e)) => {
                        return Err(CliError::client(
                            format!("listing offsets of {}/{}", k.0, k.1),
                            e.clone(),
                        ));
                    }
                    None => {
                        return Err(CliError::failed(
                            format!("listing offsets of {}/{}", k.0, k.1),
                            "no answer for it",
                        ));
                    }
                }
            }
            out
        }
    };
    let current = admin
        .list_group_offsets(group, None)
        .await
        .map_err(|e| CliError::client(format!("listing offsets of group {group}"), e))?;
    let now = |k: &(String, i32)| {
        current
            .iter()
            .find(|o| o.topic == k.0 && o.partition == k.1)
            .map(|o| o.offset)
    };
    if ctx.json {
        print_json(&json!({
            "group": group,
            "executed": execute,
            "partitions": targets.iter().map(|(k, o)| json!({
                "topic": k.0, "partition": k.1, "current": now(k), "new": o,
            })).collect::<Vec<_>>(),
        }));
    } else {
        out!(
            "{:<30} {:>10} {:>14} {:>14}",
            "topic",
            "partition",
            "current",
            "new"
        );
        for (k, o) in &targets {
            let cur = now(k).map_or_else(|| "-".to_owned(), |c| c.to_string());
            out!("{:<30} {:>10} {:>14} {:>14}", k.0, k.1, cur, o);
        }
    }
    if !execute {
        if !ctx.json {
            out!("dry run: nothing changed (add --execute to apply)");
        }
        return Ok(());
    }
    let results = admin.alter_group_offsets(group, &targets).await;
    if let Some((k, e)) = results.errors().next() {
        return Err(
            CliError::client(format!("resetting {group} on {}/{}", k.0, k.1), e.clone())
                .hint("stop the group's consumers first (klamm groups describe shows its members)"),
        );
    }
    if !ctx.json {
        out!(
            "reset {} partitions of {topic} for group {group}",
            targets.len()
        );
    }
    Ok(())
}
