//! The route table: every route in match order, with its parameters, without serving.

use super::route::{Fallback, Parameter, Route, RouteError};
use super::router::Router;
use std::fmt;

/// The pattern the route table shows for the fallback.
pub(crate) const FALLBACK: &str = "(fallback: any path no route matches)";

/// One route, as the route table lists it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The methods it answers (`GET, HEAD, POST`).
    pub methods: String,
    /// Its pattern, as written.
    pub pattern: &'static str,
    /// The handler's path, `module::function`.
    pub handler: &'static str,
    /// Where the handler is defined.
    pub file: &'static str,
    /// Where the handler is defined.
    pub line: u32,
    /// The handler's parameters, in order.
    pub parameters: &'static [Parameter],
    /// The routes that can match some of the same paths for a method they share.
    pub overlaps: Vec<Overlapping>,
}

/// Another route that can match some of a route's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Overlapping {
    /// The other route's handler.
    pub handler: &'static str,
    /// A shortest path both match.
    pub witness: String,
    /// Whether this route, not the other, answers the paths both match.
    pub wins: bool,
}

impl RouteInfo {
    fn new(route: &'static Route) -> RouteInfo {
        RouteInfo {
            methods: route.answers().to_string(),
            pattern: route.pattern,
            handler: route.name,
            file: route.file,
            line: route.line,
            parameters: route.parameters,
            overlaps: Vec::new(),
        }
    }
}

/// Every route of the program in match order (more literal text first, then the pattern
/// text): what [`routes`](crate::routes()) gives and `APPSERVER_PRINT_ROUTES=true` prints.
///
/// ```standalone_crate
/// #[appserver::route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
/// fn get_object(object_type: String, object_id: u64) -> String {
///     format!("{object_type} {object_id}")
/// }
///
/// let table = appserver::routes()?;
/// let route = &table.routes()[0];
/// assert_eq!((route.methods.as_str(), route.handler), ("GET, HEAD, POST", "rust_out::get_object"));
/// assert_eq!((route.parameters[1].name, route.parameters[1].ty, route.parameters[1].group), ("object_id", "u64", true));
/// println!("{table}");
/// # Ok::<(), appserver::ServeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RouteTable(Vec<RouteInfo>);

impl RouteTable {
    /// The routes, in match order.
    pub fn routes(&self) -> &[RouteInfo] {
        &self.0
    }

    /// The table of the routes linked into this program, checked as a server checks them
    /// at startup, each with the routes it overlaps (intended ones too).
    pub(crate) fn build() -> Result<RouteTable, Vec<RouteError>> {
        let router = Router::new(Route::all())?;
        let routes: Vec<&'static Route> = router.routes().collect();
        let mut table: Vec<RouteInfo> = routes.iter().map(|route| RouteInfo::new(route)).collect();
        let at = |route: &'static Route| routes.iter().position(|r| std::ptr::eq(*r, route));
        let overlaps =
            router.overlaps().map_err(|error| vec![RouteError::Compile { what: "the overlap check".into(), error }])?;
        for overlap in overlaps {
            let (Some(winner), Some(loser)) = (at(overlap.winner), at(overlap.loser)) else { continue };
            let witness = overlap.witness;
            table[winner].overlaps.push(Overlapping {
                handler: overlap.loser.name,
                witness: witness.clone(),
                wins: true,
            });
            table[loser].overlaps.push(Overlapping { handler: overlap.winner.name, witness, wins: false });
        }
        if let Some(fallback) = Fallback::find()? {
            table.push(RouteInfo { methods: "ANY".into(), pattern: FALLBACK, ..RouteInfo::new(fallback) });
        }
        Ok(RouteTable(table))
    }

    /// Adds the row of a folder served under `prefix` (`Server::serve_dir`).
    pub(crate) fn add_dir(&mut self, prefix: &str, folder: &std::path::Path) {
        self.0.push(RouteInfo {
            methods: "GET, HEAD".into(),
            pattern: Box::leak(format!("{prefix}/{{path}}").into_boxed_str()),
            handler: Box::leak(format!("(files in {})", folder.display()).into_boxed_str()),
            file: "",
            line: 0,
            parameters: &[],
            overlaps: Vec::new(),
        });
    }
}

/// A table with a line per route: methods, pattern, handler, `file:line`, parameters
/// (`name: Type`, marked `(extractor)` when no group gives it), and the routes it overlaps
/// (`wins over` or `loses to` the other, at a path both match).
impl fmt::Display for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 6]> = self
            .0
            .iter()
            .map(|r| {
                let parameters: Vec<String> = r
                    .parameters
                    .iter()
                    .map(|p| format!("{}: {}{}", p.name, p.ty, if p.group { "" } else { " (extractor)" }))
                    .collect();
                let overlaps: Vec<String> = r
                    .overlaps
                    .iter()
                    .map(|o| {
                        format!("{} {} at {}", if o.wins { "wins over" } else { "loses to" }, o.handler, o.witness)
                    })
                    .collect();
                [
                    r.methods.clone(),
                    r.pattern.to_owned(),
                    r.handler.to_owned(),
                    format!("{}:{}", r.file, r.line),
                    parameters.join(", "),
                    overlaps.join("; "),
                ]
            })
            .collect();
        let header = ["METHODS", "PATTERN", "HANDLER", "DEFINED AT", "PARAMETERS", "OVERLAPS"].map(str::to_owned);
        let mut widths = [0; 6];
        for row in std::iter::once(&header).chain(&rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            let line: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect();
            writeln!(f, "{}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RouteTable;

    #[test]
    fn a_served_folder_has_its_row() {
        let mut table = RouteTable(Vec::new());
        table.add_dir("/static", std::path::Path::new("public"));
        let text = table.to_string();
        let row = text.lines().find(|l| l.contains("/static/{path}")).unwrap_or_else(|| panic!("{text}"));
        assert!(row.starts_with("GET, HEAD  /static/{path}  (files in public)"), "{row}");
    }
}
