//! All routes in one matcher per method.
//!
//! A lookup is two steps. First, one anchored DFA over all the patterns of the request's
//! method says which route matches (leftmost-first: the route that comes first in the
//! order below wins); its time depends on the path, not on the number of routes. Then,
//! only for a route with parameters, its groups are located: for the common shape, literals
//! and `class+` groups each followed by a literal whose first byte the class excludes (like
//! `/users/(?P<id>[^/]+)/posts`), by scanning for those bytes; for any other shape, by the
//! route's own one-pass DFA. Patterns too large for a DFA, or not one-pass, fall back to
//! `regex_automata::meta`.
//! The per-thread search state lives in a thread-local, never shared between threads.
//!
//! Routes are ordered deterministically, whatever the link order: more literal text first
//! (`/users/me` before `/users/(?P<id>[^/]+)`), then by pattern text, then by methods and
//! definition site. When several patterns match a path, the first in that order wins.

use super::route::{Route, RouteError};
use crate::handler::Params;
use appserver_pattern::{Methods, Pattern};
use http::Method;
use regex_automata::dfa::{Automaton, StartKind, dense, onepass};
use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, MatchKind, PatternID};
use regex_syntax::hir::Hir;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest DFA built for one method's routes; past it, that method uses `meta`.
const DFA_SIZE_LIMIT: usize = 64 << 20;

/// The route table. Not a public API (the benchmarks use it through `__private`).
pub struct Router {
    /// Tells apart the routers of one process, for the thread-local search state.
    id: usize,
    routes: Vec<Entry>,
    /// The matchers, one per distinct set of routes (GET and HEAD usually share one).
    tables: Vec<Table>,
    /// Per entry of `Methods::ALL`: the index of its matcher in `tables`, if it has routes.
    by_method: Vec<Option<usize>>,
    /// Pairs of routes that can match the same path for a method they share, with the same
    /// literal length: only the pattern text decides between them.
    ties: Vec<Overlap>,
}

/// Two routes that can match the same path for a common method, where the winner is
/// decided only by the tie-break (the pattern text), not by more literal text.
#[derive(Debug, Clone)]
pub(crate) struct Overlap {
    /// The route that answers the paths both match.
    pub(crate) winner: &'static Route,
    /// The route that never gets them.
    pub(crate) loser: &'static Route,
    /// A shortest path both match.
    pub(crate) witness: String,
}

struct Entry {
    route: &'static Route,
    /// Capture-group index of each of the route's parameters.
    slots: Box<[usize]>,
    /// Finds the groups; `None` for a route without parameters.
    captures: Option<Captures>,
}

enum Captures {
    Scan(Box<[Piece]>),
    OnePass(Box<onepass::DFA>),
    Meta(Regex),
}

/// A step of [`Captures::Scan`]: skip `skip` bytes of literal text, then the group `group`
/// runs up to the first `stop` byte (or to the end).
struct Piece {
    skip: usize,
    group: usize,
    stop: Option<u8>,
}

struct Table {
    matcher: Matcher,
    /// Route index for each pattern id.
    routes: Box<[usize]>,
}

/// The matcher of one method's routes: a DFA, or `meta` for patterns too large for one.
enum Matcher {
    Dfa(Box<dense::DFA<Vec<u32>>>),
    Meta(Regex),
}

