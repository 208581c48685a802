//! Metrics (the setting `metrics_path`): the server's own and the application's, recorded
//! into one table of atomic words that the metrics path renders ([`scrape`](super::scrape)).
//!
//! The table is a fixed block of words: a header (the server's counters, and each
//! process's gauges and pid), then series, each a key (`name{label="value",...}`, as the
//! text format writes it), a kind and its values. A Forked server makes the block in memory
//! shared by the master and every worker before it forks them, so a worker's counts land
//! where every worker reads them: a scrape of any worker sees the sum over all, and the
//! counts of a worker that died stay. Series are appended without a lock (a place is
//! reserved with one atomic add, the key written, then the kind published), so that no
//! process can die holding one; two processes that add the same key at once make two
//! series, which the scrape adds up.
//!
//! Applications record through the `metrics` facade (`metrics::counter!` and friends):
//! the server installs a [`Recorder`] writing to the same table. A gauge is one value for
//! the whole server: `set` in any worker replaces it, `increment` and `decrement` add up.

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The upper bounds of histogram buckets (Prometheus's defaults; seconds, for durations).
pub(crate) const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// [`BUCKETS`] in nanoseconds, for the durations of requests.
const BUCKET_NANOS: [u64; 11] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The words of a series' key: 512 bytes.
const KEY_WORDS: usize = 64;
/// The words of a series' values: a count per bucket (the last, `+Inf`, is the count of
/// all), and the sum (an `f64`'s bits). A counter or a gauge uses the first.
const VALUE_WORDS: usize = BUCKETS.len() + 2;
/// A series: its kind, its key's length, its key, its values.
const SERIES_WORDS: usize = 2 + KEY_WORDS + VALUE_WORDS;
/// The most series the table holds; past it, new series are not recorded (and counted).
pub(crate) const MAX_SERIES: usize = 4096;
/// The most processes with gauges of their own: Forked's workers, twice over for a reload.
const MAX_PROCESSES: usize = 2048;

/// The header's words.
const SERIES_COUNT: usize = 0;
const EVICTED: usize = 1;
const LINES_DROPPED: usize = 2;
const PANICS: usize = 3;
/// CPU time of the workers that exited, in µs (their rusage, from the master).
const EXITED_CPU_MICROS: usize = 4;
const SERIES_DROPPED: usize = 5;
/// The master's pid (Forked), or the process's.
const MAIN_PID: usize = 6;
/// Where a series that could not be added records, unread.
const SINK: usize = 8;
/// Per process: its pid (0: free), its requests in flight, its open connections.
const PROCESSES: usize = SINK + VALUE_WORDS;
const FIRST_SERIES: usize = PROCESSES + 3 * MAX_PROCESSES;
/// The words of the whole table.
pub(crate) const WORDS: usize = FIRST_SERIES + SERIES_WORDS * MAX_SERIES;

/// What a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    /// A histogram of durations, its sum in nanoseconds (rendered in seconds).
    Durations = 4,
}

impl Kind {
    fn of(word: u64) -> Option<Kind> {
        match word {
            1 => Some(Kind::Counter),
            2 => Some(Kind::Gauge),
            3 => Some(Kind::Histogram),
            4 => Some(Kind::Durations),
            _ => None,
        }
    }

    /// Its name in the text format's `# TYPE` line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram | Kind::Durations => "histogram",
        }
    }
}

/// This process's view of the table, and what it caches to find series quickly.
pub(crate) struct Metrics {
    words: &'static [AtomicU64],
    /// This process's place among [`PROCESSES`]; `usize::MAX` until it has one.
    process: AtomicUsize,
    /// The series this process found or added, by key: their first value word.
    series: Mutex<HashMap<String, usize>>,
    /// The route labels: each route's pattern, then `fallback`, then `none`.
    routes: Vec<String>,
    /// Per route, method and status (100..=599): the first value word of its requests
    /// counter, plus one; 0 until found.
    requests: Box<[AtomicU32]>,
    /// Per route and method: the first value word of its duration histogram, plus one.
    durations: Box<[AtomicU32]>,
    /// Descriptions given through the facade, by metric name.
    help: Mutex<HashMap<String, String>>,
    /// The clock ticks per second of CPU times in `/proc`.
    pub(crate) clock_ticks: u64,
}

