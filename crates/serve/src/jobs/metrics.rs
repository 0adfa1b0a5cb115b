//! `/metrics`: Prometheus text. Job counts and the queue depth come from the
//! database at each scrape (so they survive restarts, and with a shared
//! queue they are the whole queue's); finished jobs, stale results and
//! times are this process's own work.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::jobs::store::{JobStore, Status};

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    queue_depth: IntGauge,
    running: IntGauge,
    jobs: IntGaugeVec,
    finished: IntCounterVec,
    stale: IntCounter,
    video_seconds: Histogram,
    frame_seconds: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let queue_depth = IntGauge::new("relaxvqa_queue_depth", "Jobs waiting for a worker")?;
        let running = IntGauge::new("relaxvqa_running_jobs", "Jobs this process is scoring now")?;
        let jobs = IntGaugeVec::new(Opts::new("relaxvqa_jobs", "Jobs in the database by status"), &["status"])?;
        let finished = IntCounterVec::new(
            Opts::new("relaxvqa_jobs_finished_total", "Jobs finished by this process, by status"),
            &["status"],
        )?;
        let stale = IntCounter::new(
            "relaxvqa_stale_results_total",
            "Runs of this process whose job had passed to another run (lease lost): their results were discarded",
        )?;
        let video_seconds = Histogram::with_opts(
            HistogramOpts::new("relaxvqa_video_seconds", "Seconds to score one video (worker time)")
                .buckets(prometheus::exponential_buckets(0.25, 2.0, 14)?),
        )?;
        let frame_seconds = Histogram::with_opts(
            HistogramOpts::new("relaxvqa_sampled_frame_seconds", "Seconds per sampled frame of a scored video")
                .buckets(prometheus::exponential_buckets(0.01, 2.0, 12)?),
        )?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(running.clone()))?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(finished.clone()))?;
        registry.register(Box::new(stale.clone()))?;
        registry.register(Box::new(video_seconds.clone()))?;
        registry.register(Box::new(frame_seconds.clone()))?;
        Ok(Self { registry, queue_depth, running, jobs, finished, stale, video_seconds, frame_seconds })
    }

    /// A job finished with `status`.
    pub fn finished(&self, status: Status) {
        self.finished.with_label_values(&[status.as_str()]).inc();
    }

    /// A run's result was refused: its job had passed to another run.
    pub fn stale(&self) {
        self.stale.inc();
    }

    /// A video was scored in `seconds`, with `sampled` sampled frames.
    pub fn scored(&self, seconds: f64, sampled: usize) {
        self.video_seconds.observe(seconds);
        if sampled > 0 {
            self.frame_seconds.observe(seconds / sampled as f64);
        }
    }

    /// The text exposition, job counts read from `store`, with `running`
    /// jobs in this process.
    pub fn render(&self, store: &dyn JobStore, running: usize) -> Result<String, String> {
        self.running.set(running as i64);
        let counts = store.counts().map_err(|e| e.to_string())?;
        for (s, n) in counts {
            self.jobs.with_label_values(&[s.as_str()]).set(n as i64);
            if s == Status::Queued {
                self.queue_depth.set(n as i64);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}