/// A regex engine's error while building a matcher.
type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The outcome of [`Router::find`].
pub enum Lookup {
    /// The route, the byte range of each of its parameters in the path, and the route's
    /// place in [`Router::routes`].
    Route(&'static Route, Params, usize),
    /// No route matches the path.
    NotFound,
    /// The path matches routes of these other methods (the `Allow` header).
    NotAllowed(Methods),
}

thread_local! {
    /// The one-pass caches of this thread, for the router with the id it holds.
    static SCRATCH: RefCell<(usize, Vec<Option<onepass::Cache>>)> = const { RefCell::new((usize::MAX, Vec::new())) };
}

impl Router {
    /// Compiles `routes`; the error lists every problem found.
    pub fn new(routes: impl IntoIterator<Item = &'static Route>) -> Result<Self, Vec<RouteError>> {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        let mut parsed = Vec::new();
        let mut errors = Vec::new();
        for route in routes {
            match appserver_pattern::parse(route.pattern) {
                Ok(pattern) => parsed.push((route, pattern)),
                Err(error) => errors.push(RouteError::InvalidPattern { route, error }),
            }
        }
        if parsed.is_empty() && errors.is_empty() {
            return Err(vec![RouteError::NoRoutes]);
        }
        parsed.sort_by(|(a, pa), (b, pb)| {
            (Reverse(pa.literal_len()), a.pattern, a.methods, a.file, a.line).cmp(&(
                Reverse(pb.literal_len()),
                b.pattern,
                b.methods,
                b.file,
                b.line,
            ))
        });
        for (i, (first, _)) in parsed.iter().enumerate() {
            for (second, _) in parsed[i + 1..].iter().take_while(|(b, _)| b.pattern == first.pattern) {
                if first.answers().intersects(second.answers()) {
                    errors.push(RouteError::Duplicate { first, second });
                }
            }
        }

        let mut entries = Vec::with_capacity(parsed.len());
        for (route, pattern) in &parsed {
            let mut slots = Vec::with_capacity(route.params.len());
            for &group in route.params {
                match pattern.groups().iter().find(|g| g.name() == group) {
                    Some(g) => slots.push(g.index() as usize),
                    None => errors.push(RouteError::MissingGroup { route, group }),
                }
            }
            let captures = match slots.is_empty() {
                true => None,
                false => Captures::new(pattern.hir())
                    .map_err(|error| {
                        errors.push(RouteError::Compile { what: format!("route {}", route.site()), error })
                    })
                    .ok(),
            };
            entries.push(Entry { route, slots: slots.into(), captures });
        }

        let mut tables: Vec<Table> = Vec::new();
        let mut by_method = Vec::with_capacity(Methods::ALL.len());
        for (name, method) in Methods::ALL {
            let members: Box<[usize]> =
                (0..entries.len()).filter(|&i| entries[i].route.answers().intersects(method)).collect();
            if members.is_empty() {
                by_method.push(None);
            } else if let Some(same) = tables.iter().position(|t| t.routes == members) {
                by_method.push(Some(same));
            } else {
                let hirs: Vec<&Hir> = members.iter().map(|&i| parsed[i].1.hir()).collect();
                match Matcher::new(&hirs, DFA_SIZE_LIMIT) {
                    Ok(matcher) => {
                        tables.push(Table { matcher, routes: members });
                        by_method.push(Some(tables.len() - 1));
                    }
                    Err(error) => {
                        errors.push(RouteError::Compile { what: format!("the {name} routes"), error });
                        by_method.push(None);
                    }
                }
            }
        }
        let ties = match ties(&parsed) {
            Ok(ties) => ties,
            Err(error) => {
                errors.push(RouteError::Compile { what: "the overlap check".into(), error });
                Vec::new()
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Router { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), routes: entries, tables, by_method, ties })
    }

    /// Heap bytes held by the compiled matchers.
    pub fn memory_usage(&self) -> usize {
        let tables: usize = self.tables.iter().map(|t| t.matcher.memory_usage() + t.routes.len() * 8).sum();
        let routes: usize = self
            .routes
            .iter()
            .map(|e| {
                std::mem::size_of::<Entry>() + e.slots.len() * 8 + e.captures.as_ref().map_or(0, Captures::memory_usage)
            })
            .sum();
        tables + routes
    }

    /// The overlaps decided only by the tie-break.
    pub(crate) fn ties(&self) -> &[Overlap] {
        &self.ties
    }

    /// Every overlap of the routes, intended ones too (more literal text wins), for the
    /// route table: not checked at startup, as it walks all the routes of each method.
    pub(crate) fn overlaps(&self) -> Result<Vec<Overlap>, BuildError> {
        let parsed = self
            .routes()
            .map(|route| appserver_pattern::parse(route.pattern).map(|pattern| (route, pattern)))
            .collect::<Result<Vec<_>, _>>()?;
        overlapping(&parsed, |_, _| true)
    }

    /// The routes, in match order.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &'static Route> + '_ {
        self.routes.iter().map(|e| e.route)
    }

