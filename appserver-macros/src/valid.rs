//! Compile-time route checking: every misuse visible in the attribute and signature.

use crate::ast::{Handler, option_inner, simple_name};
use crate::attr::Attr;
use appserver_pattern::Group;
use syn::ext::IdentExt;

/// How a parameter gets its value.
pub(crate) enum Binding {
    /// From the route group at this position of the route's parameter-name list.
    Group { slot: usize, optional: bool },
    /// From the request, through `FromRequest`.
    Extractor,
}

/// Which kind of number a parameter type parses, for the group check.
enum Number {
    Unsigned,
    Signed,
    Float,
}

impl Number {
    fn of(ty: &syn::Type) -> Option<Self> {
        Some(match simple_name(ty)?.as_str() {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => Number::Unsigned,
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => Number::Signed,
            "f32" | "f64" => Number::Float,
            _ => return None,
        })
    }

    /// Bytes its `FromStr` can accept, and a group body that only matches numbers.
    fn accepts(&self) -> (&'static [u8], &'static str) {
        match self {
            Number::Unsigned => (b"0123456789+", r"\d+"),
            Number::Signed => (b"0123456789+-", r"-?\d+"),
            Number::Float => (b"0123456789+-.eE", r"-?\d+(?:\.\d+)?"),
        }
    }
}

/// Types that only make sense as group parameters: a parameter of one of these whose name
/// is no group is a typo, not an extractor.
fn is_group_type(ty: &syn::Type) -> bool {
    let ty = option_inner(ty).unwrap_or(ty);
    Number::of(ty).is_some() || matches!(simple_name(ty).as_deref(), Some("String" | "bool" | "char"))
}

/// Checks the route; returns how each parameter is bound and the route's parameter names.
pub(crate) fn check(attr: &Attr, handler: &Handler<'_>, errors: &mut Vec<syn::Error>) -> (Vec<Binding>, Vec<String>) {
    if let (Some(blocking), Some(token)) = (&attr.blocking, &handler.item.sig.asyncness) {
        let mut err = syn::Error::new(
            blocking.span(),
            "`blocking` is for a sync fn that blocks (sleeps, file I/O, long computations): it runs on the blocking pool",
        );
        err.combine(syn::Error::new(
            token.span,
            "an async fn must not block: remove `blocking`, or make this a sync fn",
        ));
        errors.push(err);
    }
    let lit = &attr.pattern;
    let own = lit.value();
    if own.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        errors.push(syn::Error::new(
            lit.span(),
            format!("a route pattern matches the whole path, which starts with `/`: write \"/{own}\""),
        ));
    }
    // The groups each scope gives, by scope; a route's own group of the same name is an error.
    let scope_groups: Vec<(&syn::LitStr, Vec<String>)> = attr
        .scopes
        .iter()
        .map(|scope| {
            let names = appserver_pattern::parse(&scope.value())
                .map(|p| p.groups().iter().map(|g| g.name().to_owned()).collect())
                .unwrap_or_default();
            (scope, names)
        })
        .collect();
    if let Ok(route) = appserver_pattern::parse(&own) {
        for group in route.groups() {
            if let Some((scope, _)) = scope_groups.iter().find(|(_, names)| names.iter().any(|n| n == group.name())) {
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "group `{}` is a group of the scope {:?} too: rename the route's group",
                        group.name(),
                        scope.value()
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            return (Vec::new(), Vec::new());
        }
    }
    let source = attr.joined();
    let pattern = match appserver_pattern::parse(&source) {
        Ok(pattern) => pattern,
        Err(err) => {
            errors.push(syn::Error::new(lit.span(), format!("invalid route pattern:\n{err}")));
            return (Vec::new(), Vec::new());
        }
    };
    let groups = pattern.groups();
    let group_list = || match groups {
        [] if attr.fallback => {
            "a fallback has no groups, its parameters are extractors (`Uri`, `Method`, ...)".to_owned()
        }
        [] => "this route has no named groups".to_owned(),
        _ => format!(
            "the route's groups are {}",
            groups.iter().map(|g| format!("`{}`", g.name())).collect::<Vec<_>>().join(", ")
        ),
    };

    for group in groups {
        let scope = scope_groups.iter().find(|(_, names)| names.iter().any(|n| n == group.name()));
        if let (Some((scope, _)), false) = (scope, handler.params.iter().any(|p| p.ident.unraw() == group.name())) {
            errors.push(syn::Error::new(
                scope.span(),
                format!(
                    "`{fn_name}` is in this scope, whose group `{name}` it does not take: every route of the scope \
                     takes `{name}: T`; add it to `{fn_name}`",
                    fn_name = handler.item.sig.ident,
                    name = group.name(),
                ),
            ));
        } else if !handler.params.iter().any(|p| p.ident.unraw() == group.name()) {
            errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "route group `{name}` has no parameter: add `{name}: T` to the function, or make the group non-capturing: `(?:{body})`",
                    name = group.name(),
                    body = group.source(),
                ),
            ));
        }
    }

    let mut names = Vec::new();
    let bindings = handler
        .params
        .iter()
        .map(|param| {
            let Some(group) = groups.iter().find(|g| param.ident.unraw() == g.name()) else {
                if is_group_type(param.ty) && attr.fallback {
                    errors.push(syn::Error::new_spanned(
                        param.arg,
                        format!(
                            "`{}` cannot be a parameter of a fallback: it has no groups; its parameters are extractors (`Uri`, `Method`, `HeaderMap`, ...)",
                            param.ident
                        ),
                    ));
                } else if is_group_type(param.ty) {
                    errors.push(syn::Error::new_spanned(
                        param.arg,
                        format!(
                            "`{}` is not a group of this route: {}; name the parameter after a group, or add `(?P<{}>...)` to the pattern",
                            param.ident,
                            group_list(),
                            param.ident
                        ),
                    ));
                }
                return Binding::Extractor;
            };
            let inner = option_inner(param.ty);
            if inner.is_none() && !group.always_matches() {
                errors.push(syn::Error::new_spanned(
                    param.arg,
                    format!(
                        "group `{}` does not take part in every match of the pattern: declare the parameter as `Option<{}>`",
                        group.name(),
                        quote::ToTokens::to_token_stream(param.ty)
                    ),
                ));
            }
            if let Some(number) = Number::of(inner.unwrap_or(param.ty)) {
                check_number(param.arg, &number, group, errors);
            }
            names.push(group.name().to_owned());
            Binding::Group { slot: names.len() - 1, optional: inner.is_some() }
        })
        .collect();
    (bindings, names)
}

fn check_number(arg: &syn::FnArg, number: &Number, group: &Group, errors: &mut Vec<syn::Error>) {
    let (accepted, suggestion) = number.accepts();
    let problem = if !group.matches_only(accepted) {
        "can match text that is not a number"
    } else if group.can_be_empty() {
        "can match the empty string, which is not a number"
    } else {
        return;
    };
    errors.push(syn::Error::new_spanned(
        arg,
        format!(
            "group `{name}` is `{body}`, which {problem}: write the group as `(?P<{name}>{suggestion})`",
            name = group.name(),
            body = group.source(),
        ),
    ));
}
