//! `klamm topics list|describe|create|delete|add-partitions`.

use klamm::admin::{NewPartitions, NewTopic, TopicRef};
use klamm::protocol::ErrorCode;
use serde_json::json;

use super::{Ctx, print_json};
use crate::args::TopicsCommand;
use crate::error::{CliError, CliResult};

pub(crate) async fn run(ctx: &mut Ctx, command: TopicsCommand) -> CliResult {
    let admin = ctx.admin().await?;
    match command {
        TopicsCommand::List { internal } => {
            let topics = admin
                .list_topics(internal)
                .await
                .map_err(|e| CliError::client("listing topics", e))?;
            if ctx.json {
                print_json(&json!(
                    topics
                        .iter()
                        .map(|t| json!({
                            "name": t.name, "id": t.topic_id.to_string(), "internal": t.internal,
                        }))
                        .collect::<Vec<_>>()
                ));
            } else {
                for t in &topics {
                    crate::output::out!("{}", t.name);
                }
            }
        }
        TopicsCommand::Describe { topics } => {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let results = admin.describe_topics(&names).await;
            let mut out = Vec::new();
            for name in &topics {
                match results.get(name.as_str()) {
                    Some(Ok(d)) => out.push(d.clone()),
                    Some(Err(e)) => {
                        return Err(CliError::client(
                            format!("describing topic {name}"),
                            e.clone(),
                        )
                        .hint("klamm topics list shows the topics that exist"));
                    }
                    None => {
                        return Err(CliError::failed(
                            format!("describing topic {name}"),
                            "the broker did not answer for it",
                        ));
                    }
                }
            }
            if ctx.json {
                print_json(&json!(
                    out.iter()
                        .map(|d| json!({
                            "name": d.name,
                            "id": d.topic_id.to_string(),
                            "internal": d.internal,
                            "partitions": d.partitions.iter().map(|p| json!({
                                "partition": p.partition,
                                "leader": p.leader,
                                "leader_epoch": p.leader_epoch,
                                "replicas": p.replicas,
                                "isr": p.isr,
                                "offline": p.offline_replicas,
                            })).collect::<Vec<_>>(),
                        }))
                        .collect::<Vec<_>>()
                ));
            } else {
                for d in &out {
                    crate::output::out!(
                        "topic {}  id {}  partitions {}{}",
                        d.name,
                        d.topic_id,
                        d.partitions.len(),
                        if d.internal { "  (internal)" } else { "" }
                    );
                    for p in &d.partitions {
                        let leader = p
                            .leader
                            .map_or_else(|| "none".to_owned(), |l| l.to_string());
                        crate::output::out!(
                            "  partition {:<4} leader {:<4} epoch {:<4} replicas {:?} isr {:?}",
                            p.partition,
                            leader,
                            p.leader_epoch,
                            p.replicas,
                            p.isr
                        );
                    }
                }
            }
        }
        TopicsCommand::Create {
            topic,
            partitions,
            replication,
            configs,
            if_not_exists,
        } => {
            let mut new = NewTopic::new(topic.as_str(), partitions, replication);
            for (k, v) in configs {
                new = new.config(k, v);
            }
            let results = admin.create_topics(&[new], false).await;
            let outcome = results.get(topic.as_str()).cloned().unwrap_or_else(|| {
                Err(klamm::Error::config(
                    "topic",
                    "the broker did not answer for it",
                ))
            });
            match outcome {
                Ok(created) => {
                    if ctx.json {
                        print_json(&json!({
                            "created": topic, "id": created.topic_id.to_string(),
                            "partitions": created.num_partitions,
                            "replication_factor": created.replication_factor,
                        }));
                    } else {
                        crate::output::out!("created topic {topic} ({partitions} partitions)");
                    }
                }
                Err(e) if if_not_exists && e.code() == Some(ErrorCode::TopicAlreadyExists) => {
                    if ctx.json {
                        print_json(&json!({ "exists": topic }));
                    } else {
                        crate::output::out!("topic {topic} already exists");
                    }
                }
                Err(e) => {
                    let exists = e.code() == Some(ErrorCode::TopicAlreadyExists);
                    let err = CliError::client(format!("creating topic {topic}"), e);
                    return Err(if exists {
                        err.hint("--if-not-exists accepts an existing topic")
                    } else {
                        err
                    });
                }
            }
        }
        TopicsCommand::Delete { topics } => {
            let refs: Vec<TopicRef> = topics.iter().map(|t| TopicRef::from(t.as_str())).collect();
            let results = admin.delete_topics(&refs).await;
            let mut errors = Vec::new();
            for name in &topics {
                match results
                    .iter()
                    .find(|(k, _)| **k == *name.as_str())
                    .map(|(_, r)| r)
                {
                    Some(Ok(())) => {
                        if ctx.json {
                            print_json(&json!({ "deleted": name }));
                        } else {
                            crate::output::out!("deleted topic {name}");
                        }
                    }
                    Some(Err(e)) => {
                        errors.push(CliError::client(
                            format!("deleting topic {name}"),
                            e.clone(),
                        ));
                    }
                    None => errors.push(CliError::failed(
                        format!("deleting topic {name}"),
                        "the broker did not answer for it",
                    )),
                }
            }
            // One failure is the error; several are each printed, then summarised.
            if errors.len() > 1 {
                for e in &errors {
                    eprintln!("{e}");
                }
                let n = errors.len();
                let mut err = errors.swap_remove(0);
                err.what = "deleting topics".into();
                err.why = format!(
                    "{n} of {} topics were not deleted (see above)",
                    topics.len()
                );
                err.hint = None;
                return Err(err);
            }
            if let Some(err) = errors.pop() {
                return Err(err);
            }
        }
        TopicsCommand::AddPartitions { topic, total } => {
            let results = admin
                .create_partitions(&[NewPartitions::increase_to(topic.as_str(), total)], false)
                .await;
            match results.get(topic.as_str()) {
                Some(Ok(())) => {
                    if ctx.json {
                        print_json(&json!({ "topic": topic, "partitions": total }));
                    } else {
                        crate::output::out!("topic {topic} now has {total} partitions");
                    }
                }
                Some(Err(e)) => {
                    return Err(CliError::client(
                        format!("adding partitions to {topic}"),
                        e.clone(),
                    ));
                }
                None => {
                    return Err(CliError::failed(
                        format!("adding partitions to {topic}"),
                        "the broker did not answer for it",
                    ));
                }
            }
        }
    }
    Ok(())
}
