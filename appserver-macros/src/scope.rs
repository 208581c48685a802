//! `#[scope("prefix", guard = Type)]` on an inline module: every `#[route]` inside gets the
//! prefix (and the guards) as arguments, so that the route's own expansion joins and checks
//! them; a `#[scope]` inside gets them too, so that scopes nest, outermost first.

use crate::expand::with_errors;
use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Item, ItemMod, LitStr, Meta, Token, Type};

/// What `#[scope(...)]` says, with the scopes around it (added by an outer `#[scope]`).
struct ScopeAttr {
    pattern: LitStr,
    /// The outer scopes' patterns, outermost first.
    outer: Vec<LitStr>,
    guards: Vec<Type>,
}

impl Parse for ScopeAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let usage = r#"expected a scope pattern, e.g. `#[scope(r"/shops/(?P<shop>[a-z0-9-]+)")]`, then optionally `guard = Type`"#;
        let pattern: LitStr = input.parse().map_err(|e| syn::Error::new(e.span(), usage))?;
        let (mut outer, mut guards) = (Vec::new(), Vec::new());
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "guard" => guards.push(input.parse()?),
                "scope" => outer.push(input.parse()?),
                _ => return Err(syn::Error::new(key.span(), usage)),
            }
        }
        Ok(ScopeAttr { pattern, outer, guards })
    }
}

pub(crate) fn scope(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    let attr = syn::parse2::<ScopeAttr>(args).map_err(|e| errors.push(e)).ok();
    let mut module: ItemMod = match syn::parse2(item.clone()) {
        Ok(module) => module,
        Err(_) => {
            let err = syn::Error::new_spanned(
                &item,
                "#[scope] goes on an inline module: `#[scope(r\"/prefix\")] mod name { ... }`",
            );
            return with_errors(item, errors.into_iter().chain([err]).collect());
        }
    };
    if let Some(attr) = &attr {
        check(attr, &mut errors);
    }
    match (&mut module.content, &attr) {
        (None, _) => errors.push(syn::Error::new_spanned(
            &module,
            "#[scope] goes on an inline module (`mod name { ... }`): the routes of a module in another file are out of its reach",
        )),
        (Some((_, items)), Some(attr)) if errors.is_empty() => {
            let mut added: Vec<TokenStream> = attr.outer.iter().chain([&attr.pattern]).map(|p| quote!(scope = #p)).collect();
            added.extend(attr.guards.iter().map(|guard| quote!(guard = #guard)));
            extend_items(items, &added, &mut errors);
        }
        _ => {}
    }
    with_errors(quote!(#module), errors)
}

/// A scope's pattern starts with `/`, does not end with one (the routes' patterns do), and
/// is a pattern itself.
fn check(attr: &ScopeAttr, errors: &mut Vec<syn::Error>) {
    let source = attr.pattern.value();
    if !source.starts_with('/') || source.ends_with('/') {
        errors.push(syn::Error::new(
            attr.pattern.span(),
            "a scope's pattern starts with `/` and does not end with one, as the routes inside start with `/`: \
             `#[scope(r\"/shops/(?P<shop>[a-z0-9-]+)\")]`",
        ));
    }
    if let Err(err) = appserver_pattern::parse(&source) {
        errors.push(syn::Error::new(attr.pattern.span(), format!("invalid scope pattern:\n{err}")));
    }
}

/// Adds `added` to the `#[route]`s and `#[scope]`s of `items`, and of the plain inline
/// modules among them.
fn extend_items(items: &mut [Item], added: &[TokenStream], errors: &mut Vec<syn::Error>) {
    for item in items {
        match item {
            Item::Fn(function) => {
                extend(&mut function.attrs, added, errors);
            }
            // A scope inside adds the outer arguments to its own routes; a plain module is
            // searched.
            Item::Mod(inner) => {
                let scoped = extend(&mut inner.attrs, added, errors);
                if let (false, Some((_, items))) = (scoped, &mut inner.content) {
                    extend_items(items, added, errors);
                }
            }
            _ => {}
        }
    }
}

/// Adds `added` to the arguments of the `#[route]` or `#[scope]` among `attrs`; whether
/// there was one.
fn extend(attrs: &mut [Attribute], added: &[TokenStream], errors: &mut Vec<syn::Error>) -> bool {
    let mut found = false;
    for attribute in attrs.iter_mut() {
        let path = attribute.path();
        let named = |name: &str| {
            path.segments.last().is_some_and(|s| s.ident == name)
                && (path.segments.len() == 1 || path.segments.first().is_some_and(|s| s.ident == "appserver"))
        };
        if !(named("route") || named("scope")) {
            continue;
        }
        found = true;
        match &mut attribute.meta {
            Meta::List(list) => {
                let mut own: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
                if matches!(own.last(), Some(TokenTree::Punct(p)) if p.as_char() == ',') {
                    own.pop();
                }
                let mut tokens: Punctuated<TokenStream, Token![,]> = Punctuated::new();
                tokens.push(own.into_iter().collect());
                tokens.extend(added.iter().cloned());
                list.tokens = quote!(#tokens);
            }
            other => errors.push(syn::Error::new_spanned(other, "expected arguments: `#[route(r\"/path\")]`")),
        }
    }
    found
}
