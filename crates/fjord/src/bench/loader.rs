//! Filling a benchmark's input topics before it is timed (`bench nexmark`,
//! `bench restore`): one acks=all producer batching as much as it can,
//! a progress bar, and sends that wait while librdkafka's queue is full.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::client::ClientArgs;

pub(super) struct Loader {
    producer: ThreadedProducer<DefaultProducerContext>,
    bar: ProgressBar,
    what: &'static str,
}

impl Loader {
    /// `total` records of `what` (the progress bar's unit; hidden with
    /// `quiet`).
    pub fn new(client: &ClientArgs, total: u64, what: &'static str, quiet: bool) -> Result<Loader> {
        let producer = client
            .config_with(&[
                ("acks", "all"),
                ("linger.ms", "20"),
                ("batch.size", "1000000"),
                ("partitioner", "murmur2_random"),
            ])
            .create()
            .context("producer")?;
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let template =
                format!("loading {{bar:40}} {{pos}}/{{len}} {what} {{per_sec}} eta {{eta}}");
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template(&template).expect("static progress template is valid"),
            )
        };
        Ok(Loader {
            producer,
            bar,
            what,
        })
    }

    /// Sends `record`, waiting while the producer's queue is full.
    pub fn send<K: ToBytes + ?Sized, P: ToBytes + ?Sized>(
        &self,
        mut record: BaseRecord<'_, K, P>,
    ) -> Result<()> {
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.to_string().contains("Queue full") => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => bail!("loading {}: {e}", self.what),
            }
        }
        self.bar.inc(1);
        Ok(())
    }

    /// Waits until every record is acknowledged.
    pub fn finish(self) -> Result<()> {
        self.producer
            .flush(Duration::from_secs(300))
            .with_context(|| format!("loading {}", self.what))?;
        self.bar.finish_and_clear();
        Ok(())
    }
}
