//! Code generation: the user's function unchanged, plus a hidden handler registered with
//! the runtime.

use crate::ast::{Handler, option_inner};
use crate::attr::Attr;
use crate::valid::{self, Binding};
use proc_macro2::TokenStream;
use quote::{ToTokens as _, format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let usage = "#[route] goes on a free function: `#[route(r\"/path\")] fn handler() -> T`";
    handler(syn::parse2::<Attr>(args), item, usage)
}

pub(crate) fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    let usage = "#[fallback] goes on a free function: `#[fallback] fn not_found(uri: Uri) -> T`";
    handler(syn::parse::Parser::parse2(Attr::fallback, args), item, usage)
}

/// The expansion of `#[route]` or `#[fallback]`, whose arguments parsed into `attr`.
fn handler(attr: syn::Result<Attr>, item: TokenStream, usage: &str) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let err = syn::Error::new_spanned(&item, usage);
            return with_errors(item, vec![err]);
        }
    };
    let mut errors = Vec::new();
    let attr = attr.map_err(|e| errors.push(e)).ok();
    let handler = Handler::from_fn(&item_fn, &mut errors);
    let checked = attr.as_ref().map(|attr| valid::check(attr, &handler, &mut errors));
    match (attr, checked) {
        (Some(attr), Some((bindings, names))) if errors.is_empty() => expand(&attr, &handler, &bindings, &names),
        _ => with_errors(quote!(#item_fn), errors),
    }
}

/// The user's item as written, so later errors and the IDE stay sane, plus every error.
pub(crate) fn with_errors(item: TokenStream, errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    });
    let errors = errors.map(|e| e.to_compile_error());
    quote!(#item #errors)
}

