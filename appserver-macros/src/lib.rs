//! The `#[route]` and `#[fallback]` attributes of [appserver](https://docs.rs/appserver).
//! Use them through `appserver::route` and `appserver::fallback`; this crate is an
//! implementation detail.

mod ast;
mod attr;
mod expand;
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
