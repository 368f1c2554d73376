//! `fjord bench disk`: sequential appends with an fsync after every batch,
//! with plain `std::fs` — what the log does for acks=all, minus Kafka. Its
//! MB/s is the ceiling `bench produce --acks all` is compared against.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use super::histogram::Histogram;
use super::{parse_size, print_summary, thousands, Payloads};

/// Arguments of `fjord bench disk`.
#[derive(Args, Debug)]
pub struct DiskBenchArgs {
    /// Directory to measure (the broker's data dir); created if missing. A
    /// temporary file is written there and removed afterwards.
    #[arg(long, default_value = "./fjord-data", value_name = "DIR")]
    dir: PathBuf,
    /// Bytes written between fsyncs, e.g. 16KiB, 1MiB.
    #[arg(long, default_value = "1MiB", value_parser = parse_size, value_name = "SIZE")]
    batch_size: u64,
    /// Total bytes to write, e.g. 1GiB.
    #[arg(long, default_value = "1GiB", value_parser = parse_size, value_name = "SIZE")]
    total: u64,
}

/// Runs `fjord bench disk`.
pub fn run(args: DiskBenchArgs) -> Result<()> {
    if args.batch_size > args.total {
        bail!(
            "--batch-size ({}) is larger than --total ({})",
            args.batch_size,
            args.total
        );
    }
    let batch_size = usize::try_from(args.batch_size)
        .ok()
        .filter(|&n| n <= 1 << 30)
        .context("--batch-size must be at most 1GiB")?;
    fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let path = args
        .dir
        .join(format!(".fjord-bench-disk-{}.tmp", std::process::id()));
    let result = write_batches(&path, batch_size, args.total);
    // Remove the file whether or not the run succeeded.
    let _ = fs::remove_file(&path);
    let (written, batches, secs, latency) = result?;

    let mb_per_s = written as f64 / secs / 1e6;
    let batches_per_s = batches as f64 / secs;
    println!(
        "bench disk: {written} bytes to {} in {batches} batches of {batch_size} B, \
         fsync after each, {secs:.3} s",
        args.dir.display()
    );
    println!(
        "  {mb_per_s:.1} MB/s, {} fsyncs/s",
        thousands(batches_per_s)
    );
    let latency = latency.summary_ms();
    println!("  write+fsync latency per batch: {latency}");
    print_summary(json!({
        "bench": "disk",
        "dir": args.dir.display().to_string(),
        "batch_size": batch_size,
        "bytes": written,
        "batches": batches,
        "elapsed_s": secs,
        "mb_per_s": mb_per_s,
        "fsyncs_per_s": batches_per_s,
        "latency_ms": latency,
    }));
    Ok(())
}

/// Appends batches to a new file, fsyncing (fdatasync) after each; returns
/// bytes written, batch count, seconds, and per-batch latency.
fn write_batches(
    path: &PathBuf,
    batch_size: usize,
    total: u64,
) -> Result<(u64, u64, f64, Histogram)> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // Data that is not all zeros, so no layer below can skip it.
    let payloads = Payloads::new(batch_size.min(64 << 10));
    let mut batch = Vec::with_capacity(batch_size);
    let mut i = 0;
    while batch.len() < batch_size {
        let chunk = payloads.get(i);
        let take = chunk.len().min(batch_size - batch.len());
        batch.extend_from_slice(&chunk[..take]);
        i += 1;
    }

    let latency = Histogram::default();
    let mut written = 0u64;
    let mut batches = 0u64;
    let start = Instant::now();
    while written < total {
        let len = batch_size.min((total - written) as usize);
        let t = Instant::now();
        file.write_all(&batch[..len])
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("cannot fsync {}", path.display()))?;
        latency.record(t.elapsed().as_nanos() as u64);
        written += len as u64;
        batches += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((written, batches, secs, latency))
}