/// The methods with labels of their own; any other is `other`.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"];
const _: () = assert!(BUCKET_NANOS.len() == BUCKETS.len());
const STATUSES: usize = 500;

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The metrics of this process, if the server records them.
#[inline]
pub(crate) fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Records into `words` (a block of [`WORDS`], zeroed; shared by the processes of a Forked
/// server) from now on, labelling requests by `routes` (the patterns, in the router's
/// order), CPU times read in `clock_ticks` per second; and installs the facade's recorder, unless the program installed its own. The
/// first call wins: a process has one table.
pub(crate) fn install(words: &'static [AtomicU64], routes: Vec<String>, clock_ticks: u64) -> &'static Metrics {
    let mut installed = false;
    let metrics = METRICS.get_or_init(|| {
        installed = true;
        let labels = routes.len() + 2;
        let mut routes = routes;
        routes.extend(["fallback".to_owned(), "none".to_owned()]);
        words[MAIN_PID].store(u64::from(std::process::id()), Ordering::Relaxed);
        Metrics {
            words,
            process: AtomicUsize::new(usize::MAX),
            series: Mutex::default(),
            routes,
            requests: (0..labels * METHODS.len() * STATUSES).map(|_| AtomicU32::new(0)).collect(),
            durations: (0..labels * METHODS.len()).map(|_| AtomicU32::new(0)).collect(),
            help: Mutex::default(),
            clock_ticks,
        }
    });
    if installed && metrics::set_global_recorder(Recorder(metrics)).is_err() {
        tracing::warn!(
            "the program installed a metrics recorder of its own: the metrics path shows none of its metrics"
        );
    }
    metrics
}

/// A request being answered: when it started, and its method's label. It counts among
/// the requests in flight until it is dropped, answered or not (its client gone).
pub(crate) struct Timer {
    metrics: &'static Metrics,
    started: Instant,
    method: usize,
}

impl Timer {
    /// The request was answered with `status` by the route with `label`.
    #[inline]
    pub(crate) fn finish(self, label: usize, status: u16) {
        self.metrics.answered(&self, label, status);
    }
}

impl Drop for Timer {
    #[inline]
    fn drop(&mut self) {
        self.metrics.own_gauge(1, u64::MAX);
    }
}

impl Metrics {
    /// The label of the fallback route, after the routes'.
    pub(crate) fn fallback_label(&self) -> usize {
        self.routes.len() - 2
    }

    /// The label of a request no route answered.
    pub(crate) fn none_label(&self) -> usize {
        self.routes.len() - 1
    }

    /// Takes a place among the processes for this one's gauges: once in Threaded, in each
    /// worker as it starts in Forked. A place whose process is gone is freed by the master
    /// ([`Metrics::process_exited`]).
    pub(crate) fn process_started(&self) {
        let pid = u64::from(std::process::id());
        let held = self.process.load(Ordering::Acquire);
        if held != usize::MAX && self.words[held].load(Ordering::Acquire) == pid {
            return;
        }
        for place in 0..MAX_PROCESSES {
            let at = PROCESSES + 3 * place;
            if self.words[at].compare_exchange(0, pid, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.words[at + 1].store(0, Ordering::Relaxed);
                self.words[at + 2].store(0, Ordering::Relaxed);
                self.process.store(at, Ordering::Release);
                return;
            }
        }
    }

    /// The process `pid` exited after `cpu_micros` of CPU time: its CPU time is kept, its
    /// gauges dropped.
    pub(crate) fn process_exited(&self, pid: u32, cpu_micros: u64) {
        self.words[EXITED_CPU_MICROS].fetch_add(cpu_micros, Ordering::Relaxed);
        let places = (0..MAX_PROCESSES).map(|place| PROCESSES + 3 * place);
        if let Some(at) = places.into_iter().find(|&at| self.words[at].load(Ordering::Acquire) == u64::from(pid)) {
            self.words[at + 1].store(0, Ordering::Relaxed);
            self.words[at + 2].store(0, Ordering::Relaxed);
            self.words[at].store(0, Ordering::Release);
        }
    }

    /// Adds `delta` to this process's gauge `which` (1: requests in flight, 2: connections).
    #[inline]
    fn own_gauge(&self, which: usize, delta: u64) {
        let at = self.process.load(Ordering::Relaxed);
        if at != usize::MAX {
            self.words[at + which].fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// A connection opened.
    pub(crate) fn connection_opened(&self) {
        self.own_gauge(2, 1);
    }

    /// A connection closed.
    pub(crate) fn connection_closed(&self) {
        self.own_gauge(2, u64::MAX);
    }

    /// A connection was closed for a newcomer.
    pub(crate) fn connection_evicted(&self) {
        self.words[EVICTED].fetch_add(1, Ordering::Relaxed);
    }

    /// An access line was dropped: the output was slower than the requests.
    pub(crate) fn line_dropped(&self) {
        self.words[LINES_DROPPED].fetch_add(1, Ordering::Relaxed);
    }

    /// A handler panicked.
    pub(crate) fn handler_panicked(&self) {
        self.words[PANICS].fetch_add(1, Ordering::Relaxed);
    }

    /// A request with `method` arrived.
    #[inline]
    pub(crate) fn start(&'static self, method: &http::Method) -> Timer {
        self.own_gauge(1, 1);
        let method = match *method {
            http::Method::GET => 0,
            http::Method::HEAD => 1,
            http::Method::POST => 2,
            http::Method::PUT => 3,
            http::Method::DELETE => 4,
            http::Method::PATCH => 5,
            http::Method::OPTIONS => 6,
            _ => 7,
        };
        Timer { metrics: self, started: Instant::now(), method }
    }

    /// The request of `timer` was answered with `status` by the route with `label`.
    #[inline]
    fn answered(&self, timer: &Timer, label: usize, status: u16) {
        let nanos = timer.started.elapsed().as_nanos() as u64;
        let status = usize::from(status.clamp(100, 599) - 100);
        let at = (label * METHODS.len() + timer.method) * STATUSES + status;
        let words = match self.requests[at].load(Ordering::Relaxed) {
            0 => self.requests_series(at, label, timer.method, status),
            found => found as usize - 1,
        };
        self.words[words].fetch_add(1, Ordering::Relaxed);
        let at = label * METHODS.len() + timer.method;
        let words = match self.durations[at].load(Ordering::Relaxed) {
            0 => self.durations_series(at, label, timer.method),
            found => found as usize - 1,
        };
        self.observe_nanos(words, nanos);
    }

    #[cold]
    fn requests_series(&self, at: usize, label: usize, method: usize, status: usize) -> usize {
        let mut key = String::from("appserver_http_requests_total{method=\"");
        let _ = write!(
            key,
            "{}\",route=\"{}\",status=\"{}\"}}",
            METHODS[method],
            escaped(&self.routes[label]),
            status + 100
        );
        let words = self.series(&key, Kind::Counter);
        self.requests[at].store(words as u32 + 1, Ordering::Relaxed);
        words
    }

    #[cold]
    fn durations_series(&self, at: usize, label: usize, method: usize) -> usize {
        let mut key = String::from("appserver_http_request_duration_seconds{method=\"");
        let _ = write!(key, "{}\",route=\"{}\"}}", METHODS[method], escaped(&self.routes[label]));
        let words = self.series(&key, Kind::Durations);
        self.durations[at].store(words as u32 + 1, Ordering::Relaxed);
        words
    }

    /// Adds `nanos` to the durations histogram whose values start at `words`: integers
    /// only, cheaper than a float's sum.
    #[inline]
    fn observe_nanos(&self, words: usize, nanos: u64) {
        let bucket = BUCKET_NANOS.iter().position(|&bound| nanos <= bound).unwrap_or(BUCKETS.len());
        if bucket < BUCKETS.len() {
            self.words[words + bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.words[words + BUCKETS.len()].fetch_add(1, Ordering::Relaxed);
        self.words[words + BUCKETS.len() + 1].fetch_add(nanos, Ordering::Relaxed);
    }

    /// Adds `value` to the histogram whose values start at `words`.
    fn observe(&self, words: usize, value: f64) {
        let bucket = BUCKETS.iter().position(|&bound| value <= bound).unwrap_or(BUCKETS.len());
        if bucket < BUCKETS.len() {
            self.words[words + bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.words[words + BUCKETS.len()].fetch_add(1, Ordering::Relaxed);
        add_f64(&self.words[words + BUCKETS.len() + 1], value);
    }

    /// The first value word of the series `key` of `kind`, found or added; a word no one
    /// reads when the table is full.
    fn series(&self, key: &str, kind: Kind) -> usize {
        let mut series = self.series.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(&words) = series.get(key) {
            return words;
        }
        let words = self.find(key).unwrap_or_else(|| self.add(key, kind));
        series.insert(key.to_owned(), words);
        words
    }

    /// The first value word of the series `key` another process added.
    fn find(&self, key: &str) -> Option<usize> {
        self.each_series().find(|series| series.key == key).map(|series| series.values)
    }

    fn add(&self, key: &str, kind: Kind) -> usize {
        let place = self.words[SERIES_COUNT].fetch_add(1, Ordering::AcqRel) as usize;
        if place >= MAX_SERIES || key.len() > KEY_WORDS * 8 {
            self.words[SERIES_DROPPED].fetch_add(1, Ordering::Relaxed);
            tracing::warn!(key, "a metrics series was not recorded: the table is full, or its key is over 512 bytes");
            return SINK;
        }
        let at = FIRST_SERIES + place * SERIES_WORDS;
        self.words[at + 1].store(key.len() as u64, Ordering::Relaxed);
        for (word, chunk) in self.words[at + 2..].iter().zip(key.as_bytes().chunks(8)) {
            let mut bytes = [0; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.words[at].store(kind as u64, Ordering::Release);
        at + 2 + KEY_WORDS
    }

    /// Every published series of the table.
    pub(crate) fn each_series(&self) -> impl Iterator<Item = Series> + '_ {
        let count = (self.words[SERIES_COUNT].load(Ordering::Acquire) as usize).min(MAX_SERIES);
        (0..count).filter_map(move |place| {
            let at = FIRST_SERIES + place * SERIES_WORDS;
            let kind = Kind::of(self.words[at].load(Ordering::Acquire))?;
            let len = self.words[at + 1].load(Ordering::Relaxed) as usize;
            let bytes: Vec<u8> = self.words[at + 2..at + 2 + KEY_WORDS]
                .iter()
                .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
                .collect();
            let key = String::from_utf8_lossy(&bytes[..len.min(bytes.len())]).into_owned();
            Some(Series { kind, key, values: at + 2 + KEY_WORDS })
        })
    }

    /// The word at `at`.
    pub(crate) fn word(&self, at: usize) -> u64 {
        self.words[at].load(Ordering::Relaxed)
    }

    /// The server's own counters: connections evicted, access lines dropped, handler
    /// panics, series not recorded; and the CPU µs of exited workers.
    pub(crate) fn counters(&self) -> [u64; 5] {
        [EVICTED, LINES_DROPPED, PANICS, SERIES_DROPPED, EXITED_CPU_MICROS].map(|at| self.word(at))
    }

    /// The live processes: their pids (the main one first), and the sums of their
    /// requests in flight and open connections.
    pub(crate) fn processes(&self) -> (Vec<u32>, i64, i64) {
        let main = self.word(MAIN_PID) as u32;
        let (mut pids, mut in_flight, mut connections) = (vec![main], 0i64, 0i64);
        for place in 0..MAX_PROCESSES {
            let at = PROCESSES + 3 * place;
            let pid = self.word(at) as u32;
            if pid != 0 {
                if pid != main {
                    pids.push(pid);
                }
                in_flight += self.word(at + 1) as i64;
                connections += self.word(at + 2) as i64;
            }
        }
        (pids, in_flight, connections)
    }

    /// The description given for the metric `name`, if any.
    pub(crate) fn help(&self, name: &str) -> Option<String> {
        self.help.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(name).cloned()
    }
}

/// A series of the table.
pub(crate) struct Series {
    pub(crate) kind: Kind,
    pub(crate) key: String,
    /// Its first value word.
    pub(crate) values: usize,
}

/// Adds `value` to the `f64` whose bits `word` holds.
fn add_f64(word: &AtomicU64, value: f64) {
    let _ =
        word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
}

/// `value` as a label value of the text format: backslash, quote and newline escaped.
pub(crate) fn escaped(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The facade's recorder: each series a place of the table.
struct Recorder(&'static Metrics);

/// A series of the facade: its first value word.
struct Place(&'static Metrics, usize);

impl Recorder {
    fn place(&self, key: &Key, kind: Kind) -> Arc<Place> {
        let mut text = key.name().to_owned();
        let mut labels = key.labels().peekable();
        if labels.peek().is_some() {
            text.push('{');
            for (i, label) in labels.enumerate() {
                let comma = if i == 0 { "" } else { "," };
                let _ = write!(text, "{comma}{}=\"{}\"", label.key(), escaped(label.value()));
            }
            text.push('}');
        }
        Arc::new(Place(self.0, self.0.series(&text, kind)))
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        let mut help = self.0.help.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        help.insert(key.as_str().to_owned(), description.into_owned());
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.place(key, Kind::Counter))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.place(key, Kind::Gauge))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.place(key, Kind::Histogram))
    }
}

impl CounterFn for Place {
    fn increment(&self, value: u64) {
        self.0.words[self.1].fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.words[self.1].fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Place {
    fn increment(&self, value: f64) {
        add_f64(&self.0.words[self.1], value);
    }

    fn decrement(&self, value: f64) {
        add_f64(&self.0.words[self.1], -value);
    }

    fn set(&self, value: f64) {
        self.0.words[self.1].store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Place {
    fn record(&self, value: f64) {
        self.0.observe(self.1, value);
    }
}
