//! Counters and gauges, exposed in the Prometheus text format on `/metrics`.

use crate::protocol::FrameErrorCode;
use callcore::{ErrorCode, Status};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the request-to-answer latency buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 1_000_000];

/// Close codes counted separately (the rest count as `other`).
const CLOSE_CODES: [u16; 7] = [1000, 1001, 1009, 1011, 4001, 4002, 4003];

/// Everything the server counts. Updated with relaxed atomics from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections accepted since the start.
    pub connections_total: AtomicU64,
    /// Handshakes refused: bad token.
    pub refused_auth: AtomicU64,
    /// Handshakes refused: `connections_max` reached.
    pub refused_full: AtomicU64,
    /// Closes by the server, per code in `CLOSE_CODES` (then `other`).
    closes: [AtomicU64; 8],
    /// Transitions into each status, indexed by [`Status::index`].
    calls: [AtomicU64; 8],
    /// Answers: index 0 success, then 1 + [`ErrorCode::index`].
    answers: [AtomicU64; 9],
    /// Frames decoded with an error, per [`FrameErrorCode::index`].
    bad_frames: [AtomicU64; 5],
    /// Frames received (text).
    pub frames_in: AtomicU64,
    /// Frames queued to connections.
    pub frames_out: AtomicU64,
    /// Events waiting for the switchboard task.
    pub hub_queue_depth: AtomicU64,
    /// The deepest a connection's outbound queue was seen.
    pub outbound_queue_depth_max: AtomicU64,
    /// Latency histogram buckets (cumulative at rendering), per `LATENCY_BUCKETS_US`, then +Inf.
    latency_buckets: [AtomicU64; 13],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

impl Metrics {
    /// Counts a close sent with `code`.
    pub fn close(&self, code: u16) {
        let i = CLOSE_CODES.iter().position(|&c| c == code).unwrap_or(CLOSE_CODES.len());
        self.closes[i].fetch_add(1, Relaxed);
    }

    /// Closes sent with `code` so far.
    pub fn closes(&self, code: u16) -> u64 {
        let i = CLOSE_CODES.iter().position(|&c| c == code).unwrap_or(CLOSE_CODES.len());
        self.closes[i].load(Relaxed)
    }

    /// Counts a call's move into `status`.
    pub fn status(&self, status: Status) {
        self.calls[status.index()].fetch_add(1, Relaxed);
    }

    /// Counts an answer.
    pub fn answer(&self, result: Result<(), ErrorCode>) {
        let i = match result {
            Ok(()) => 0,
            Err(code) => 1 + code.index().min(7),
        };
        self.answers[i].fetch_add(1, Relaxed);
    }

    /// Counts a bad frame.
    pub fn bad_frame(&self, code: FrameErrorCode) {
        self.bad_frames[code.index()].fetch_add(1, Relaxed);
    }

    /// Records one request-to-answer latency.
    pub fn latency(&self, us: u64) {
        let i = LATENCY_BUCKETS_US.iter().position(|&b| us <= b).unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[i].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
    }

    /// Raises the outbound high-water mark to `depth` if it is deeper.
    pub fn outbound_depth(&self, depth: usize) {
        self.outbound_queue_depth_max.fetch_max(depth as u64, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        gauge(&mut out, "callcore_connections", "Connections open.", self.connections_open.load(Relaxed));
        counter(
            &mut out,
            "callcore_connections_total",
            "Connections accepted.",
            self.connections_total.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP callcore_handshakes_refused_total Handshakes refused.\n# TYPE callcore_handshakes_refused_total counter");
        let _ = writeln!(
            out,
            "callcore_handshakes_refused_total{{reason=\"auth\"}} {}",
            self.refused_auth.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "callcore_handshakes_refused_total{{reason=\"full\"}} {}",
            self.refused_full.load(Relaxed)
        );
        let _ = writeln!(out, "# HELP callcore_closes_total Connections closed by the server, by close code.\n# TYPE callcore_closes_total counter");
        for (i, n) in self.closes.iter().enumerate() {
            let code = CLOSE_CODES.get(i).map_or_else(|| String::from("other"), u16::to_string);
            let _ = writeln!(out, "callcore_closes_total{{code=\"{code}\"}} {}", n.load(Relaxed));
        }
        let _ = writeln!(out, "# HELP callcore_calls_total Calls that moved into each status.\n# TYPE callcore_calls_total counter");
        for status in Status::ALL {
            let _ = writeln!(
                out,
                "callcore_calls_total{{status=\"{status}\"}} {}",
                self.calls[status.index()].load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP callcore_answers_total Answers to requests, by code.\n# TYPE callcore_answers_total counter");
        let _ = writeln!(out, "callcore_answers_total{{code=\"ok\"}} {}", self.answers[0].load(Relaxed));
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "callcore_answers_total{{code=\"{}\"}} {}",
                code.name(),
                self.answers[1 + code.index()].load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP callcore_bad_frames_total Frames refused with an error frame, by code.\n# TYPE callcore_bad_frames_total counter");
        for code in FrameErrorCode::ALL {
            let _ = writeln!(
                out,
                "callcore_bad_frames_total{{code=\"{}\"}} {}",
                code.name(),
                self.bad_frames[code.index()].load(Relaxed)
            );
        }
        counter(&mut out, "callcore_frames_in_total", "Text frames received.", self.frames_in.load(Relaxed));
        counter(
            &mut out,
            "callcore_frames_out_total",
            "Frames queued to connections.",
            self.frames_out.load(Relaxed),
        );
        gauge(
            &mut out,
            "callcore_hub_queue_depth",
            "Events waiting for the switchboard task.",
            self.hub_queue_depth.load(Relaxed),
        );
        gauge(
            &mut out,
            "callcore_outbound_queue_depth_max",
            "The deepest a connection's outbound queue was seen.",
            self.outbound_queue_depth_max.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP callcore_request_latency_seconds From a request frame's arrival to its answer's queueing.\n# TYPE callcore_request_latency_seconds histogram");
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Relaxed);
            let _ = writeln!(
                out,
                "callcore_request_latency_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        cumulative += self.latency_buckets[LATENCY_BUCKETS_US.len()].load(Relaxed);
        let _ = writeln!(out, "callcore_request_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "callcore_request_latency_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "callcore_request_latency_seconds_count {}", self.latency_count.load(Relaxed));
        if let Some(process) = Process::read() {
            let _ = writeln!(
                out,
                "# HELP process_cpu_seconds_total CPU time of the server process (user and system).\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
                process.cpu_seconds
            );
            gauge(&mut out, "process_resident_memory_bytes", "Resident memory now.", process.resident_bytes);
            gauge(
                &mut out,
                "process_resident_memory_peak_bytes",
                "Peak resident memory.",
                process.peak_bytes,
            );
        }
        out
    }
}

/// The server process's CPU time and memory, from `/proc` (Linux only; `None` elsewhere).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Process {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory now, in bytes.
    pub resident_bytes: u64,
    /// Peak resident memory, in bytes.
    pub peak_bytes: u64,
}

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

impl Process {
    /// Reads this process's figures.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The fields after the command name (which is in parentheses and may hold spaces).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib = |key: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|k| k * 1024)
        };
        Some(Self {
            cpu_seconds: ticks as f64 / USER_HZ,
            resident_bytes: kib("VmRSS:")?,
            peak_bytes: kib("VmHWM:")?,
        })
    }
}
