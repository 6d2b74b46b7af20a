//! `#[trio::main]` and `#[trio::test]`. Use them through the `trio` crate.

use proc_macro::TokenStream;
use quote::{quote, quote_spanned};
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
    // The result goes to `trio::lowlevel::report_main_result`: Display and
    // causes for an error (not Rust's Debug dump), status 130 after Ctrl-C.
    let out = match &f.sig.output {
        ReturnType::Default => quote! {
            #(#attrs)*
            #vis fn #name() -> ::std::process::ExitCode {
                let result = ::trio::Runtime::new().run(async move {
                    #body;
                    ::core::result::Result::Ok::<(), ::trio::Error>(())
                });
                ::trio::lowlevel::report_main_result(result)
            }
        },
        ReturnType::Type(_, ty) => quote! {
            #(#attrs)*
            #vis fn #name() -> ::std::process::ExitCode {
                let result: #ty = ::trio::Runtime::new().run(async move #body);
                ::trio::lowlevel::report_main_result(result)
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
    let mut grace = quote!(::core::option::Option::Some(
        ::trio::testing::__private::CHANNEL_DEADLOCK_GRACE
    ));
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
            Meta::NameValue(nv) if nv.path.is_ident("channel_deadlock_grace_secs") => {
                match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(i), ..
                    }) => {
                        grace = match i.base10_parse::<u64>() {
                            Ok(0) => quote!(::core::option::Option::None),
                            Ok(_) => quote!(::core::option::Option::Some(
                                ::core::time::Duration::from_secs(#i)
                            )),
                            Err(e) => return e.to_compile_error().into(),
                        };
                    }
                    other => {
                        return syn::Error::new_spanned(
                            other,
                            "channel_deadlock_grace_secs must be an integer literal (0: off)",
                        )
                        .to_compile_error()
                        .into();
                    }
                }
            }
            other => {
                return syn::Error::new_spanned(
                    other,
                    "unknown option: expected `autojump`, `mock_clock`, `seed = N` or \
                     `channel_deadlock_grace_secs = N`",
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
    // Spanned at the test's name, so that the main task's spawn location (which
    // `run_test` takes from its caller) is the user's test, not trio.
    let call = quote_spanned! {name.span()=>
        ::trio::testing::__private::run_test(
            concat!(module_path!(), "::", #name_str),
            ::trio::testing::__private::TestConfig {
                mock_clock: #mock_clock,
                autojump: #autojump,
                seed: #seed,
                channel_deadlock_grace: #grace,
            },
            |#pat: #ty| async move { let out: #ret = async move #body.await; out },
        )
    };
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        fn #name() {
            #call
        }
    }
    .into()
}
