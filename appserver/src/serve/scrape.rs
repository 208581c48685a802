//! The answer at `metrics_path`: the metrics table in Prometheus's text exposition format
//! (0.0.4), with the standard `process_*` metrics summed over the server's live processes
//! (a Forked server's master and workers), read from `/proc`.

use super::metrics::{BUCKETS, Kind, Metrics};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The media type of the text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The descriptions of the server's own metrics.
const HELP: &[(&str, &str)] = &[
    ("appserver_http_requests_total", "Requests answered, by method, route pattern and status."),
    ("appserver_http_request_duration_seconds", "Time to answer a request (its response head), by method and route."),
];

/// A family of series: its kind, and each series' key with its values (added up over the
/// series of the same key).
type Families = BTreeMap<String, (Kind, BTreeMap<String, Vec<u64>>)>;

/// The text of a scrape.
pub(crate) fn render(metrics: &Metrics) -> String {
    let mut families = Families::new();
    for series in metrics.each_series() {
        let name = series.key.split('{').next().unwrap_or_default().to_owned();
        let words = match series.kind {
            Kind::Histogram | Kind::Durations => BUCKETS.len() + 2,
            _ => 1,
        };
        let values: Vec<u64> = (series.values..series.values + words).map(|at| metrics.word(at)).collect();
        let (_, keys) = families.entry(name).or_insert_with(|| (series.kind, BTreeMap::new()));
        match keys.get_mut(&series.key) {
            None => drop(keys.insert(series.key, values)),
            // The same key added by two processes at once: one series.
            Some(sum) => add(sum, &values, series.kind),
        }
    }
    let mut out = String::with_capacity(4096);
    let (pids, in_flight, connections) = metrics.processes();
    let [evicted, dropped, panics, series_dropped, exited_cpu_micros] = metrics.counters();
    let gauge = |out: &mut String, name: &str, help: &str, value: i64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    };
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
    };
    gauge(&mut out, "appserver_http_requests_in_flight", "Requests being answered.", in_flight);
    gauge(&mut out, "appserver_connections_open", "Open client connections.", connections);
    counter(&mut out, "appserver_connections_evicted_total", "Connections closed to make room for newcomers.", evicted);
    counter(
        &mut out,
        "appserver_access_lines_dropped_total",
        "Access lines dropped: the log was slower than the requests.",
        dropped,
    );
    counter(&mut out, "appserver_handler_panics_total", "Handlers that panicked.", panics);
    counter(
        &mut out,
        "appserver_metrics_series_dropped_total",
        "Series not recorded: the table was full.",
        series_dropped,
    );
    for (name, (kind, keys)) in &families {
        let help = HELP.iter().find(|(n, _)| n == name).map(|(_, h)| (*h).to_owned()).or_else(|| metrics.help(name));
        if let Some(help) = help {
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        }
        let _ = writeln!(out, "# TYPE {name} {}", kind.name());
        for (key, values) in keys {
            match kind {
                Kind::Counter => drop(writeln!(out, "{key} {}", values[0])),
                Kind::Gauge => drop(writeln!(out, "{key} {}", number(f64::from_bits(values[0])))),
                Kind::Histogram => histogram(&mut out, key, values, f64::from_bits(values[BUCKETS.len() + 1])),
                Kind::Durations => histogram(&mut out, key, values, values[BUCKETS.len() + 1] as f64 / 1e9),
            }
        }
    }
    process(&mut out, &pids, metrics.clock_ticks, exited_cpu_micros);
    out
}

/// Adds `values` of a series of `kind` to `sum`.
fn add(sum: &mut [u64], values: &[u64], kind: Kind) {
    let last = sum.len() - 1;
    for (i, (sum, value)) in sum.iter_mut().zip(values).enumerate() {
        let float = kind == Kind::Gauge || (kind == Kind::Histogram && i == last);
        // A `Durations` sum is integer nanoseconds.
        *sum = match float {
            true => (f64::from_bits(*sum) + f64::from_bits(*value)).to_bits(),
            false => sum.wrapping_add(*value),
        };
    }
}

/// A histogram's lines: its buckets (counted up to each bound), `+Inf`, `sum` and count.
fn histogram(out: &mut String, key: &str, values: &[u64], sum: f64) {
    let (name, labels) = match key.split_once('{') {
        Some((name, labels)) => (name, format!("{},", labels.trim_end_matches('}'))),
        None => (key, String::new()),
    };
    let mut below = 0;
    for (bound, count) in BUCKETS.iter().zip(values) {
        below += count;
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {below}");
    }
    let count = values[BUCKETS.len()];
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
    let labels = labels.trim_end_matches(',');
    let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
    let _ = writeln!(out, "{name}_sum{braces} {}", number(sum));
    let _ = writeln!(out, "{name}_count{braces} {count}");
}

/// A float as the text format writes it.
fn number(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

/// The `process_*` metrics: CPU time (of the live processes, and of the workers that
/// exited), resident memory and open file descriptors summed over `pids`, and the start
/// time of the first (the main process).
fn process(out: &mut String, pids: &[u32], clock_ticks: u64, exited_cpu_micros: u64) {
    let (mut cpu_ticks, mut resident, mut fds, mut started) = (0u64, 0u64, 0u64, None);
    for &pid in pids {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The fields after the command, whose name may hold spaces and parentheses.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        cpu_ticks += field(14) + field(15);
        started.get_or_insert(field(22));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        resident += kib.unwrap_or(0) * 1024;
        fds += std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count() as u64);
    }
    let per_second = clock_ticks.max(1) as f64;
    let cpu = cpu_ticks as f64 / per_second + exited_cpu_micros as f64 / 1e6;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| stat.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok()))
        .unwrap_or(0);
    let start = boot as f64 + started.unwrap_or(0) as f64 / per_second;
    let _ = write!(
        out,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
         # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}\n\
         # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
         # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {resident}\n\
         # HELP process_open_fds Number of open file descriptors.\n\
         # TYPE process_open_fds gauge\nprocess_open_fds {fds}\n\
         # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
         # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {}\n",
        number(cpu),
        number(start),
    );
}
