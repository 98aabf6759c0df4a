//! `klamm configs describe|set|delete` for a topic or a broker.

use klamm::admin::{AlterConfigOp, ConfigResource};
use serde_json::json;

use super::{Ctx, print_json};
use crate::args::{ConfigTarget, ConfigsCommand};
use crate::error::{CliError, CliResult};
use crate::output::out;

fn resource(target: &ConfigTarget) -> ConfigResource {
    match (&target.topic, target.broker) {
        (Some(t), _) => ConfigResource::topic(t.as_str()),
        (None, Some(b)) => ConfigResource::broker(b),
        // clap's group makes exactly one of them required.
        (None, None) => ConfigResource::topic(""),
    }
}

pub(crate) async fn run(ctx: &mut Ctx, command: ConfigsCommand) -> CliResult {
    let admin = ctx.admin().await?;
    let (target, ops) = match command {
        ConfigsCommand::Describe { target } => {
            let r = resource(&target);
            let results = admin.describe_configs(std::slice::from_ref(&r)).await;
            let entries = match results.get(&r) {
                Some(Ok(e)) => e.clone(),
                Some(Err(e)) => {
                    return Err(CliError::client(
                        format!("describing configs of {r}"),
                        e.clone(),
                    ));
                }
                None => {
                    return Err(CliError::failed(
                        format!("describing configs of {r}"),
                        "no answer for it",
                    ));
                }
            };
            if ctx.json {
                print_json(&json!(
                    entries
                        .iter()
                        .map(|e| json!({
                            "name": e.name,
                            "value": if e.sensitive { None } else { e.value.clone() },
                            "source": format!("{:?}", e.source),
                            "read_only": e.read_only, "sensitive": e.sensitive,
                        }))
                        .collect::<Vec<_>>()
                ));
            } else {
                for e in &entries {
                    let value = if e.sensitive {
                        "(sensitive)"
                    } else {
                        e.value.as_deref().unwrap_or("(null)")
                    };
                    out!("{} = {}  [{:?}]", e.name, value, e.source);
                }
            }
            return Ok(());
        }
        ConfigsCommand::Set { target, configs } => (
            target,
            configs
                .into_iter()
                .map(|(k, v)| AlterConfigOp::Set(k, v))
                .collect::<Vec<_>>(),
        ),
        ConfigsCommand::Delete { target, names } => (
            target,
            names.into_iter().map(AlterConfigOp::Delete).collect(),
        ),
    };
    let r = resource(&target);
    let results = admin
        .incremental_alter_configs(&[(r.clone(), ops)], false)
        .await;
    match results.get(&r) {
        Some(Ok(())) => {
            if ctx.json {
                print_json(&json!({ "altered": r.to_string() }));
            } else {
                out!("altered configs of {r}");
            }
            Ok(())
        }
        Some(Err(e)) => Err(CliError::client(
            format!("altering configs of {r}"),
            e.clone(),
        )),
        None => Err(CliError::failed(
            format!("altering configs of {r}"),
            "no answer for it",
        )),
    }
}
