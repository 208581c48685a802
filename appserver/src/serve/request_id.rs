//! The request id (the setting `request_id`): a request's `x-request-id`, or one made for
//! it, which the handler sees in the request's headers, the client in the response's, and
//! the operator in the access line, so that a client's report can be tied to a line.

use bytes::Bytes;
use http::HeaderValue;
use http::header::HeaderName;
use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};

/// The header that carries it, both ways.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The most bytes of an id a client may send; a longer one is replaced.
const MAX_LEN: usize = 128;

/// The id of `request`: its `x-request-id` if that is a usable one (1 to 128 visible ASCII
/// characters but `"` and `\`, so that a log line never needs to escape it), else a new one,
/// which the request then carries too.
pub(crate) fn of<B>(request: &mut http::Request<B>) -> HeaderValue {
    // A walk over the few headers of a request costs less than hashing the name.
    let sent = request.headers().iter().find(|(name, _)| *name == X_REQUEST_ID).map(|(_, id)| id);
    if let Some(sent) = sent.filter(|id| usable(id.as_bytes())) {
        return sent.clone();
    }
    let id = new_id();
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    id
}

fn usable(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.iter().all(|b| matches!(b, b'!'..=b'~') && !matches!(b, b'"' | b'\\'))
}

/// Ids made at once, in one allocation that each id is a slice of, so that an id and its
/// copies cost no allocation of their own.
const IDS_PER_BLOCK: usize = 256;
/// The bytes of a new id: 20 hex digits.
const LEN: usize = 20;

thread_local! {
    /// This thread's ids: their block, the next one's place in it, this thread's prefix
    /// (random) and the count of the ids it made.
    static IDS: RefCell<Ids> = RefCell::new(Ids {
        block: Bytes::new(),
        next: 0,
        prefix: RandomState::new().hash_one(std::process::id()),
        count: 0,
    });
}

struct Ids {
    block: Bytes,
    next: usize,
    prefix: u64,
    count: u64,
}

/// A new id: 20 hex digits, a random prefix of this thread's (12) and its count (8),
/// unique among the ids of every thread of every process with a chance of a collision of
/// about one in 2^48 per pair of threads.
fn new_id() -> HeaderValue {
    let id = IDS.with_borrow_mut(|ids| {
        if ids.next == ids.block.len() {
            let mut block = Vec::with_capacity(LEN * IDS_PER_BLOCK);
            for _ in 0..IDS_PER_BLOCK {
                let digits = (u128::from(ids.prefix >> 16) << 32) | u128::from(ids.count as u32);
                block.extend((0..LEN).rev().map(|i| HEX[(digits >> (4 * i) & 0xf) as usize]));
                ids.count = ids.count.wrapping_add(1);
            }
            (ids.block, ids.next) = (Bytes::from(block), 0);
        }
        ids.next += LEN;
        ids.block.slice(ids.next - LEN..ids.next)
    });
    HeaderValue::from_maybe_shared(id).expect("hex digits")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_id_is_kept_and_any_other_replaced() {
        let mut request = http::Request::builder().header("x-request-id", "client-42/a.b").body(()).unwrap();
        assert_eq!(of(&mut request), "client-42/a.b");
        for sent in ["", "has space", "quote\"", "back\\slash", &"x".repeat(129)] {
            let mut request = http::Request::builder().header("x-request-id", sent).body(()).unwrap();
            let id = of(&mut request);
            assert_eq!(id.len(), 20, "{sent:?}: {id:?}");
            assert_eq!(request.headers()["x-request-id"], id, "the request carries the new id");
        }
    }

    #[test]
    fn new_ids_differ_in_a_thread_and_across_threads() {
        let here: Vec<HeaderValue> = (0..3).map(|_| new_id()).collect();
        let there = std::thread::spawn(new_id).join().unwrap();
        assert!(here[0] != here[1] && here[1] != here[2] && !here.contains(&there), "{here:?} {there:?}");
        assert!(here.iter().all(|id| id.as_bytes().iter().all(u8::is_ascii_hexdigit)));
    }
}
