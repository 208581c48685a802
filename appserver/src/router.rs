//! All routes in one matcher per method.
//!
//! Each method's routes are compiled into one multi-pattern regex (anchored at both ends,
//! leftmost-first), so a lookup is one search that yields the route and its groups.
//! Routes are ordered deterministically, whatever the link order: more literal text first
//! (`/users/me` before `/users/(?P<id>[^/]+)`), then by pattern text, then by methods and
//! definition site. When several patterns match a path, the first in that order wins.

use crate::route::{METHODS, Route, method_bit};
use http::Method;
use regex_automata::meta::{self, Regex};
use regex_automata::{Anchored, Input, MatchKind};
use std::cmp::Reverse;

pub(crate) struct Router {
    routes: Vec<Entry>,
    /// Per entry of `METHODS`: the matcher of the routes answering that method.
    tables: Vec<Option<Table>>,
}

struct Entry {
    route: &'static Route,
    /// Capture-group index of each of the route's parameters.
    slots: Box<[usize]>,
}

struct Table {
    regex: Regex,
    /// Route index for each pattern id.
    routes: Box<[usize]>,
}

/// The outcome of a lookup.
pub(crate) enum Lookup {
    Route(&'static Route, Vec<Option<(usize, usize)>>),
    NotFound,
    /// The path matches routes of other methods: the value of the `Allow` header.
    NotAllowed(String),
}

impl Router {
    /// Compiles `routes`; the error names every problem found.
    pub(crate) fn new(routes: impl IntoIterator<Item = &'static Route>) -> Result<Self, String> {
        let mut parsed = Vec::new();
        let mut errors = Vec::new();
        for route in routes {
            match appserver_pattern::parse(route.pattern) {
                Ok(pattern) => parsed.push((route, pattern)),
                Err(err) => errors.push(format!("{}: invalid pattern {:?}: {err}", site(route), route.pattern)),
            }
        }
        if parsed.is_empty() && errors.is_empty() {
            return Err("no routes are registered: put #[route] on a function. Routes that live in a library \
                        crate are only linked when the binary names that crate, e.g. `use my_routes as _;`"
                .to_owned());
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
        for (i, (a, _)) in parsed.iter().enumerate() {
            for (b, _) in parsed[i + 1..].iter().take_while(|(b, _)| b.pattern == a.pattern) {
                if a.effective_methods() & b.effective_methods() != 0 {
                    errors.push(format!(
                        "duplicate route {:?}: {} ({}) and {} ({}) both answer it for the same method",
                        a.pattern,
                        a.name,
                        site(a),
                        b.name,
                        site(b)
                    ));
                }
            }
        }

        let mut entries = Vec::with_capacity(parsed.len());
        for (route, pattern) in &parsed {
            let slots = route.params.iter().map(|name| {
                let group = pattern.groups().iter().find(|g| g.name() == *name);
                group
                    .map(|g| g.index() as usize)
                    .ok_or_else(|| format!("{}: route {:?} has no group named `{name}`", site(route), route.pattern))
            });
            match slots.collect::<Result<_, _>>() {
                Ok(slots) => entries.push(Entry { route, slots }),
                Err(err) => errors.push(err),
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }

        let tables = (0..METHODS.len())
            .map(|bit| {
                let members: Vec<usize> =
                    (0..entries.len()).filter(|&i| entries[i].route.effective_methods() & (1 << bit) != 0).collect();
                if members.is_empty() {
                    return Ok(None);
                }
                let hirs: Vec<_> = members.iter().map(|&i| parsed[i].1.hir()).collect();
                let regex = meta::Builder::new()
                    .configure(Regex::config().match_kind(MatchKind::LeftmostFirst).utf8_empty(false))
                    .build_many_from_hir(&hirs)
                    .map_err(|err| format!("cannot compile the {} routes: {err}", METHODS[bit]))?;
                Ok(Some(Table { regex, routes: members.into() }))
            })
            .collect::<Result<_, String>>()?;
        Ok(Router { routes: entries, tables })
    }

    /// The routes, in match order.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &'static Route> + '_ {
        self.routes.iter().map(|e| e.route)
    }

    /// The route for `method` and `path`, with the byte ranges of its parameters in `path`.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Lookup {
        let input = Input::new(path).anchored(Anchored::Yes);
        if let Some(table) = method_bit(method).and_then(|bit| self.tables[bit].as_ref()) {
            let mut caps = table.regex.create_captures();
            table.regex.search_captures(&input, &mut caps);
            if let Some(id) = caps.pattern() {
                let entry = &self.routes[table.routes[id.as_usize()]];
                let params = entry.slots.iter().map(|&g| caps.get_group(g).map(|s| (s.start, s.end))).collect();
                return Lookup::Route(entry.route, params);
            }
        }
        let allowed: Vec<&str> = METHODS
            .iter()
            .zip(&self.tables)
            .filter(|(_, table)| table.as_ref().is_some_and(|t| t.regex.is_match(input.clone())))
            .map(|(m, _)| m.as_str())
            .collect();
        if allowed.is_empty() { Lookup::NotFound } else { Lookup::NotAllowed(allowed.join(", ")) }
    }
}

fn site(route: &Route) -> String {
    format!("{}:{}", route.file, route.line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Reply;
    use crate::{Error, Request};

    fn never(_: &Request) -> Result<Reply, Error> {
        unreachable!()
    }

    macro_rules! route {
        ($name:literal, $pattern:literal, $methods:expr, $params:expr, $line:literal) => {
            &Route {
                name: $name,
                pattern: $pattern,
                methods: $methods,
                params: $params,
                file: "src/lib.rs",
                line: $line,
                extractors: &[],
                handler: never,
            }
        };
    }

    const GET: u8 = 1;
    const POST: u8 = 4;

    #[test]
    fn more_literal_patterns_win_whatever_the_order() {
        let any: &'static Route = route!("any", r"/users/(?P<id>[^/]+)", GET, &["id"], 1);
        let me: &'static Route = route!("me", "/users/me", GET, &[], 2);
        for routes in [[any, me], [me, any]] {
            let router = Router::new(routes).unwrap();
            let Lookup::Route(route, params) = router.find(&Method::GET, "/users/me") else { panic!() };
            assert_eq!((route.name, params.len()), ("me", 0));
            let Lookup::Route(route, params) = router.find(&Method::GET, "/users/ann") else { panic!() };
            assert_eq!((route.name, params), ("any", vec![Some((7, 10))]));
        }
    }

    #[test]
    fn method_mismatch_lists_allowed_methods_and_misses_are_not_found() {
        let router = Router::new([route!("a", "/a", GET | POST, &[], 1), route!("b", "/a/b", GET, &[], 2)]).unwrap();
        let Lookup::NotAllowed(allow) = router.find(&Method::PUT, "/a") else { panic!() };
        assert_eq!(allow, "GET, HEAD, POST");
        assert!(matches!(router.find(&Method::GET, "/a/"), Lookup::NotFound));
        assert!(matches!(router.find(&Method::GET, "/x/a"), Lookup::NotFound), "patterns are anchored");
        assert!(matches!(router.find(&Method::HEAD, "/a/b"), Lookup::Route(r, _) if r.name == "b"));
    }

    #[test]
    fn same_pattern_with_different_methods_is_fine_with_overlapping_ones_an_error() {
        assert!(Router::new([route!("a", "/a", GET, &[], 1), route!("b", "/a", POST, &[], 2)]).is_ok());
        let err = Router::new([route!("a", "/a", GET | POST, &[], 1), route!("b", "/a", POST, &[], 9)]).err().unwrap();
        assert!(
            err.contains("duplicate route \"/a\"") && err.contains("src/lib.rs:1") && err.contains("src/lib.rs:9"),
            "{err}"
        );
    }

    #[test]
    fn no_routes_explains_linking() {
        let err = Router::new([]).err().unwrap();
        assert!(err.contains("use my_routes as _;"), "{err}");
    }
}
