//! The handler function as the expansion sees it.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

/// A handler: the user's function and its parameters.
pub(crate) struct Handler<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) params: Vec<Param<'a>>,
}

/// One parameter, `ident: ty`.
pub(crate) struct Param<'a> {
    pub(crate) arg: &'a FnArg,
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
}

impl<'a> Handler<'a> {
    /// Reads `item`, collecting an error for every parameter or signature part a handler
    /// cannot have.
    pub(crate) fn from_fn(item: &'a ItemFn, errors: &mut Vec<syn::Error>) -> Self {
        let sig = &item.sig;
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.push(syn::Error::new(
                sig.generics.span(),
                "a route handler cannot be generic: the server calls it with concrete types",
            ));
        }
        if let Some(variadic) = &sig.variadic {
            errors.push(syn::Error::new(variadic.span(), "a route handler cannot be variadic"));
        }
        if let Some(token) = &sig.unsafety {
            errors.push(syn::Error::new(token.span, "a route handler cannot be `unsafe fn`"));
        }
        let mut params = Vec::new();
        for arg in &sig.inputs {
            match arg {
                FnArg::Receiver(receiver) => errors.push(syn::Error::new(
                    receiver.span(),
                    "a route handler is a free function: it cannot take `self`",
                )),
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        params.push(Param { arg, ident: &pat.ident, ty: &typed.ty })
                    }
                    other => errors.push(syn::Error::new(
                        other.span(),
                        "name this parameter with a plain identifier: it is matched to a route group or an extractor by name",
                    )),
                },
            }
        }
        Handler { item, params }
    }

    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }

    /// The span errors about the return type point at.
    pub(crate) fn output_span(&self) -> proc_macro2::Span {
        match &self.item.sig.output {
            ReturnType::Default => self.item.sig.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        }
    }
}

/// `T` for `Option<T>` (by the last path segment, as written).
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// The name of a plain path type without generics (`u64`, `String`, `std::string::String`).
pub(crate) fn simple_name(ty: &Type) -> Option<String> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    matches!(last.arguments, PathArguments::None).then(|| last.ident.to_string())
}