fn expand(attr: &Attr, handler: &Handler<'_>, bindings: &[Binding], names: &[String]) -> TokenStream {
    let item = handler.item;
    let name = &item.sig.ident;
    let name_str = name.to_string();
    // The pattern served: the scopes' patterns joined before the route's own.
    let pattern = syn::LitStr::new(&attr.joined(), attr.pattern.span());
    let methods = attr.methods.bits();

    let args: Vec<_> = (0..handler.params.len()).map(|i| format_ident!("__arg{}", i)).collect();
    // An async fn's extractors may be `FromRequestAsync`: each parameter is begun from the
    // request (a `Result`, or a future that owns what it read), then finished in order
    // inside the handler's future. A sync fn's are `FromRequest`, extracted at once.
    let asynchronous = handler.is_async();
    let extracts = handler.params.iter().zip(bindings).map(|(param, binding)| {
        let ty = param.ty;
        let try_ = (!asynchronous).then(|| quote!(?));
        match binding {
            Binding::Group { slot, optional: false } => {
                let group = &names[*slot];
                quote_spanned!(ty.span()=> ::appserver::__private::param::<#ty>(__request, #slot, #group) #try_)
            }
            Binding::Group { slot, optional: true } => {
                let (group, inner) = (&names[*slot], option_inner(ty).unwrap_or(ty));
                quote_spanned!(ty.span()=> ::appserver::__private::optional_param::<#inner>(__request, #slot, #group) #try_)
            }
            Binding::Extractor if asynchronous => quote_spanned! {ty.span()=>
                (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().extract::<#ty>(__request)
            },
            Binding::Extractor => {
                quote_spanned!(ty.span()=> <#ty as ::appserver::FromRequest>::from_request(__request)?)
            }
        }
    });
    let extracts: Vec<_> = extracts.collect();
    let finishes = args.iter().zip(bindings).map(|(arg, binding)| {
        let wait = matches!(binding, Binding::Extractor).then(|| quote!(.await));
        quote! {
            let #arg = match #arg #wait {
                ::core::result::Result::Ok(__value) => __value,
                ::core::result::Result::Err(__error) => return ::appserver::IntoResponse::into_response(__error),
            };
        }
    });
    let finishes: Vec<_> = match asynchronous {
        true => finishes.collect(),
        false => Vec::new(),
    };

    // The scopes' guards: extractors run before the parameters, their values dropped.
    let guard_names: Vec<_> = (0..attr.guards.len()).map(|i| format_ident!("__guard{}", i)).collect();
    let guard_begins = attr.guards.iter().zip(&guard_names).map(|(ty, name)| match asynchronous {
        true => quote_spanned! {ty.span()=>
            let #name = (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().extract::<#ty>(__request);
        },
        false => quote_spanned!(ty.span()=> let #name = <#ty as ::appserver::FromRequest>::from_request(__request)?;),
    });
    let guard_begins: Vec<_> = guard_begins.collect();
    let guard_finishes: Vec<_> = guard_names
        .iter()
        .filter(|_| asynchronous)
        .map(|name| {
            quote! {
                if let ::core::result::Result::Err(__error) = #name.await {
                    return ::appserver::IntoResponse::into_response(__error);
                }
            }
        })
        .collect();
    let guard_states = attr.guards.iter().map(|ty| {
        quote_spanned! {ty.span()=> {
            fn __appserver_guard_state() -> ::core::option::Option<(::core::any::TypeId, &'static str)> {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().required::<#ty>()
            }
            __appserver_guard_state
        }}
    });

    // The types of the guards and the extractor parameters, in the order they run.
    let extractor_types = || {
        let params = handler.params.iter().zip(bindings);
        attr.guards.iter().chain(params.filter(|(_, b)| matches!(b, Binding::Extractor)).map(|(p, _)| p.ty))
    };

    // The role of the bearer token the first extractor or guard that takes one takes.
    let bearers = extractor_types().map(|ty| match asynchronous {
        true => quote_spanned! {ty.span()=>
            .or((&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().bearer::<#ty>())
        },
        false => quote_spanned!(ty.span()=> .or(<#ty as ::appserver::FromRequest>::BEARER)),
    });

    // The request headers the extractors and guards read, for the OpenAPI document.
    let headers = extractor_types().map(|ty| match asynchronous {
        true => quote_spanned! {ty.span()=>
            (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().header::<#ty>()
        },
        false => quote_spanned!(ty.span()=> <#ty as ::appserver::FromRequest>::HEADER),
    });

    // Extractors that read no body also run before the body is read, so that a request
    // they refuse (a missing token) is refused without reading it.
    let prechecks = extractor_types().map(|ty| match asynchronous {
        true => quote_spanned! {ty.span()=>
            (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().precheck::<#ty>(__request)?;
        },
        false => quote_spanned!(ty.span()=> <#ty as ::appserver::FromRequest>::__precheck(__request)?;),
    });
    let head = attr.no_head.is_none();
    let max_body_bytes = match &attr.max_body_bytes {
        Some(limit) => {
            quote_spanned!(limit.span()=> ::core::option::Option::Some({ let __limit: usize = #limit; __limit }))
        }
        None => quote!(::core::option::Option::None),
    };
    // What the extractors take beyond the request, the most of them.
    let takes = handler.params.iter().zip(bindings).filter(|(_, b)| matches!(b, Binding::Extractor)).map(|(p, _)| {
        let ty = p.ty;
        match asynchronous {
            true => quote_spanned! {ty.span()=>
                (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().takes::<#ty>()
            },
            false => quote_spanned!(ty.span()=> <#ty as ::appserver::FromRequest>::__TAKES),
        }
    });

    let state_fns: Vec<_> = (0..handler.params.len()).map(|i| format_ident!("__appserver_state{}", i)).collect();
    let extractor_params =
        || handler.params.iter().zip(bindings).zip(&state_fns).filter(|((_, b), _)| matches!(b, Binding::Extractor));
    let extractors = extractor_params()
        .map(|((p, _), state)| {
            let ty = p.ty;
            match asynchronous {
                true => quote!(#state),
                false => quote_spanned!(ty.span()=> <#ty as ::appserver::FromRequest>::__required_state),
            }
        })
        .chain(guard_states);
    let state_defs = extractor_params().filter(|_| asynchronous).map(|((p, _), state)| {
        let ty = p.ty;
        quote_spanned! {ty.span()=>
            fn #state() -> ::core::option::Option<(::core::any::TypeId, &'static str)> {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                (&&::appserver::__private::Extract::<#ty>::new()).__appserver_extractor().required::<#ty>()
            }
        }
    });

    // Each parameter as the route table shows it: its name, its type as written, and
    // whether a group of the pattern gives it; and for the OpenAPI document, the JSON
    // Schema of its type and of the answer's, picked by autoref specialization.
    let schema_fns: Vec<_> = (0..handler.params.len()).map(|i| format_ident!("__appserver_schema{}", i)).collect();
    let parameters = handler.params.iter().zip(bindings).zip(&schema_fns).map(|((param, binding), schema)| {
        let name = param.ident.to_string();
        let ty = type_text(param.ty);
        let group = !matches!(binding, Binding::Extractor);
        quote!(::appserver::__private::Parameter { name: #name, ty: #ty, group: #group, schema: #schema })
    });
    let probe = |ty: TokenStream| {
        quote! {
            #[allow(unused_imports)]
            use ::appserver::__private::{SchemaNone as _, SchemaOfNested as _, SchemaOfValue as _, SchemaOfWrapped as _};
            (&&&&::appserver::__private::SchemaOf::<#ty>::new()).__appserver_schema()(__generator)
        }
    };
    let schemas = handler.params.iter().zip(&schema_fns).map(|(param, schema)| {
        let body = probe(param.ty.to_token_stream());
        quote! {
            fn #schema(__generator: &mut dyn ::core::any::Any) -> ::core::option::Option<::appserver::__private::JsonValue> {
                #body
            }
        }
    });
    let output = match &item.sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    // A return type with `impl Trait` in it (`Sse<impl Stream<..>>`) cannot be named in a
    // probe: its answer has no schema.
    let response_body = match has_impl(output.clone()) {
        true => quote!(::core::option::Option::None),
        false => probe(output.clone()),
    };
    // What the answer is (status, media type), from its type; with `impl Trait` in it, from
    // the type's name: an event stream (`Sse<impl Stream<..>>`), else whatever run time says.
    let answer = match has_impl(output.clone()) {
        true => match outer_name(&item.sig.output).as_deref() {
            Some("Sse") => quote!(::appserver::__private::AnswerDoc::EVENT_STREAM),
            _ => quote!(::appserver::__private::AnswerDoc::ANY),
        },
        false => quote! {{
            #[allow(unused_imports)]
            use ::appserver::__private::{AnswerDocumented as _, AnswerPlain as _, AnswerWrapped as _};
            (&&&&::appserver::__private::AnswerOf::<#output>::new()).__appserver_answer()()
        }},
    };

    let respond = quote_spanned! {handler.output_span()=>
        #[allow(unused_imports)]
        use ::appserver::__private::{
            ViaErrorResponse as _, ViaIntoError as _, ViaIntoResponse as _, ViaParts as _, ViaResult as _,
            ViaSerialize as _, ViaValue as _,
        };
        match (&&::appserver::__private::Returned::of(&__value)).__appserver_result().split(__value) {
            ::core::result::Result::Ok(__value) => {
                (&&&::appserver::__private::Returned::of(&__value)).__appserver_respond().respond(__value)
            }
            ::core::result::Result::Err(__error) => {
                (&&::appserver::__private::Returned::of(&__error)).__appserver_error().respond(__error)
            }
        }
    };
    let reply = if handler.is_async() {
        quote! {
            ::appserver::__private::Reply::Pending(::std::boxed::Box::pin(async move {
                #( #guard_finishes )*
                #( #finishes )*
                let __value = #name(#(#args),*).await;
                #respond
            }))
        }
    } else if attr.blocking.is_some() {
        quote! {
            ::appserver::__private::Reply::Blocking(::std::boxed::Box::new(move || {
                let __value = #name(#(#args),*);
                #respond
            }))
        }
    } else {
        quote! {
            ::appserver::__private::Reply::Ready({
                let __value = #name(#(#args),*);
                #respond
            })
        }
    };

    let route = quote! {
        ::appserver::__private::Route {
            name: ::core::concat!(::core::module_path!(), "::", #name_str),
            pattern: #pattern,
            methods: ::appserver::__private::Methods::from_bits(#methods),
            params: &[#(#names),*],
            file: ::core::file!(),
            line: ::core::line!(),
            extractors: &[#(#extractors),*],
            parameters: &[#(#parameters),*],
            bearer: __appserver_bearer,
            headers: __appserver_headers,
            response: __appserver_response,
            answer: __appserver_answer,
            head: #head,
            max_body_bytes: #max_body_bytes,
            takes: __appserver_takes,
            precheck: __appserver_precheck,
            handler: __appserver_handler,
        }
    };
    // A fallback is a route wrapped in `Fallback`, collected apart from the routes.
    let registered = match attr.fallback {
        true => quote!(::appserver::__private::Fallback(#route)),
        false => route,
    };

    quote! {
        #item

        const _: () = {
            #( #[allow(clippy::all)] #schemas )*

            #[allow(clippy::all)]
            fn __appserver_answer() -> ::appserver::__private::AnswerDoc {
                #answer
            }

            #[allow(clippy::all)]
            fn __appserver_response(__generator: &mut dyn ::core::any::Any) -> ::core::option::Option<::appserver::__private::JsonValue> {
                #response_body
            }

            #( #[allow(clippy::all)] #state_defs )*

            #[allow(unused_variables, clippy::all)]
            fn __appserver_handler(
                __request: &::appserver::__private::Request,
            ) -> ::core::result::Result<::appserver::__private::Reply, ::appserver::Error> {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                #( #guard_begins )*
                #( let #args = #extracts; )*
                ::core::result::Result::Ok(#reply)
            }

            #[allow(clippy::all)]
            fn __appserver_takes() -> ::appserver::__private::Takes {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                ::appserver::__private::Takes::Request #( .max(#takes) )*
            }

            #[allow(clippy::all)]
            fn __appserver_bearer() -> ::core::option::Option<&'static str> {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                ::core::option::Option::None #( #bearers )*
            }

            #[allow(clippy::all)]
            fn __appserver_headers() -> ::std::vec::Vec<::appserver::HeaderDoc> {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                ::appserver::__private::headers(&[#( #headers ),*])
            }

            #[allow(unused_variables, clippy::all)]
            fn __appserver_precheck(
                __request: &::appserver::__private::Request,
            ) -> ::core::result::Result<(), ::appserver::Error> {
                #[allow(unused_imports)]
                use ::appserver::__private::{ViaAsyncExtractor as _, ViaSyncExtractor as _};
                #( #prechecks )*
                ::core::result::Result::Ok(())
            }

            ::appserver::__private::inventory::submit! {
                #registered
            }
        };
    }
}

/// The name of a return type's outer type (`Sse` of `Sse<impl Stream<..>>`), through a
/// `Result` (`Sse` of `Result<Sse<impl Stream<..>>, Error>`).
fn outer_name(output: &syn::ReturnType) -> Option<String> {
    let syn::ReturnType::Type(_, ty) = output else { return None };
    let mut ty = &**ty;
    loop {
        let syn::Type::Path(path) = ty else { return None };
        let segment = path.path.segments.last()?;
        let ok = match (&segment.arguments, segment.ident == "Result") {
            (syn::PathArguments::AngleBracketed(arguments), true) => arguments.args.first(),
            _ => return Some(segment.ident.to_string()),
        };
        let Some(syn::GenericArgument::Type(inner)) = ok else { return Some(segment.ident.to_string()) };
        ty = inner;
    }
}

/// Whether `tokens` have an `impl` in them, at any depth.
fn has_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => has_impl(group.stream()),
        _ => false,
    })
}

/// `ty` as a person writes it: `Option<Json<Person>>`, not `Option < Json < Person > >`.
fn type_text(ty: &syn::Type) -> String {
    let text = quote!(#ty).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let (before, after) = (out.chars().last(), chars.peek().copied());
        let glued = matches!(before, Some('<' | ':' | '&' | '(' | '['))
            || matches!(after, Some('<' | '>' | ':' | ',' | ')' | ']'));
        if c != ' ' || !glued {
            out.push(c);
        }
    }
    out
}
