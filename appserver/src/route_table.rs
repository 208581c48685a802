//! The route table: every route in match order, with its parameters, without serving.

use crate::route::{Parameter, Route};
use crate::router::Router;
use crate::serve_error::ServeError;
use std::fmt;

/// One route, as the route table lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        }
    }
}

/// Every route of the program in match order (more literal text first, then the pattern
/// text): what [`routes`] gives and `APPSERVER_PRINT_ROUTES=true` prints.
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
}

/// The routes linked into this program, checked as a server checks them at startup.
pub fn routes() -> Result<RouteTable, ServeError> {
    let router = Router::new(Route::all())?;
    Ok(RouteTable(router.routes().map(RouteInfo::new).collect()))
}

/// A table with a line per route: methods, pattern, handler, `file:line`, parameters
/// (`name: Type`, marked `(extractor)` when no group gives it).
impl fmt::Display for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 5]> = self
            .0
            .iter()
            .map(|r| {
                let parameters: Vec<String> = r
                    .parameters
                    .iter()
                    .map(|p| format!("{}: {}{}", p.name, p.ty, if p.group { "" } else { " (extractor)" }))
                    .collect();
                [
                    r.methods.clone(),
                    r.pattern.to_owned(),
                    r.handler.to_owned(),
                    format!("{}:{}", r.file, r.line),
                    parameters.join(", "),
                ]
            })
            .collect();
        let header = ["METHODS", "PATTERN", "HANDLER", "DEFINED AT", "PARAMETERS"].map(str::to_owned);
        let mut widths = [0; 5];
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
