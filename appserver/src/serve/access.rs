//! The access log: a line per request (method, path, status, duration in µs) under the
//! target `appserver::access`, at `INFO`. The line of a response that outlives its head (a
//! streamed body, a WebSocket) is written when it ends, with its duration and the bytes it
//! sent (`bytes=`). The request's id ends the line (`request_id=`), unless the setting
//! `request_id` is off.
//!
//! Where the subscriber is the one this crate installs and its output no terminal (the
//! usual case in production), the lines skip `tracing`'s formatting and its `write` per
//! line, and look the same. A request thread formats its line into one buffer shared by
//! the process, the date and time of the timestamp cached per second; a writer thread,
//! running while a server serves, writes what the buffer holds at most every
//! [`FLUSH_EVERY`] with one `write`, and all of it when the server stops. Request threads
//! never wait for the output: when it is slower than the requests and the buffer holds
//! [`MAX_BUFFERED`] bytes, lines are dropped, counted, and the count logged as a warning.
//!
//! Anywhere else (a program's own subscriber, a terminal with its colours, a server that
//! is not serving, as in the test client) the line is a `tracing` event.

use http::HeaderValue;
use http::uri::PathAndQuery;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How long a line may wait in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// The most bytes of lines the buffer holds; past it, lines are dropped and counted.
const MAX_BUFFERED: usize = 1 << 20;
/// How long a stopping writer thread gets to write what is left.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// What every line says after its timestamp.
const LEVEL_AND_TARGET: &[u8] = b"  INFO appserver::access: method=";
/// What comes between the method and an unescaped path.
const PATH: &[u8] = b" path=\"";
/// What follows the path: its closing quote, the status (`000` replaced), the duration.
const TAIL: &[u8] = b"\" status=000 micros=";
/// What comes before the bytes a stream sent.
const BYTES: &[u8] = b" bytes=";
/// What comes before the request id.
const REQUEST_ID: &[u8] = b" request_id=";

/// One request's access line, logged when its response is ready; made only when the
/// `appserver::access` target is enabled.
pub(crate) struct Access {
    method: http::Method,
    /// The request target's path and query (`None` for the authority form of `CONNECT`):
    /// cheaper to keep than the whole `Uri`.
    target: Option<PathAndQuery>,
    started: Instant,
}

impl Access {
    /// The access line of `request`, if access lines are logged.
    pub(crate) fn start<B>(request: &http::Request<B>) -> Option<Access> {
        let enabled = match PLAIN.load(Ordering::Acquire) {
            true => ENABLED.load(Ordering::Relaxed),
            false => tracing::enabled!(target: "appserver::access", tracing::Level::INFO),
        };
        enabled.then(|| Access {
            method: request.method().clone(),
            target: request.uri().path_and_query().cloned(),
            started: Instant::now(),
        })
    }

    /// Logs the line, with the response's `status` and the request's `id`.
    pub(crate) fn log(self, status: http::StatusCode, id: Option<&HeaderValue>) {
        let now = Instant::now();
        let micros = now.saturating_duration_since(self.started).as_micros() as u64;
        let path = self.target.as_ref().map_or("", PathAndQuery::path);
        let id_bytes = id.map(HeaderValue::as_bytes);
        if BATCHED.load(Ordering::Acquire) && buffer(now, &self.method, path, status.as_u16(), micros, &[], id_bytes) {
            return;
        }
        tracing::info!(
            target: "appserver::access",
            method = %self.method,
            path,
            status = status.as_u16(),
            micros,
            request_id = id.and_then(|id| id.to_str().ok()).map(tracing::field::display),
        );
    }

