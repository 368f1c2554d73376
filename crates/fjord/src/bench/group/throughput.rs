//! The throughput part of `fjord bench group`: a group of N consumers
//! against one consumer reading the same topic, each run checked against
//! the topic's contents. A child module of group.rs, sharing its helpers.

use super::*;

/// Part 3: a group of `--group-consumers` against one consumer, `--runs`
/// pairs, alternating so drift in the machine's speed hits both alike.
pub(super) fn throughput_part(
    args: &GroupBenchArgs,
    topic: &str,
    expected: &[u64],
) -> Result<Value> {
    let n = args.group_consumers as usize;
    println!(
        "throughput: {} records of {} B, a group of {n} against one consumer (each member \
         holds its partitions paused until the whole group has them; timed from the first \
         record to the last):",
        args.count, args.record_size
    );
    let (mut single, mut group, mut starts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut single_from_start, mut group_from_start) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let one = read_as_group(args, topic, expected, 1, run)?;
        let many = read_as_group(args, topic, expected, n, run)?;
        println!("  run {run}: 1 consumer {one}; group of {n} {many}");
        single.push(one.rate);
        group.push(many.rate);
        single_from_start.push(one.rate_from_start);
        group_from_start.push(many.rate_from_start);
        starts.push(one.first_ms);
        starts.push(many.first_ms);
    }
    let ratio = median(&group) / median(&single);
    println!("  1 consumer:     {}", spread_line(&single, "records/s"));
    println!("  group of {n}:     {}", spread_line(&group, "records/s"));
    println!("  group / single: {ratio:.2} (medians)");
    let settings = reported_settings(&throughput_config(&args.client, "<fresh per run>"));
    Ok(json!({
        "records": args.count,
        "group_consumers": n,
        "single_records_per_s": spread(&single),
        "group_records_per_s": spread(&group),
        "group_over_single": ratio,
        "first_record_after_start_ms": spread(&starts),
        "single_records_per_s_from_start": spread(&single_from_start),
        "group_records_per_s_from_start": spread(&group_from_start),
        "client_config": settings,
    }))
}

/// Throughput members read like `bench consume` (its prefetch settings),
/// but through a group.
fn throughput_config(client: &ClientArgs, group: &str) -> ClientConfig {
    let mut defaults: Vec<(&str, &str)> = CONSUME_SETTINGS.to_vec();
    defaults.extend_from_slice(GROUP_SETTINGS);
    defaults.push(("group.id", group));
    client.config_with(&defaults)
}

/// What a throughput run shares between its members.
struct ReadRun<'a> {
    config: &'a ClientConfig,
    topic: &'a str,
    table: &'a Arc<Table>,
    target: u64,
    /// Set when every member holds its (paused) partitions.
    go: AtomicBool,
    /// Set when the run fails, so every member stops.
    abort: AtomicBool,
    total: AtomicU64,
    /// Records read per partition, added by each member when it is done:
    /// checked against the topic's contents, so a record read twice (or
    /// missed) cannot pass for speed.
    read: Mutex<Vec<u64>>,
    /// When the first record after the start arrived (at any member).
    first: Mutex<Option<Instant>>,
    /// When the record that completed the target was counted.
    end: Mutex<Option<Instant>>,
}

/// One throughput run.
struct ReadOutcome {
    /// Records per second from the first record to the last: the rate at
    /// which the group reads once records flow.
    rate: f64,
    /// Seconds from the first record to the last.
    secs: f64,
    /// Records per second from the start (every member holds its paused
    /// partitions and resumes them) to the last record.
    rate_from_start: f64,
    /// From the start to the first record. Mostly librdkafka's own timers
    /// (a resumed partition waits for the fetcher's next turn), about
    /// 0.1 s whatever the broker: left out of `rate` so that a run of a
    /// second is not dominated by it.
    first_ms: f64,
}

impl std::fmt::Display for ReadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records/s ({:.3} s from the first record, {:.1} ms after the start; {} \
             records/s from the start)",
            thousands(self.rate),
            self.secs,
            self.first_ms,
            thousands(self.rate_from_start)
        )
    }
}

