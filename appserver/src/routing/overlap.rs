//! Which route patterns can match the same path, each pair with a shortest such path (a
//! witness): a breadth-first walk of one DFA over all the patterns that reports every
//! pattern matching at each state, not of pairs of regexes.

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;
use std::collections::{HashMap, VecDeque};

/// The bytes a witness path is made of, in the order they are tried: readable ones
/// first, then the rest of what a request path can hold (printable ASCII).
fn path_bytes() -> impl Iterator<Item = u8> {
    let readable = (b'a'..=b'z').chain(b'0'..=b'9').chain(b"/-_.".iter().copied()).chain(b'A'..=b'Z');
    let others = (0x21..=0x7e).filter(|b: &u8| !b.is_ascii_alphanumeric() && !b"/-_.?#".contains(b));
    readable.chain(others)
}

/// Two patterns (indices, the smaller first) and a shortest path both match.
pub(crate) type Pair = (usize, usize, String);

/// The DFA states walked, at most: the walk stops there (the witnesses found so far stand).
const MAX_STATES: usize = 200_000;

/// Every pair `(a, b)` (`a < b`, indices into `hirs`) of patterns that both match some
/// whole path, with a shortest such path.
pub(crate) fn overlaps(hirs: &[&Hir]) -> Result<Vec<Pair>, Box<dyn std::error::Error + Send + Sync>> {
    if hirs.len() < 2 {
        return Ok(Vec::new());
    }
    let nfa = thompson::Compiler::new()
        .configure(thompson::Config::new().utf8(false).which_captures(WhichCaptures::None))
        .build_many_from_hir(hirs)?;
    let dfa = dense::Builder::new()
        .configure(dense::Config::new().match_kind(MatchKind::All).start_kind(StartKind::Anchored))
        .build_from_nfa(&nfa)?;
    let start = dfa.start_state(&start::Config::new().anchored(Anchored::Yes))?;
    // Breadth first: the first path to reach a state is a shortest one.
    let mut parent: HashMap<StateID, Option<(StateID, u8)>> = HashMap::from([(start, None)]);
    let mut queue = VecDeque::from([start]);
    let mut found: HashMap<(usize, usize), String> = HashMap::new();
    while let Some(state) = queue.pop_front() {
        let end = dfa.next_eoi_state(state);
        if dfa.is_match_state(end) && dfa.match_len(end) > 1 {
            let matched: Vec<usize> = (0..dfa.match_len(end)).map(|i| dfa.match_pattern(end, i).as_usize()).collect();
            for (i, &a) in matched.iter().enumerate() {
                for &b in &matched[i + 1..] {
                    let pair = (a.min(b), a.max(b));
                    found.entry(pair).or_insert_with(|| path_to(&parent, state));
                }
            }
        }
        if parent.len() >= MAX_STATES {
            continue;
        }
        for byte in path_bytes() {
            let next = dfa.next_state(state, byte);
            if dfa.is_dead_state(next) || dfa.is_quit_state(next) || parent.contains_key(&next) {
                continue;
            }
            parent.insert(next, Some((state, byte)));
            queue.push_back(next);
        }
    }
    let mut found: Vec<Pair> = found.into_iter().map(|((a, b), path)| (a, b, path)).collect();
    found.sort();
    Ok(found)
}

/// The bytes that lead from the start to `state`.
fn path_to(parent: &HashMap<StateID, Option<(StateID, u8)>>, mut state: StateID) -> String {
    let mut bytes = Vec::new();
    while let Some(Some((previous, byte))) = parent.get(&state) {
        bytes.push(*byte);
        state = *previous;
    }
    bytes.reverse();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(patterns: &[&str]) -> Vec<Pair> {
        let parsed: Vec<_> = patterns.iter().map(|p| appserver_pattern::parse(p).unwrap()).collect();
        let hirs: Vec<&Hir> = parsed.iter().map(|p| p.hir()).collect();
        overlaps(&hirs).unwrap()
    }

    #[test]
    fn overlapping_patterns_come_with_a_shortest_path_both_match() {
        let found = found(&[
            r"/files/(?P<name>[a-z]+)",
            r"/(?P<dir>\w+)/report",
            r"/files/(?P<id>\d+)",
            r"/(?P<a>\w+)/(?P<b>\w+)",
        ]);
        assert_eq!(
            found,
            [
                (0, 1, "/files/report".to_owned()),
                (0, 3, "/files/a".to_owned()),
                (1, 3, "/a/report".to_owned()),
                (2, 3, "/files/0".to_owned()),
            ]
        );
        assert_eq!(super::overlaps(&[]).unwrap(), []);
    }

    #[test]
    fn disjoint_patterns_have_none() {
        assert_eq!(found(&[r"/users/(?P<id>\d+)", r"/users/(?P<name>[a-z]+)", "/users/"]), []);
    }
}