    /// The route for `method` and `path`, with the byte ranges of its parameters in `path`.
    pub fn find(&self, method: &Method, path: &str) -> Lookup {
        let input = Input::new(path).anchored(Anchored::Yes);
        let index = Methods::index_of(method.as_str());
        if let Some(table) = index.and_then(|i| self.by_method[i]).map(|t| &self.tables[t]) {
            if let Some(id) = table.matcher.find(&input) {
                let index = table.routes[id.as_usize()];
                return Lookup::Route(self.routes[index].route, self.params(index, &input), index);
            }
        }
        let allowed = Methods::ALL
            .iter()
            .zip(&self.by_method)
            .filter(|(_, table)| table.is_some_and(|t| self.tables[t].matcher.find(&input).is_some()))
            .fold(Methods::default(), |allowed, (&(_, m), _)| allowed | m);
        if allowed.is_empty() { Lookup::NotFound } else { Lookup::NotAllowed(allowed) }
    }

    /// The parameters of route `index`, which matches `input`.
    fn params(&self, index: usize, input: &Input<'_>) -> Params {
        let entry = &self.routes[index];
        let Some(captures) = &entry.captures else { return Params::new() };
        let mut slots = [None; 16];
        let mut heap;
        let len = 2 * (entry.slots.iter().max().unwrap() + 1);
        let slots = match slots.get_mut(..len) {
            Some(slots) => slots,
            None => {
                heap = vec![None; len];
                &mut heap[..]
            }
        };
        match captures {
            Captures::Scan(pieces) => {
                // The DFA verified the whole path: each group ends at the first stop byte.
                let path = input.haystack();
                let mut at = 0;
                for piece in pieces.iter() {
                    let start = at + piece.skip;
                    let end = piece.stop.map_or(path.len(), |stop| {
                        path[start..].iter().position(|&b| b == stop).map_or(path.len(), |n| start + n)
                    });
                    slots[2 * piece.group] = NonMaxUsize::new(start);
                    slots[2 * piece.group + 1] = NonMaxUsize::new(end);
                    at = end;
                }
            }
            Captures::OnePass(dfa) => SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                if scratch.0 != self.id {
                    *scratch = (self.id, Vec::new());
                }
                if scratch.1.len() <= index {
                    scratch.1.resize_with(index + 1, || None);
                }
                let cache = scratch.1[index].get_or_insert_with(|| dfa.create_cache());
                let _ = dfa.try_search_slots(cache, input, slots);
            }),
            Captures::Meta(regex) => {
                regex.search_slots(input, slots);
            }
        }
        let at = |slot: Option<NonMaxUsize>| slot.map(NonMaxUsize::get);
        let mut params = Params::new();
        for &g in entry.slots.iter() {
            params.push(at(slots[2 * g]).zip(at(slots[2 * g + 1])));
        }
        params
    }
}

/// The overlaps among `parsed` (in match order) decided only by the tie-break: for each
/// method, within each run of routes with the same literal length.
fn ties(parsed: &[(&'static Route, Pattern)]) -> Result<Vec<Overlap>, BuildError> {
    overlapping(parsed, |a, b| a.literal_len() == b.literal_len())
}

/// The pairs among `parsed` (in match order; the first of a pair wins) that can match the
/// same path for a method both answer, within each run of routes that `together` keeps
/// together, each with a shortest such path.
fn overlapping(
    parsed: &[(&'static Route, Pattern)],
    together: impl Fn(&Pattern, &Pattern) -> bool,
) -> Result<Vec<Overlap>, BuildError> {
    let mut seen: Vec<Vec<usize>> = Vec::new();
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for (_, method) in Methods::ALL {
        let members: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].0.answers().intersects(method)).collect();
        for run in members.chunk_by(|&a, &b| together(&parsed[a].1, &parsed[b].1)) {
            if run.len() < 2 || seen.iter().any(|s| s == run) {
                continue;
            }
            seen.push(run.to_vec());
            let hirs: Vec<&Hir> = run.iter().map(|&i| parsed[i].1.hir()).collect();
            for (a, b, witness) in super::overlap::overlaps(&hirs)? {
                let pair = (run[a], run[b]);
                if !found.iter().any(|(x, y, _)| (*x, *y) == pair) {
                    found.push((pair.0, pair.1, witness));
                }
            }
        }
    }
    found.sort_by_key(|(a, b, _)| (*a, *b));
    Ok(found.into_iter().map(|(a, b, witness)| Overlap { winner: parsed[a].0, loser: parsed[b].0, witness }).collect())
}

impl Matcher {
    /// A dense DFA over `hirs`, or `meta` when the DFA would take more than `size_limit`.
    fn new(hirs: &[&Hir], size_limit: usize) -> Result<Self, BuildError> {
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().utf8(false).which_captures(WhichCaptures::None))
            .build_many_from_hir(hirs)?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(size_limit))
                    .determinize_size_limit(Some(size_limit)),
            )
            .build_from_nfa(&nfa);
        match dfa {
            Ok(dfa) => Ok(Matcher::Dfa(Box::new(dfa))),
            Err(_) => meta::Builder::new()
                .configure(Regex::config().match_kind(MatchKind::LeftmostFirst).utf8_empty(false))
                .build_many_from_hir(hirs)
                .map(Matcher::Meta)
                .map_err(BuildError::from),
        }
    }

    /// The id of the first pattern that matches the whole (anchored) input.
    fn find(&self, input: &Input<'_>) -> Option<PatternID> {
        match self {
            Matcher::Dfa(dfa) => dfa.try_search_fwd(input).ok().flatten().map(|m| m.pattern()),
            Matcher::Meta(regex) => regex.search(input).map(|m| m.pattern()),
        }
    }

    fn memory_usage(&self) -> usize {
        match self {
            Matcher::Dfa(dfa) => dfa.memory_usage(),
            Matcher::Meta(regex) => regex.memory_usage(),
        }
    }
}