    /// Logs the line of a response that ended now, with its `status` and the `bytes` it
    /// sent. Apart from [`log`](Access::log), whose line every request writes: one function
    /// for both cost each request ~35 instructions more (`benchmarks/instructions.sh`).
    #[cold]
    pub(crate) fn log_ended(self, status: http::StatusCode, bytes: u64, id: Option<&HeaderValue>) {
        let now = Instant::now();
        let micros = now.saturating_duration_since(self.started).as_micros() as u64;
        let path = self.target.as_ref().map_or("", PathAndQuery::path);
        let mut field = [0; BYTES.len() + 20];
        field[..BYTES.len()].copy_from_slice(BYTES);
        let end = BYTES.len() + decimal(bytes, &mut field[BYTES.len()..]);
        let (extra, id_bytes) = (&field[..end], id.map(HeaderValue::as_bytes));
        if BATCHED.load(Ordering::Acquire) && buffer(now, &self.method, path, status.as_u16(), micros, extra, id_bytes)
        {
            return;
        }
        tracing::info!(
            target: "appserver::access",
            method = %self.method,
            path,
            status = status.as_u16(),
            micros,
            bytes,
            request_id = id.and_then(|id| id.to_str().ok()).map(tracing::field::display),
        );
    }
}

/// Whether the subscriber is this crate's, writing plain text to stdout.
static PLAIN: AtomicBool = AtomicBool::new(false);
/// Whether that subscriber's filter lets access lines through.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether lines go to the buffer: [`PLAIN`], and a [`Writer`] runs.
static BATCHED: AtomicBool = AtomicBool::new(false);

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    lines: Vec::new(),
    dropped: 0,
    clock: None,
    second: u64::MAX,
    stamp: [0; 20],
    writers: 0,
    generation: 0,
    waiting: false,
    running: None,
});
/// Wakes the writer thread when the first line of a batch arrives, or to stop.
static WAKE: Condvar = Condvar::new();

struct Shared {
    /// The lines not yet written.
    lines: Vec<u8>,
    /// Lines dropped since the last report.
    dropped: u64,
    /// An instant and the time since the epoch then, read again every second: the time
    /// of a line is found from the instant its response was ready, without another read
    /// of the clock.
    clock: Option<(Instant, Duration)>,
    /// The second since the epoch that `stamp` shows: `YYYY-MM-DDTHH:MM:SS.`.
    second: u64,
    stamp: [u8; 20],
    /// The [`Writer`] guards alive.
    writers: usize,
    /// Counts the starts and stops of writer threads: a thread whose start is not the
    /// latest writes what is left, then ends.
    generation: u64,
    /// The writer thread waits for a line.
    waiting: bool,
    /// Disconnected when the writer thread ends; `None` when none runs.
    running: Option<Receiver<()>>,
}

fn shared() -> MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Notes that the subscriber this crate installed writes plain text to stdout, so that
/// the lines written here look like its own; and reads its filter.
pub(crate) fn plain_subscriber() {
    PLAIN.store(true, Ordering::Release);
    filter_changed();
}

/// Reads again whether the filter of this crate's subscriber lets access lines through.
pub(crate) fn filter_changed() {
    ENABLED.store(tracing::enabled!(target: "appserver::access", tracing::Level::INFO), Ordering::Relaxed);
}

