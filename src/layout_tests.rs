//! The crate's shape, checked on every test run: no import cycle between the top-level modules of
//! `src/` (so the arrows of the architecture run one way), and no file over `LONG_FILE` lines of
//! non-test code without a reason written at its top.
//!
//! It reads the source text itself (no parser dependency): comments and literals are blanked,
//! then `crate::x`, `crate::{x, y}`, `$crate::x` and `super::` chains that climb to the crate
//! root are resolved to the top-level module they name, inline `mod m { … }` blocks included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles tolerated while work is under way; any cycle not listed here fails, and so does a
/// listed one that no longer exists (delete its line then). None today.
const KNOWN_CYCLES: &[&str] = &[];

/// Non-test lines a file may have before it needs a reason at its top.
const LONG_FILE: usize = 600;

/// The comment that gives the reason, in a file's first lines: `// long-file: why it is one file`.
const LONG_FILE_MARK: &str = "// long-file:";

/// Files over `LONG_FILE` that another part of issue 13 is splitting right now (a reason added
/// here would only conflict with that work). Delete each line when the file is split.
const BEING_SPLIT: &[&str] = &[];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted, as paths relative to `src/`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `text` with comments, strings and character literals replaced by spaces (newlines kept, so
/// line numbers still hold). Lifetimes stay: `'a` is not a character literal.
fn blank_comments_and_literals(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !prev_is_ident(&b, i) && raw_string_at(&b, i) {
            // r"…", r#"…"#: no escapes; ends at the quote followed by as many #.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && char_literal_len(&b, i).is_some() {
            let n = char_literal_len(&b, i).unwrap_or(1);
            for _ in 0..n {
                out.push(' ');
            }
            i += n;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// `r` at `i` opens a raw string (`r"`, `r#"`, `r##"`…), not an identifier ending in r.
fn raw_string_at(b: &[char], i: usize) -> bool {
    let mut j = i + 1;
    while b.get(j) == Some(&'#') {
        j += 1;
    }
    b.get(j) == Some(&'"')
}

/// The length of the character literal at `i` (`'x'`, `'\n'`, `'\u{1F600}'`), or None for a
/// lifetime or label (`'a`, `'static`).
fn char_literal_len(b: &[char], i: usize) -> Option<usize> {
    match b.get(i + 1)? {
        '\\' => {
            let mut j = i + 2;
            while j < b.len() && j < i + 14 {
                if b[j] == '\'' {
                    return Some(j - i + 1);
                }
                j += 1;
            }
            None
        }
        _ => (b.get(i + 2) == Some(&'\'')).then_some(3),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Semi,
    Comma,
    Other(char),
}

/// Identifiers, `::`, braces, `;` and `,`, each with its line; the rest as `Other`.
fn tokens(clean: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = clean.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(b[start..i].iter().collect()), line));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ';' => Tok::Semi,
                    ',' => Tok::Comma,
                    c => Tok::Other(c),
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// The first segment of each item of the `{ … }` group opening at `open`: `{a, b::c, d::{e}}`
/// gives a, b, d.
fn group_heads(toks: &[(Tok, usize)], open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = false;
    for (t, _) in &toks[open..] {
        match t {
            Tok::Open => {
                depth += 1;
                expect_head = depth == 1;
            }
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Comma if depth == 1 => expect_head = true,
            Tok::Ident(s) if expect_head => {
                heads.push(s.clone());
                expect_head = false;
            }
            _ => expect_head = false,
        }
    }
    heads
}

/// A reference from one file to a top-level module, with where it is.
#[derive(Clone, Debug)]
struct Reference {
    to: String,
    file: PathBuf,
    line: usize,
}

/// The top-level modules that `file` (module path `module`, relative to the crate root) names.
fn references(file: &Path, module: &[String], text: &str) -> Vec<Reference> {
    let toks = tokens(&blank_comments_and_literals(text));
    let mut out = Vec::new();
    // Inline `mod m { … }` blocks: (brace depth inside the block, name).
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut push = |names: Vec<String>, line: usize| {
        for to in names {
            out.push(Reference { to, file: file.to_path_buf(), line });
        }
    };
    let mut i = 0;
    while i < toks.len() {
        let (t, line) = &toks[i];
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(name), Some((Tok::Open, _))) = (ident(toks.get(i + 1)), toks.get(i + 2)) {
                    inline.push((depth + 1, name.to_string()));
                }
            }
            Tok::Ident(kw) if kw == "crate" && toks.get(i + 1).is_some_and(|(t, _)| *t == Tok::PathSep) => {
                let after_sep = i + 2;
                match toks.get(after_sep) {
                    Some((Tok::Ident(name), _)) => push(vec![name.clone()], *line),
                    Some((Tok::Open, _)) => push(group_heads(&toks, after_sep), *line),
                    _ => {}
                }
            }
            // A `super::` chain at the start of a path: does it climb to the root?
            Tok::Ident(kw) if kw == "super" && !(i > 0 && toks[i - 1].0 == Tok::PathSep) => {
                let mut j = i;
                let mut climbs = 0;
                while ident(toks.get(j)) == Some("super") && toks.get(j + 1).is_some_and(|(t, _)| *t == Tok::PathSep) {
                    climbs += 1;
                    j += 2;
                }
                if climbs > 0 && climbs == module.len() + inline.len() {
                    match toks.get(j) {
                        Some((Tok::Ident(name), _)) => push(vec![name.clone()], *line),
                        Some((Tok::Open, _)) => push(group_heads(&toks, j), *line),
                        _ => {}
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The module path of a file under `src/`: `a.rs` and `a/mod.rs` are `[a]`, `a/b.rs` is `[a, b]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" && stem != "main" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// `mod x;` declared at the top of `lib.rs`: the top-level modules.
fn top_level_modules(lib: &str) -> BTreeSet<String> {
    let toks = tokens(&blank_comments_and_literals(lib));
    let mut depth = 0;
    let mut out = BTreeSet::new();
    for (i, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => depth -= 1,
            Tok::Ident(kw) if kw == "mod" && depth == 0 => {
                if let (Some(name), Some((Tok::Semi, _))) = (ident(toks.get(i + 1)), toks.get(i + 2)) {
                    out.insert(name.to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// Edges between top-level modules, each with the first reference that makes it.
fn module_graph() -> BTreeMap<String, BTreeMap<String, Reference>> {
    let src = src_dir();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let tops = top_level_modules(&lib);
    assert!(tops.len() > 5, "found only {tops:?} in src/lib.rs");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, Reference>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap_or(&path).to_path_buf();
        let module = module_path(&rel);
        // The crate root (lib.rs) declares the modules; main.rs is the binary's own crate.
        let Some(from) = module.first().filter(|m| tops.contains(*m)) else { continue };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for r in references(&rel, &module, &text) {
            if tops.contains(&r.to) && r.to != *from {
                graph.entry(from.clone()).or_default().entry(r.to.clone()).or_insert(r);
            }
        }
    }
    graph
}

/// Every elementary cycle, each written from its smallest module: `a -> b -> a`.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, Reference>>) -> Vec<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeMap<String, Reference>>,
        start: &str,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        // A bound, so a graph gone wrong fails with a list rather than running for ever.
        if out.len() > 10_000 {
            return;
        }
        let Some(cur) = path.last().cloned() else { return };
        for next in graph.get(&cur).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                out.push(path.clone());
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut out);
    }
    out
}

fn describe(cycle: &[String]) -> String {
    let mut names = cycle.to_vec();
    names.push(cycle[0].clone());
    names.join(" -> ")
}

#[test]
fn no_import_cycles_between_top_level_modules() {
    let graph = module_graph();
    let found = cycles(&graph);
    let mut problems = Vec::new();
    for c in &found {
        let name = describe(c);
        if KNOWN_CYCLES.contains(&name.as_str()) {
            continue;
        }
        let mut why = format!("import cycle: {name}");
        for (k, from) in c.iter().enumerate() {
            let to = &c[(k + 1) % c.len()];
            if let Some(r) = graph.get(from).and_then(|m| m.get(to)) {
                why.push_str(&format!("\n    {from} -> {to}: src/{}:{}", r.file.display(), r.line));
            }
        }
        problems.push(why);
    }
    let names: Vec<String> = found.iter().map(|c| describe(c)).collect();
    for known in KNOWN_CYCLES {
        if !names.iter().any(|n| n == known) {
            problems.push(format!("{known}: no longer a cycle; delete it from KNOWN_CYCLES"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Files a parent declares as `#[cfg(test)] mod x;`: test code from the first line.
fn test_only_files(files: &[PathBuf], src: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (k, l) in lines.iter().enumerate() {
            if *l != "#[cfg(test)]" {
                continue;
            }
            let Some(decl) = lines.get(k + 1) else { continue };
            let name = decl
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(';'));
            let Some(name) = name else { continue };
            let rel = path.strip_prefix(src).unwrap_or(path);
            // `a.rs` and `a/mod.rs` keep children in `a/`; lib.rs in `src/`.
            let dir = match rel.file_name().and_then(|f| f.to_str()) {
                Some("mod.rs" | "lib.rs") => path.parent().map(Path::to_path_buf),
                _ => Some(path.with_extension("")),
            };
            if let Some(dir) = dir {
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

/// Lines before the first `#[cfg(test)]`: the code that ships.
fn non_test_lines(text: &str) -> usize {
    text.lines().take_while(|l| l.trim() != "#[cfg(test)]").count()
}

#[test]
fn long_files_say_why_at_their_top() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tests_only = test_only_files(&files, &src);
    let mut problems = Vec::new();
    for path in &files {
        if tests_only.contains(path) {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap_or(path).to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let n = non_test_lines(&text);
        let reason = text.lines().take(12).find_map(|l| l.trim().strip_prefix(LONG_FILE_MARK)).map(str::trim);
        if n > LONG_FILE && reason.is_none_or(str::is_empty) && !BEING_SPLIT.contains(&rel.as_str()) {
            problems.push(format!(
                "src/{rel}: {n} lines of non-test code; split it, or say why at its top ({LONG_FILE_MARK} …)"
            ));
        }
    }
    for listed in BEING_SPLIT {
        let text = std::fs::read_to_string(src.join(listed)).unwrap_or_default();
        if non_test_lines(&text) <= LONG_FILE {
            problems.push(format!("src/{listed}: split (or gone); delete it from BEING_SPLIT"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

mod tests {
    use super::*;

    fn refs(module: &[&str], text: &str) -> Vec<String> {
        let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        references(Path::new("x.rs"), &module, text).into_iter().map(|r| r.to).collect()
    }

    #[test]
    fn references_are_read_through_groups_supers_and_inline_modules() {
        assert_eq!(refs(&["a"], "use crate::b::C;\nfn f() { crate::c::g(); }"), ["b", "c"]);
        assert_eq!(refs(&["a"], "use crate::{b::X, c, d::{e, f}};"), ["b", "c", "d"]);
        // From a/x.rs, `super::` is `a`; `super::super::` is the root.
        assert_eq!(refs(&["a", "x"], "use super::y; use super::super::b;"), ["b"]);
        assert_eq!(refs(&["a"], "use super::{b, c::D};"), ["b", "c"]);
        // Inside `mod tests { … }` of a.rs, `super::` is `a` again.
        assert_eq!(refs(&["a"], "mod tests { use super::b; use super::super::c; }\nuse super::d;"), ["c", "d"]);
        // Comments, strings and character literals say nothing.
        assert_eq!(
            refs(
                &["a"],
                "// crate::b\n/* crate::c /* nested */ crate::d */ let s = \"crate::e\"; let r = r#\"crate::f\"#; let c = '{'; fn g<'x>() {}"
            ),
            Vec::<String>::new()
        );
        assert_eq!(refs(&["a"], "let c = '}'; mod t { use super::super::b; }"), ["b"]);
    }

    #[test]
    fn cycles_are_found_once_each_from_their_smallest_module() {
        let mut g: BTreeMap<String, BTreeMap<String, Reference>> = BTreeMap::new();
        let mut edge = |a: &str, b: &str| {
            let r = Reference { to: b.into(), file: PathBuf::from("x.rs"), line: 1 };
            g.entry(a.into()).or_default().insert(b.into(), r);
        };
        edge("a", "b");
        edge("b", "a");
        edge("b", "c");
        edge("c", "a");
        edge("c", "d");
        let found: Vec<String> = cycles(&g).iter().map(|c| describe(c)).collect();
        assert_eq!(found, ["a -> b -> a", "a -> b -> c -> a"]);
    }

    #[test]
    fn test_code_after_cfg_test_does_not_count() {
        assert_eq!(non_test_lines("a\nb\n#[cfg(test)]\nmod tests {}\n"), 2);
        assert_eq!(non_test_lines("a\nb\n"), 2);
    }
}