impl Captures {
    fn new(hir: &Hir) -> Result<Self, BuildError> {
        if let Some(pieces) = Self::scan(hir) {
            return Ok(Captures::Scan(pieces));
        }
        let nfa = thompson::Compiler::new().configure(thompson::Config::new().utf8(false)).build_from_hir(hir)?;
        let config = onepass::Config::new().starts_for_each_pattern(false).match_kind(MatchKind::LeftmostFirst);
        match onepass::Builder::new().configure(config).build_from_nfa(nfa) {
            Ok(dfa) => Ok(Captures::OnePass(Box::new(dfa))),
            Err(_) => meta::Builder::new()
                .configure(Regex::config().utf8_empty(false))
                .build_from_hir(hir)
                .map(Captures::Meta)
                .map_err(BuildError::from),
        }
    }

    /// The scan steps, if the anchored pattern `hir` is a sequence of literals and groups
    /// `(class+)` or `(class*)` each followed by the end or a literal whose first byte is
    /// not in the class: then, given that the whole path matches, every group ends at the
    /// first occurrence of that byte after it starts, and nowhere else.
    fn scan(hir: &Hir) -> Option<Box<[Piece]>> {
        use regex_syntax::hir::{Class, HirKind, Look};
        let HirKind::Concat(items) = hir.kind() else { return None };
        let [first, middle @ .., last] = &items[..] else { return None };
        if first.kind() != &HirKind::Look(Look::Start) || last.kind() != &HirKind::Look(Look::End) {
            return None;
        }
        let flat: Vec<&Hir> = match middle {
            [one] => match one.kind() {
                HirKind::Concat(inner) => inner.iter().collect(),
                _ => vec![one],
            },
            _ => middle.iter().collect(),
        };
        let mut pieces: Vec<Piece> = Vec::new();
        let mut skip = 0;
        // The class of the group before this point, if it is not yet closed by a literal.
        let mut open: Option<&Class> = None;
        for item in flat {
            match item.kind() {
                HirKind::Literal(literal) => {
                    if let Some(class) = open.take() {
                        let stop = literal.0[0];
                        if class_has(class, stop) {
                            return None;
                        }
                        pieces.last_mut().unwrap().stop = Some(stop);
                    }
                    skip += literal.0.len();
                }
                HirKind::Capture(capture) if open.is_none() => {
                    let HirKind::Repetition(rep) = capture.sub.kind() else { return None };
                    let HirKind::Class(class) = rep.sub.kind() else { return None };
                    if rep.max.is_some() || !rep.greedy {
                        return None;
                    }
                    pieces.push(Piece { skip, group: capture.index as usize, stop: None });
                    skip = 0;
                    open = Some(class);
                }
                _ => return None,
            }
        }
        // A group at the very end runs to the end; literal text after the last group is
        // left alone (the DFA checked it).
        Some(pieces.into())
    }

    fn memory_usage(&self) -> usize {
        match self {
            Captures::Scan(pieces) => pieces.len() * std::mem::size_of::<Piece>(),
            Captures::OnePass(dfa) => dfa.memory_usage(),
            Captures::Meta(regex) => regex.memory_usage(),
        }
    }
}

