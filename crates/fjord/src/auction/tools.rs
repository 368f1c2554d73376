//! `fjord auction load|item|backup`: the tools around the running system.

use super::*;

pub(super) fn run_load(a: LoadArgs) -> Result<()> {
    if !(a.duration > 0.0 && a.duration <= 86_400.0) {
        bail!("--duration must be between 0 and 86400 seconds");
    }
    if a.rate < 0.0 || !a.rate.is_finite() {
        bail!("--rate must be 0 (unlimited) or a positive number");
    }
    let plan = load::LoadPlan {
        url: a.url,
        bidders: a.bidders.clamp(1, 1000),
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration),
        items: a.items,
    };
    let r = load::run(&plan)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "sent {} bids in {:.1} s: {} added ({:.1}/s), {} refused, {} errors; latency of added bids p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            r.sent, r.seconds, r.added, r.bids_per_second, r.refused, r.errors, r.p50_ms, r.p99_ms, r.max_ms
        );
    }
    Ok(())
}

pub(super) fn run_item(a: ItemArgs) -> Result<()> {
    match a.command {
        ItemCommand::Add {
            name,
            description,
            starting_price,
            closes_at,
            open_minutes,
            data,
        } => {
            let closes_at_ms = match (closes_at, open_minutes) {
                (Some(t), _) => time::parse_rfc3339(&t).with_context(|| {
                    format!(
                        "--closes-at `{t}` is not an RFC 3339 time such as 2030-06-01T18:00:00Z"
                    )
                })?,
                (None, Some(m)) if m > 0 => time::now_ms() + m * 60_000,
                _ => bail!("--open-minutes must be a positive number of minutes"),
            };
            let path = data.ensure_items()?;
            let item = Item {
                name,
                description,
                starting_price,
                closes_at_ms,
            };
            items::add_item(&path, &item)?;
            println!(
                "added `{}` to {} (closes {})",
                item.name,
                path.display(),
                time::rfc3339(closes_at_ms)
            );
            Ok(())
        }
        ItemCommand::List { data } => {
            let path = data.ensure_items()?;
            let catalog = Catalog::load(&path)?;
            let now = time::now_ms();
            let rows: Vec<Vec<String>> = catalog
                .items
                .iter()
                .map(|i| {
                    vec![
                        i.name.clone(),
                        i.starting_price.to_string(),
                        time::rfc3339(i.closes_at_ms),
                        time::time_left(i.closes_at_ms, now),
                        i.description.clone(),
                    ]
                })
                .collect();
            crate::group::print_table(
                &["ITEM", "STARTING", "CLOSES", "LEFT", "DESCRIPTION"],
                &rows,
            );
            Ok(())
        }
    }
}

pub(super) async fn run_backup(a: BackupArgs) -> Result<()> {
    match a.command {
        BackupCommand::Verify {
            cluster,
            data,
            backup,
            dead_letter,
            no_topic,
            no_table,
        } => {
            let (path, format) = backup.for_reading(&data)?;
            let settings = cluster
                .settings(None)
                .with_dead_letter(dead_letter.policy());
            let topic = if no_topic {
                None
            } else {
                Some((&settings, cluster.codec().await?))
            };
            let store = if no_table {
                None
            } else {
                Some(data.store().await?)
            };
            let report = backup::verify(&path, topic, store.as_ref()).await?;
            println!(
                "{}: {} {}; topic {}; table {}",
                path.display(),
                report.file_lines,
                match format {
                    BackupFormat::JsonLines => "lines",
                    BackupFormat::Avro => "records in Avro blocks",
                },
                report
                    .topic_records
                    .map_or("not read".into(), |n| format!("{n} records")),
                report
                    .table_rows
                    .map_or("not read".into(), |n| format!("{n} rows"))
            );
            if report.dead_lettered > 0 {
                println!(
                    "{} record(s) not bids, in {}",
                    report.dead_lettered, dead_letter.dead_letter_topic
                );
            }
            if report.problems.is_empty() {
                println!("OK: the file, the topic and the table agree");
                Ok(())
            } else {
                for p in &report.problems {
                    println!("problem: {p}");
                }
                bail!(
                    "the backup does not match ({} problem(s))",
                    report.problems.len()
                )
            }
        }
        BackupCommand::Restore { data, backup } => {
            let (path, _) = backup.for_reading(&data)?;
            let store = data.store().await?;
            let o = backup::restore(&path, &store).await?;
            println!(
                "restored from {}: {} accepted, {} outbid, {} already in the table",
                path.display(),
                o.accepted,
                o.outbid,
                o.duplicates
            );
            Ok(())
        }
    }
}

pub(super) fn require_file(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!("backup file {} does not exist", path.display());
    }
    Ok(())
}
