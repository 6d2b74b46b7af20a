//! The layers, checked: the build refuses what this file cannot see, and this
//! file refuses what the build cannot.
//!
//! trio is built in layers (see `DESIGN.md`):
//!
//! * the **foundation** — `error.rs`, `time.rs` and the platform layer `sys/` —
//!   names nothing above it;
//! * the **core** (`core/`) alone knows the run loop. Its modules are private
//!   and its crate-internal items are `pub(in crate::core)`, so the compiler
//!   refuses any use of them from outside; what the rest of the crate may use is
//!   re-exported at the root of `core` and reaches users through the crate root
//!   and `trio::lowlevel`;
//! * the **toolkit** (sync, channels, networking, TLS, HTTP, threads, files,
//!   processes, signals, testing, several loops) is written against the public
//!   API only, as a user's own primitive would be.
//!
//! What the compiler cannot check is checked here: that no `pub(crate)` item
//! appears in the core (it would be a door the compiler keeps open), that only
//! the crate root and `lowlevel.rs` name `crate::core`, and only its root
//! exports, and that the core and the foundation name nothing above them.

use std::path::{Path, PathBuf};

const TOOLKIT: &[&str] = &[
    "abc",
    "channel",
    "compat",
    "conflict",
    "copy",
    "from_thread",
    "fs",
    "guide",
    "http",
    "loops",
    "net",
    "process",
    "report",
    "signal",
    "stapled",
    "stop",
    "sync",
    "testing",
    "tls",
    "to_thread",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code lines, numbered from 1: comments (and doc comments, whose
/// links may name any module) left out.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start().to_string()))
        .filter(|(_, l)| !l.starts_with("//"))
        .collect()
}

/// Whether `line` names the crate module `module` (`crate::module`, or
/// `module` inside a `use crate::{...}` group).
fn names(line: &str, module: &str) -> bool {
    let direct = format!("crate::{module}");
    let mut rest = line;
    while let Some(i) = rest.find(&direct) {
        let after = &rest[i + direct.len()..];
        if !after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return true;
        }
        rest = after;
    }
    if let Some(i) = line.find("crate::{") {
        let group = &line[i..];
        return group
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .any(|w| w == module || w.starts_with(&format!("{module}::")));
    }
    false
}

struct Report(Vec<String>);

impl Report {
    fn check(&mut self, ok: bool, path: &Path, line: usize, text: &str, rule: &str) {
        if !ok {
            self.0
                .push(format!("{}:{line}: {rule}\n    {text}", path.display()));
        }
    }
}

#[test]
fn each_layer_names_only_what_is_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "found only {} sources under {src:?}",
        files.len()
    );
    let mut report = Report(Vec::new());
    for path in &files {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let top = rel.split(['/', '.']).next().unwrap().to_string();
        let is_core = top == "core";
        let is_foundation = matches!(top.as_str(), "error" | "time" | "sys");
        let is_door = matches!(rel.as_str(), "lib.rs" | "lowlevel.rs");
        for (n, line) in code_lines(path) {
            if is_core {
                report.check(
                    !line.contains("pub(crate)"),
                    path,
                    n,
                    &line,
                    "the core's crate-internal items are pub(in crate::core), never pub(crate)",
                );
            }
            if is_core || is_foundation {
                for m in TOOLKIT {
                    report.check(
                        !names(&line, m),
                        path,
                        n,
                        &line,
                        &format!("the core and the foundation never name the toolkit (`{m}`)"),
                    );
                }
            }
            if is_foundation {
                report.check(
                    !names(&line, "core") && !names(&line, "lowlevel"),
                    path,
                    n,
                    &line,
                    "the foundation never names the core",
                );
            }
            if !is_core && !is_door {
                report.check(
                    !names(&line, "core"),
                    path,
                    n,
                    &line,
                    "outside the core, only the crate root and lowlevel.rs name it \
                     (use trio::lowlevel and the crate root)",
                );
            }
            if is_door {
                // `crate::core::{A, B}` or `crate::core::A;`, never a path into
                // one of the core's modules.
                let root_only = line.split("crate::core::").skip(1).all(|rest| {
                    rest.starts_with('{')
                        || rest
                            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .nth(1)
                            .is_some_and(|_| !rest.contains("::"))
                });
                report.check(
                    root_only,
                    path,
                    n,
                    &line,
                    "the crate root and lowlevel.rs re-export only the core's root exports",
                );
            }
        }
    }
    assert!(
        report.0.is_empty(),
        "layer rule broken:\n{}",
        report.0.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    assert!(names("use crate::core::wait::RawWait;", "core"));
    assert!(names("use crate::{core::wait, Error};", "core"));
    assert!(names("    crate::sync::Lock::new()", "sync"));
    assert!(!names("use crate::synchronize;", "sync"));
    assert!(!names("use crate::{Error, Result};", "core"));
}
