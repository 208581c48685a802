//! The attribute's arguments: `#[route([METHOD | METHOD ,] "pattern" [, blocking] [, head = false])]`, with
//! `scope = "prefix"` and `guard = Type` as `#[scope]` adds them to the routes inside; and
//! `#[fallback([blocking])]`.

use appserver_pattern::Methods;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token, Type};

/// What `#[route(...)]` says.
pub(crate) struct Attr {
    /// GET and POST when the attribute names none.
    pub(crate) methods: Methods,
    pub(crate) pattern: LitStr,
    /// `blocking`: the handler runs on the blocking pool.
    pub(crate) blocking: Option<Ident>,
    /// `#[fallback]`: the handler answers the paths no route matches, for any method.
    pub(crate) fallback: bool,
    /// The patterns of the scopes around the route, outermost first: joined before its own.
    pub(crate) scopes: Vec<LitStr>,
    /// Extractors the route's scopes require, run before the handler's own.
    pub(crate) guards: Vec<Type>,
    /// `head = false`: a GET route that does not answer HEAD (its GET changes something).
    pub(crate) no_head: Option<syn::LitBool>,
    /// `max_body_bytes = N`: the route's own body limit.
    pub(crate) max_body_bytes: Option<syn::Expr>,
}

impl Attr {
    /// What `#[fallback(...)]` says: `blocking` at most.
    pub(crate) fn fallback(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut blocking = None;
        if !input.is_empty() {
            let ident: Ident = input.parse().map_err(|e| syn::Error::new(e.span(), FALLBACK_ARGS))?;
            if ident != "blocking" || !input.is_empty() {
                return Err(syn::Error::new(ident.span(), FALLBACK_ARGS));
            }
            blocking = Some(ident);
        }
        let all = Methods::ALL.iter().fold(Methods::default(), |all, (_, method)| all | *method);
        let pattern = LitStr::new("", input.span());
        Ok(Attr {
            methods: all,
            pattern,
            blocking,
            fallback: true,
            scopes: Vec::new(),
            guards: Vec::new(),
            no_head: None,
            max_body_bytes: None,
        })
    }

    /// The pattern the route serves: its scopes' patterns, then its own.
    pub(crate) fn joined(&self) -> String {
        self.scopes.iter().map(LitStr::value).chain([self.pattern.value()]).collect()
    }
}

const FALLBACK_ARGS: &str = "a fallback answers every method and every path no route matches: `#[fallback]`, or `#[fallback(blocking)]` for a sync fn that blocks";

impl Parse for Attr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut methods = None;
        let mut pattern: Option<LitStr> = None;
        let mut blocking = None;
        let (mut scopes, mut guards) = (Vec::new(), Vec::new());
        let mut no_head = None;
        let mut max_body_bytes = None;
        let mut errors: Option<syn::Error> = None;
        let mut push = |e: syn::Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };
        while !input.is_empty() {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                if pattern.is_some() {
                    push(syn::Error::new(lit.span(), "a route has one pattern; remove this one"));
                }
                pattern.get_or_insert(lit);
            } else if input.peek(Ident) && input.peek2(Token![!]) {
                let name: Ident = input.parse()?;
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "the pattern is a string literal: a macro such as `{name}!` is not expanded inside an attribute; \
                         write the whole pattern, or put a common prefix on a module with `#[appserver::scope(r\"/api\")]`"
                    ),
                ));
            } else if input.peek(Ident) && input.fork().parse::<Ident>()? == "blocking" {
                blocking = Some(input.parse::<Ident>()?);
            } else if input.peek(Ident) && input.peek2(Token![=]) {
                let key: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                match key.to_string().as_str() {
                    "scope" => scopes.push(input.parse::<LitStr>()?),
                    "guard" => guards.push(input.parse::<Type>()?),
                    "head" => {
                        let value: syn::LitBool = input.parse()?;
                        match value.value {
                            false => no_head = Some(value),
                            true => push(syn::Error::new(
                                value.span(),
                                "a GET route answers HEAD already; `head = false` is the one setting, for a GET that changes something",
                            )),
                        }
                    }
                    "max_body_bytes" => max_body_bytes = Some(input.parse::<syn::Expr>()?),
                    _ => {
                        return Err(syn::Error::new(
                            key.span(),
                            "unknown argument; a route takes methods, a pattern, `blocking`, `head = false` and \
                             `max_body_bytes = N`",
                        ));
                    }
                }
            } else if input.peek(Ident) {
                let mut named = Methods::default();
                loop {
                    let ident: Ident = input.parse()?;
                    match Methods::from_name(&ident.to_string()) {
                        Some(method) => named = named | method,
                        None => push(syn::Error::new(
                            ident.span(),
                            format!(
                                "unknown HTTP method `{ident}`; expected one of {}",
                                Methods::ALL.map(|(name, _)| name).join(", ")
                            ),
                        )),
                    }
                    if !input.peek(Token![|]) {
                        break;
                    }
                    input.parse::<Token![|]>()?;
                }
                if methods.is_some() {
                    push(input.error("name the methods once, joined with `|`: `#[route(GET | POST, \"...\")]`"));
                }
                methods = Some(named);
            } else {
                return Err(input.error(r#"expected a route pattern, e.g. `#[route(r"/items/(?P<id>\d+)")]`, optionally after methods and before `blocking`: `#[route(GET | POST, r"...", blocking)]`"#));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        if let Some(errors) = errors {
            return Err(errors);
        }
        let Some(pattern) = pattern else {
            return Err(input.error(r#"expected a route pattern, e.g. `#[route(r"/items/(?P<id>\d+)")]`"#));
        };
        let methods = methods.unwrap_or(Methods::DEFAULT);
        if let Some(value) = no_head.as_ref().filter(|_| !methods.intersects(Methods::GET)) {
            return Err(syn::Error::new(
                value.span(),
                "`head = false` only matters on a route that answers GET (HEAD runs the GET handler); remove it",
            ));
        }
        Ok(Attr { methods, pattern, blocking, fallback: false, scopes, guards, no_head, max_body_bytes })
    }
}