/// Appends the line of a response ready at `now` to the buffer; false if no writer
/// thread will write it.
/// `extra`: the fields that follow the duration, such as a stream's `bytes=`; `id`: the
/// request id, last (it needs no escaping: `request_id` keeps none that would). Inlined in
/// both callers: the line of every request is this crate's hottest formatting.
#[inline(always)]
fn buffer(
    now: Instant,
    method: &http::Method,
    path: &str,
    status: u16,
    micros: u64,
    extra: &[u8],
    id: Option<&[u8]>,
) -> bool {
    // What needs no shared state first, on the stack and outside the lock.
    let mut tail = [0; TAIL.len() + 20 + 1];
    tail[..TAIL.len()].copy_from_slice(TAIL);
    tail[9..12].copy_from_slice(&digits::<3>(u32::from(status)));
    let end = TAIL.len() + decimal(micros, &mut tail[TAIL.len()..]);
    tail[end] = b'\n';
    let plain = !needs_escape(path.as_bytes());
    let mut shared = shared();
    if shared.running.is_none() {
        return false;
    }
    let since_anchor = |(then, at): (Instant, Duration)| {
        now.checked_duration_since(then).filter(|&d| d < Duration::from_secs(1)).map(|d| at + d)
    };
    let since_epoch = match shared.clock.and_then(since_anchor) {
        Some(since_epoch) => since_epoch,
        None => {
            let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            shared.clock = Some((Instant::now(), at));
            at
        }
    };
    if shared.second != since_epoch.as_secs() {
        shared.second = since_epoch.as_secs();
        shared.stamp = date_time(since_epoch.as_secs());
    }
    let mut head = [0; 20 + 6 + 1 + LEVEL_AND_TARGET.len()];
    head[..20].copy_from_slice(&shared.stamp);
    head[20..26].copy_from_slice(&digits::<6>(since_epoch.subsec_micros()));
    head[26] = b'Z';
    head[27..].copy_from_slice(LEVEL_AND_TARGET);
    let Shared { lines, .. } = &mut *shared;
    let start = lines.len();
    let id_len = id.map_or(0, |id| REQUEST_ID.len() + id.len());
    lines.reserve(head.len() + method.as_str().len() + PATH.len() + path.len() + end + 1 + extra.len() + id_len);
    lines.extend_from_slice(&head);
    lines.extend_from_slice(method.as_str().as_bytes());
    let tail = if plain {
        lines.extend_from_slice(PATH);
        lines.extend_from_slice(path.as_bytes());
        &tail[..=end]
    } else {
        let _ = write!(lines, " path={path:?}");
        &tail[1..=end]
    };
    match extra.is_empty() && id.is_none() {
        true => lines.extend_from_slice(tail),
        false => {
            lines.extend_from_slice(&tail[..tail.len() - 1]);
            lines.extend_from_slice(extra);
            if let Some(id) = id {
                lines.extend_from_slice(REQUEST_ID);
                lines.extend_from_slice(id);
            }
            lines.push(b'\n');
        }
    }
    if lines.len() > MAX_BUFFERED {
        lines.truncate(start);
        shared.dropped += 1;
        if let Some(metrics) = super::metrics::get() {
            metrics.line_dropped();
        }
    } else if start == 0 && shared.waiting {
        shared.waiting = false;
        WAKE.notify_all();
    }
    true
}

/// Whether `text` holds a byte that `Debug` escapes: a quote, a backslash, a control
/// character or a byte past ASCII. Eight bytes at a time: for each of the tests, the
/// classic word tricks find whether some byte of a word passes it, never missing one.
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    let mut words = text.chunks_exact(8);
    let any_word = words.by_ref().any(|word| {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
        w & HIGH != 0
            || below_space
            || has_zero(w ^ (ONES * 0x7f))
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
    });
    any_word || words.remainder().iter().any(|&b| !(b' '..=b'~').contains(&b) || b == b'"' || b == b'\\')
}