/// Reads the topic's `--count` records with a fresh group of `consumers`;
/// returns its rate.
fn read_as_group(
    args: &GroupBenchArgs,
    topic: &str,
    expected: &[u64],
    consumers: usize,
    run: u32,
) -> Result<ReadOutcome> {
    let group = format!("fjord-bench-throughput-{consumers}-{}-{run}", now_ms());
    let config = throughput_config(&args.client, &group);
    let table = Arc::new(Table::default());
    let shared = ReadRun {
        config: &config,
        topic,
        table: &table,
        target: args.count,
        go: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        total: AtomicU64::new(0),
        read: Mutex::new(vec![0; expected.len()]),
        first: Mutex::new(None),
        end: Mutex::new(None),
    };
    let (start, results) = thread::scope(|scope| {
        let handles: Vec<_> = (0..consumers)
            .map(|index| {
                let shared = &shared;
                scope.spawn(move || read_member(shared, index))
            })
            .collect();
        let active: Vec<usize> = (0..consumers).collect();
        let ready = table.wait_settled(&active, args.partitions, Instant::now(), true);
        let start = Instant::now();
        match &ready {
            Ok(_) => shared.go.store(true, Ordering::Release),
            Err(_) => shared.abort.store(true, Ordering::Release),
        }
        let mut results: Vec<Result<()>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("member thread panicked")))
            })
            .collect();
        results.push(ready.map(|_| ()));
        (start, results)
    });
    for result in results {
        result?;
    }
    let end = shared
        .end
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .context("the run ended before its last record")?;
    let first = shared
        .first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(start);
    let read = shared
        .read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if read != expected {
        bail!(
            "a group of {consumers} read {read:?} records per partition; the topic holds \
             {expected:?}"
        );
    }
    let records = shared.total.load(Ordering::Relaxed) as f64;
    let secs = end.saturating_duration_since(first).as_secs_f64().max(1e-9);
    let from_start = end.saturating_duration_since(start).as_secs_f64().max(1e-9);
    Ok(ReadOutcome {
        rate: records / secs,
        secs,
        rate_from_start: records / from_start,
        first_ms: ms(first.saturating_duration_since(start)),
    })
}

/// One throughput member: join, wait (paused) for the whole group, read
/// until the group as a whole has every record.
fn read_member(run: &ReadRun<'_>, index: usize) -> Result<()> {
    let result = read_member_inner(run, index);
    if result.is_err() {
        run.abort.store(true, Ordering::Release);
    }
    result
}

fn read_member_inner(run: &ReadRun<'_>, index: usize) -> Result<()> {
    let consumer: BaseConsumer<Tracked> = run
        .config
        .create_with_context(Tracked::new(run.table, index, true))
        .context("cannot create Kafka consumer (check the -X settings)")?;
    consumer
        .subscribe(&[run.topic])
        .with_context(|| format!("cannot subscribe to `{}`", run.topic))?;
    let mut pending = 0u64;
    let mut read = vec![0u64; run.read.lock().unwrap_or_else(|e| e.into_inner()).len()];
    let mut count = |message: &BorrowedMessage<'_>| {
        if let Some(n) = read.get_mut(message.partition() as usize) {
            *n += 1;
        }
    };
    // Short polls while waiting, so the start signal is seen at once.
    while !run.go.load(Ordering::Acquire) {
        if run.abort.load(Ordering::Acquire) {
            return Ok(());
        }
        match consumer.poll(Duration::from_millis(2)) {
            Some(Ok(message)) => {
                count(&message);
                pending += 1;
            }
            Some(Err(err)) => eprintln!("warning: member {index}: {err}"),
            None => {}
        }
    }
    let assignment = consumer
        .assignment()
        .context("cannot read the assignment")?;
    consumer
        .resume(&assignment)
        .context("cannot resume the assigned partitions")?;
    let mut wait = Duration::ZERO;
    let mut last_progress = Instant::now();
    let mut started = false;
    loop {
        match consumer.poll(wait) {
            Some(Ok(message)) => {
                count(&message);
                if !started {
                    started = true;
                    let now = Instant::now();
                    let mut first = run.first.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(now);
                }
                pending += 1;
                wait = Duration::ZERO;
                if pending < FLUSH_EVERY {
                    continue;
                }
            }
            Some(Err(err)) => eprintln!("warning: member {index}: {err}"),
            None => wait = Duration::from_millis(20),
        }
        if pending > 0 {
            let before = run.total.fetch_add(pending, Ordering::AcqRel);
            if before < run.target && before + pending >= run.target {
                *run.end.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
            pending = 0;
            last_progress = Instant::now();
        }
        if run.total.load(Ordering::Acquire) >= run.target || run.abort.load(Ordering::Acquire) {
            let mut shared = run.read.lock().unwrap_or_else(|e| e.into_inner());
            for (total, mine) in shared.iter_mut().zip(&read) {
                *total += mine;
            }
            return Ok(());
        }
        if last_progress.elapsed() > IDLE_LIMIT {
            bail!(
                "only {} of {} records arrived (nothing for {IDLE_LIMIT:?})",
                run.total.load(Ordering::Relaxed),
                run.target
            );
        }
    }
}