/// Whether `class` contains the byte `byte`.
fn class_has(class: &regex_syntax::hir::Class, byte: u8) -> bool {
    use regex_syntax::hir::Class;
    match class {
        Class::Bytes(class) => class.ranges().iter().any(|r| (r.start()..=r.end()).contains(&byte)),
        Class::Unicode(class) => class.ranges().iter().any(|r| (r.start()..=r.end()).contains(&char::from(byte))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::{Error, Request};
    use crate::routing::Reply;

    fn never(_: &Request) -> Result<Reply, Error> {
        unreachable!()
    }

    macro_rules! route {
        ($name:literal, $pattern:literal, $methods:expr, $params:expr, $line:literal) => {
            &*Box::leak(Box::new(Route {
                name: $name,
                pattern: $pattern,
                methods: $methods,
                params: $params,
                file: "src/lib.rs",
                line: $line,
                extractors: &[],
                bearer: || None,
                headers: Vec::new,
                parameters: &[],
                response: |_| None,
                answer: || crate::routing::AnswerDoc::JSON,
                head: true,
                max_body_bytes: None,
                takes: || crate::handler::Takes::Request,
                precheck: |_| Ok(()),
                handler: never,
            }))
        };
    }

    const GET: Methods = Methods::GET;
    const POST: Methods = Methods::POST;

    #[test]
    fn more_literal_patterns_win_whatever_the_order() {
        let any: &'static Route = route!("any", r"/users/(?P<id>[^/]+)", GET, &["id"], 1);
        let me: &'static Route = route!("me", "/users/me", GET, &[], 2);
        for routes in [[any, me], [me, any]] {
            let router = Router::new(routes).unwrap();
            let Lookup::Route(route, params, _) = router.find(&Method::GET, "/users/me") else { panic!() };
            assert_eq!((route.name, params.len()), ("me", 0));
            let Lookup::Route(route, params, _) = router.find(&Method::GET, "/users/ann") else { panic!() };
            assert_eq!((route.name, params.as_slice()), ("any", &[Some((7, 10))][..]));
        }
    }

    #[test]
    fn method_mismatch_lists_allowed_methods_and_misses_are_not_found() {
        let router = Router::new([route!("a", "/a", GET | POST, &[], 1), route!("b", "/a/b", GET, &[], 2)]).unwrap();
        let Lookup::NotAllowed(allow) = router.find(&Method::PUT, "/a") else { panic!() };
        assert_eq!(allow.to_string(), "GET, HEAD, POST");
        assert!(matches!(router.find(&Method::GET, "/a/"), Lookup::NotFound));
        assert!(matches!(router.find(&Method::GET, "/x/a"), Lookup::NotFound), "patterns are anchored");
        assert!(matches!(router.find(&Method::HEAD, "/a/b"), Lookup::Route(r, _, _) if r.name == "b"));
    }

    #[test]
    fn same_pattern_with_different_methods_is_fine_with_overlapping_ones_an_error() {
        assert!(Router::new([route!("a", "/a", GET, &[], 1), route!("b", "/a", POST, &[], 2)]).is_ok());
        let routes = [
            route!("a", "/a", GET | POST, &[], 1),
            route!("b", "/a", POST, &[], 9),
            route!("c", "/c", GET, &["x"], 12),
            route!("d", "/c", GET, &[], 13),
        ];
        let errors = Router::new(routes).err().unwrap();
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                r#"duplicate route "/a": b (src/lib.rs:9) and a (src/lib.rs:1) both answer it for the same method"#,
                r#"duplicate route "/c": c (src/lib.rs:12) and d (src/lib.rs:13) both answer it for the same method"#,
                r#"src/lib.rs:12: route "/c" has no group named `x`"#,
            ],
            "every problem is reported, not only the first"
        );
    }

    #[test]
    fn scanned_groups_are_the_regex_groups() {
        // Patterns the scan takes, and some it must leave to the one-pass DFA, each with a
        // template of paths to try (`*`: random text).
        let patterns = [
            (r"/repos/(?P<a>[^/]+)/(?P<b>[^/]+)/stargazers", "/repos/*/*/stargazers"),
            (r"/orgs/(?P<a>[^/]+)/members(?P<b>[^/]+)", "/orgs/*/members*"),
            (r"/(?P<a>\w+)/get/(?P<b>\d+)/", "/*/get/*/"),
            (r"/x(?P<a>[a-c]*)d(?P<b>[^/]*)", "/x*d*"),
            (r"/(?P<a>[^/]+)/(?P<b>.+)", "/*/*"),
            (r"/x(?P<a>[a-c]*)b(?P<b>[^/]*)", "/x*b*"),
            (r"/(?P<a>[a-z]+)(?P<b>\d+)", "/**"),
            (r"/(?P<a>\d+)1(?P<b>\d)", "/*1*"),
            (r"/(?:(?P<a>a+)|b)/(?P<b>[^/]+)", "/*/*"),
        ];
        let scanned: Vec<bool> = patterns
            .iter()
            .map(|(p, _)| matches!(Captures::new(appserver_pattern::parse(p).unwrap().hir()), Ok(Captures::Scan(_))))
            .collect();
        assert_eq!(scanned, [true, true, true, true, true, false, false, false, false]);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let alphabet = b"/abcd019_-.xmget";
        for (pattern, template) in patterns {
            let route: &'static Route = Box::leak(Box::new(Route {
                name: "p",
                pattern,
                methods: GET,
                params: &["a", "b"],
                file: "f",
                line: 1,
                extractors: &[],
                bearer: || None,
                headers: Vec::new,
                parameters: &[],
                response: |_| None,
                answer: || crate::routing::AnswerDoc::JSON,
                head: true,
                max_body_bytes: None,
                takes: || crate::handler::Takes::Request,
                precheck: |_| Ok(()),
                handler: never,
            }));
            let router = Router::new([route]).unwrap();
            let regex = regex_automata::meta::Builder::new()
                .syntax(regex_automata::util::syntax::Config::new().unicode(false).utf8(false))
                .configure(Regex::config().utf8_empty(false))
                .build(&format!("^{pattern}$"))
                .unwrap();
            let mut matched = 0;
            for _ in 0..20_000 {
                let mut path = Vec::new();
                for &b in template.as_bytes() {
                    match b {
                        b'*' => (0..random(5)).for_each(|_| path.push(alphabet[random(alphabet.len())])),
                        b => path.push(b),
                    }
                }
                if random(4) == 0 {
                    let at = random(path.len());
                    path[at] = alphabet[random(alphabet.len())];
                }
                let path = String::from_utf8(path).unwrap();
                let mut expected = regex.create_captures();
                regex.captures(&path, &mut expected);
                match router.find(&Method::GET, &path) {
                    Lookup::Route(_, params, _) => {
                        matched += 1;
                        let want: Vec<_> = ["a", "b"]
                            .iter()
                            .map(|g| expected.get_group_by_name(g).map(|s| (s.start, s.end)))
                            .collect();
                        assert_eq!(params.as_slice(), &want[..], "{pattern} on {path:?}");
                    }
                    _ => assert!(!expected.is_match(), "{pattern} on {path:?}"),
                }
            }
            assert!(matched > 20, "{pattern}: only {matched} paths matched");
        }
    }

    #[test]
    fn patterns_too_large_for_a_dfa_fall_back_to_meta_with_the_same_answers() {
        let patterns = ["/users/me", r"/users/(?P<id>[^/]+)", r"/files/(?P<path>.+)\.txt"];
        let parsed: Vec<_> = patterns.iter().map(|p| appserver_pattern::parse(p).unwrap()).collect();
        let hirs: Vec<&Hir> = parsed.iter().map(|p| p.hir()).collect();
        let dfa = Matcher::new(&hirs, DFA_SIZE_LIMIT).unwrap();
        let meta = Matcher::new(&hirs, 1).unwrap();
        assert!(matches!((&dfa, &meta), (Matcher::Dfa(_), Matcher::Meta(_))));
        for path in ["/users/me", "/users/ann", "/files/a/b.txt", "/files/.txt", "/users/", "/x"] {
            let input = Input::new(path).anchored(Anchored::Yes);
            assert_eq!(dfa.find(&input), meta.find(&input), "{path}");
        }
        assert_eq!(meta.find(&Input::new("/users/me").anchored(Anchored::Yes)), Some(PatternID::must(0)));
        assert_eq!(meta.find(&Input::new("/users/ann").anchored(Anchored::Yes)), Some(PatternID::must(1)));
        assert_eq!(meta.find(&Input::new("/users/").anchored(Anchored::Yes)), None);
    }

    #[test]
    fn no_routes_explains_linking() {
        let err = Router::new([]).err().unwrap();
        assert!(matches!(err[..], [RouteError::NoRoutes]));
        assert!(err[0].to_string().contains("use my_routes as _;"));
    }
}