/// `n`'s last `N` decimal digits, with leading zeros.
fn digits<const N: usize>(mut n: u32) -> [u8; N] {
    let mut out = [b'0'; N];
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// Writes `n` in decimal at the start of `out` (20 bytes hold any `u64`); the length.
#[inline(always)]
fn decimal(mut n: u64, out: &mut [u8]) -> usize {
    let mut digits = [0; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out[..digits.len() - at].copy_from_slice(&digits[at..]);
    digits.len() - at
}

/// `YYYY-MM-DDTHH:MM:SS.` in UTC for `secs` since the epoch (the civil-from-days
/// algorithm of Howard Hinnant's `date`).
fn date_time(secs: u64) -> [u8; 20] {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let two = |n: u64| digits::<2>(n as u32);
    let [y0, y1, y2, y3] = digits::<4>(year as u32);
    let ([m0, m1], [d0, d1]) = (two(month as u64), two(day as u64));
    let ([h0, h1], [i0, i1], [s0, s1]) = (two(rest / 3600), two(rest / 60 % 60), two(rest % 60));
    [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1, b'.']
}

/// The writer thread, while a server serves in this process: started by the first
/// [`Writer::start`], stopped, after writing every line, when the last guard is dropped.
pub(crate) struct Writer(());

impl Writer {
    /// Starts the writer thread if the lines are [`PLAIN`] and it does not run yet.
    pub(crate) fn start() -> Writer {
        let mut shared = shared();
        shared.writers += 1;
        if PLAIN.load(Ordering::Acquire) && shared.running.is_none() {
            shared.generation += 1;
            let generation = shared.generation;
            let (running, ended) = mpsc::channel::<()>();
            let spawned = std::thread::Builder::new().name("appserver-access".into()).spawn(move || {
                write_lines(generation);
                drop(running);
            });
            match spawned {
                Ok(_) => {
                    shared.running = Some(ended);
                    BATCHED.store(true, Ordering::Release);
                }
                Err(err) => tracing::warn!(error = %err, "no thread for the access log: lines are written one by one"),
            }
        }
        Writer(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let mut shared = shared();
        shared.writers -= 1;
        if shared.writers > 0 {
            return;
        }
        BATCHED.store(false, Ordering::Release);
        shared.generation += 1;
        let running = shared.running.take();
        drop(shared);
        WAKE.notify_all();
        // An output that takes nothing (a full pipe nobody reads) does not hold up the
        // process's exit for long.
        if let Some(ended) = running {
            let _ = ended.recv_timeout(STOP_WAIT);
        }
    }
}

/// The writer thread of start `generation`: waits for a line, lets a batch gather for
/// [`FLUSH_EVERY`], writes it; until stopped, when it writes what is left.
fn write_lines(generation: u64) {
    let mut batch = Vec::new();
    loop {
        let mut shared = shared();
        while shared.lines.is_empty() && shared.generation == generation {
            shared.waiting = true;
            shared = WAKE.wait(shared).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        shared.waiting = false;
        if shared.generation == generation {
            drop(shared);
            std::thread::sleep(FLUSH_EVERY);
            shared = self::shared();
        }
        std::mem::swap(&mut batch, &mut shared.lines);
        let (dropped, stopping) = (std::mem::take(&mut shared.dropped), shared.generation != generation);
        drop(shared);
        if dropped > 0 {
            tracing::warn!(
                target: "appserver::access",
                dropped,
                "access lines dropped: the log output is slower than the requests"
            );
        }
        // Nothing to do if stdout is gone: the lines have nowhere to go.
        let _ = std::io::stdout().lock().write_all(&batch);
        batch.clear();
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{date_time, decimal, digits, needs_escape};

    #[test]
    fn timestamps_are_utc_dates_and_times() {
        assert_eq!(&date_time(0), b"1970-01-01T00:00:00.");
        assert_eq!(&date_time(951_782_400), b"2000-02-29T00:00:00.");
        assert_eq!(&date_time(1_795_334_399), b"2026-11-22T07:59:59.");
        assert_eq!(&date_time(4_107_542_400), b"2100-03-01T00:00:00.");
    }

    #[test]
    fn bytes_to_escape_are_found_wherever_they_are() {
        let plain = |b: u8| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
        for length in [1, 7, 8, 9, 16, 23] {
            for at in 0..length {
                for byte in 0..=255u8 {
                    let mut text = vec![b'a'; length];
                    text[at] = byte;
                    assert_eq!(needs_escape(&text), !plain(byte), "{byte:#x} at {at} of {length}");
                }
            }
        }
        assert!(!needs_escape(b"/person/get/123/?q=~x"));
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        assert_eq!(&digits::<6>(42), b"000042");
        assert_eq!(&digits::<3>(200), b"200");
        let mut out = [b'x'; 21];
        assert_eq!(decimal(0, &mut out), 1);
        assert_eq!(&out[..2], b"0x");
        assert_eq!(decimal(u64::MAX, &mut out), 20);
        assert_eq!(&out, b"18446744073709551615x");
    }
}
