//! The `#[route]` attribute of [appserver](https://docs.rs/appserver). Use it through
//! `appserver::route`; this crate is an implementation detail.

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
