//! `#[trio::main]` and `#[trio::test]`. Use them through the `trio` crate.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, ReturnType, Token, parse_macro_input};

/// Runs `async fn main` on a trio run loop. See `trio::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[trio::main] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let f = parse_macro_input!(item as ItemFn);
    if f.sig.asyncness.is_none() {
        return syn::Error::new_spanned(f.sig.fn_token, "#[trio::main] needs an `async fn`")
            .to_compile_error()
            .into();
    }
    let attrs = &f.attrs;
    let vis = &f.vis;
    let name = &f.sig.ident;
    let body = &f.block;
    let out = match &f.sig.output {
        ReturnType::Default => quote! {
            #(#attrs)*
            #vis fn #name() {
                let res = ::trio::Runtime::new().run(async move {
                    #body;
                    ::core::result::Result::Ok::<(), ::trio::Error>(())
                });
                if let ::core::result::Result::Err(e) = res {
                    eprintln!("Error: {e}");
                    let code = if e.kind() == ::trio::ErrorKind::Interrupted { 130 } else { 1 };
                    ::std::process::exit(code);
                }
            }
        },
        ReturnType::Type(_, ty) => quote! {
            #(#attrs)*
            #vis fn #name() -> #ty {
                ::trio::Runtime::new().run(async move #body)
            }
        },
    };
    out.into()
}

/// Runs an `async fn` test on a trio run loop. See `trio::test`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let metas = match parser.parse(args) {
        Ok(m) => m,
        Err(e) => return e.to_compile_error().into(),
    };
    let mut mock_clock = false;
    let mut autojump = false;
    let mut seed = quote!(::core::option::Option::None);
    for m in metas {
        match &m {
            Meta::Path(p) if p.is_ident("autojump") => autojump = true,
            Meta::Path(p) if p.is_ident("mock_clock") => mock_clock = true,
            Meta::NameValue(nv) if nv.path.is_ident("seed") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) => {
                    seed = quote!(::core::option::Option::Some(#i));
                }
                other => {
                    return syn::Error::new_spanned(other, "seed must be an integer literal")
                        .to_compile_error()
                        .into();
                }
            },
            other => {
                return syn::Error::new_spanned(
                    other,
                    "unknown option: expected `autojump`, `mock_clock` or `seed = N`",
                )
                .to_compile_error()
                .into();
            }
        }
    }
    let f = parse_macro_input!(item as ItemFn);
    if f.sig.asyncness.is_none() {
        return syn::Error::new_spanned(f.sig.fn_token, "#[trio::test] needs an `async fn`")
            .to_compile_error()
            .into();
    }
    let attrs = &f.attrs;
    let name = &f.sig.ident;
    let body = &f.block;
    let ret = match &f.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let (pat, ty) = match f.sig.inputs.len() {
        0 => (quote!(_clock), quote!(::trio::testing::MockClock)),
        1 => match &f.sig.inputs[0] {
            FnArg::Typed(pt) => {
                let p = &pt.pat;
                let t = &pt.ty;
                (quote!(#p), quote!(#t))
            }
            FnArg::Receiver(r) => {
                return syn::Error::new_spanned(r, "a test cannot take self")
                    .to_compile_error()
                    .into();
            }
        },
        _ => {
            return syn::Error::new_spanned(
                &f.sig.inputs,
                "a trio test takes no parameter, or one: the MockClock",
            )
            .to_compile_error()
            .into();
        }
    };
    let name_str = name.to_string();
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        fn #name() {
            ::trio::testing::__private::run_test(
                concat!(module_path!(), "::", #name_str),
                ::trio::testing::__private::TestConfig {
                    mock_clock: #mock_clock,
                    autojump: #autojump,
                    seed: #seed,
                },
                |#pat: #ty| async move { let out: #ret = async move #body.await; out },
            )
        }
    }
    .into()
}
