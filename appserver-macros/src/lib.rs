//! The `#[route]`, `#[fallback]` and `#[scope]` attributes of [appserver](https://docs.rs/appserver).
//! Use them through `appserver::route`, `appserver::fallback` and `appserver::scope`; this crate is an
//! implementation detail.

mod ast;
mod attr;
mod expand;
mod scope;
mod valid;

use proc_macro::TokenStream;

/// Serves a function as a JSON HTTP handler. See `appserver::route` for the full story.
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::route(args.into(), item.into()).into()
}

/// Serves a function for the paths no route matches. See `appserver::fallback`.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::fallback(args.into(), item.into()).into()
}

/// Joins a pattern before the pattern of every `#[route]` of an inline module. See
/// `appserver::scope`.
#[proc_macro_attribute]
pub fn scope(args: TokenStream, item: TokenStream) -> TokenStream {
    scope::scope(args.into(), item.into()).into()
}
