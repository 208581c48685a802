//! The layers of every crate of the workspace: no import cycle between modules, at any
//! level (between the files of a folder, between folders), and the runtime's folders
//! import only downwards: `serve` → `routing` → `handler`, `serve` → `config`.
//!
//! Each module's references are read from its source: `use` trees and every path that
//! starts with `crate::`, `super::` or `self::` (inside macros too), resolved through the
//! modules and re-exports they name. A reference from module `a::x` to `b::y` is an edge
//! `a → b` between the children of their common parent; each such graph must be acyclic.
//!
//! `.ci/run` runs it on its own, to print what it checked:
//! `cargo test -p appserver-tests --test layers -- --nocapture`.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from its crate's root.
type ModPath = Vec<String>;

/// What one crate's sources say: its modules, the names its `use` items bring in, and the
/// paths each module refers to.
#[derive(Default)]
struct Crate {
    modules: BTreeSet<ModPath>,
    /// `(module, name)` → the path that `use` gives it, as written in that module.
    aliases: BTreeMap<(ModPath, String), Vec<String>>,
    /// `(module, path as written)`.
    references: Vec<(ModPath, Vec<String>)>,
}

impl Crate {
    fn load(root: &Path) -> Crate {
        let mut krate = Crate::default();
        krate.file(root, Vec::new(), root.parent().unwrap().to_owned());
        krate
    }

    /// Reads the module at `file`, whose child modules' files are in `dir`.
    fn file(&mut self, file: &Path, module: ModPath, dir: PathBuf) {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        self.modules.insert(module.clone());
        self.items(&parsed.items, &module, file, &dir);
    }

    fn items(&mut self, items: &[syn::Item], module: &ModPath, file: &Path, dir: &Path) {
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let child: ModPath = module.iter().cloned().chain([name.clone()]).collect();
                    match &m.content {
                        Some((_, items)) => {
                            self.modules.insert(child.clone());
                            self.items(items, &child, file, &dir.join(&name));
                        }
                        None => {
                            let (path, child_dir) = module_file(m, file, dir, &name);
                            self.file(&path, child, child_dir);
                        }
                    }
                }
                syn::Item::Use(u) => self.use_tree(module, Vec::new(), &u.tree),
                other => self.scan(module, other.to_token_stream()),
            }
        }
    }

    /// Records the leaves of a `use` tree under `prefix`, as references and as names.
    fn use_tree(&mut self, module: &ModPath, mut prefix: Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(module, prefix, &p.tree);
            }
            syn::UseTree::Name(n) => self.use_leaf(module, prefix, n.ident.to_string(), None),
            syn::UseTree::Rename(r) => self.use_leaf(module, prefix, r.ident.to_string(), Some(r.rename.to_string())),
            syn::UseTree::Glob(_) => self.references.push((module.clone(), prefix)),
            syn::UseTree::Group(g) => g.items.iter().for_each(|tree| self.use_tree(module, prefix.clone(), tree)),
        }
    }

    fn use_leaf(&mut self, module: &ModPath, mut path: Vec<String>, name: String, rename: Option<String>) {
        // `use a::b::{self}` names `b`.
        let alias = rename.unwrap_or_else(|| match name.as_str() {
            "self" => path.last().cloned().unwrap_or_default(),
            _ => name.clone(),
        });
        if name != "self" {
            path.push(name);
        }
        self.aliases.insert((module.clone(), alias), path.clone());
        self.references.push((module.clone(), path));
    }

    /// Records every path in `tokens` that starts with `crate`, `super` or `self`.
    fn scan(&mut self, module: &ModPath, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan(module, group.stream());
                    i += 1;
                }
                TokenTree::Ident(ident) if matches!(ident.to_string().as_str(), "crate" | "super" | "self") => {
                    let mut path = vec![ident.to_string()];
                    let mut j = i + 1;
                    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(next)) =
                        (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        match next {
                            TokenTree::Ident(ident) => path.push(ident.to_string()),
                            // `crate::{a, b}` in a macro: each branch.
                            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                                self.scan(module, group.stream());
                                break;
                            }
                            _ => break,
                        }
                        j += 3;
                    }
                    if path.len() > 1 {
                        self.references.push((module.clone(), path));
                    }
                    i = j.max(i + 1);
                }
                _ => i += 1,
            }
        }
    }

    /// The module that `path`, written in `module`, refers to, and whether the whole path
    /// names that module (not an item in it); `None` for another crate.
    fn resolve(&self, module: &ModPath, path: &[String], depth: usize) -> Option<(ModPath, bool)> {
        let first = path.first()?.as_str();
        let relative = !matches!(first, "crate" | "self" | "super");
        let (mut at, mut rest): (ModPath, &[String]) = match first {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (module.clone(), &path[1..]),
            "super" => {
                let supers = path.iter().take_while(|s| *s == "super").count();
                (module[..module.len().saturating_sub(supers)].to_vec(), &path[supers..])
            }
            _ => (module.clone(), path),
        };
        let mut leading = true;
        while let Some(segment) = rest.first() {
            let child: ModPath = at.iter().cloned().chain([segment.clone()]).collect();
            if self.modules.contains(&child) {
                at = child;
            } else if let Some(target) = self.aliases.get(&(at.clone(), segment.clone())) {
                if depth > 16 || (leading && relative && target.first() == Some(segment)) {
                    return None; // `use http;`: another crate.
                }
                let (resolved, whole) = self.resolve(&at, target, depth + 1)?;
                if !whole {
                    return Some((resolved, false)); // An item of that module.
                }
                at = resolved;
            } else if leading && relative {
                return None; // Another crate, or a name of the prelude.
            } else {
                return Some((at, false));
            }
            rest = &rest[1..];
            leading = false;
        }
        Some((at, true))
    }

    /// Per parent module, the edges between its children: `child → child` with one
    /// reference that makes it.
    fn graphs(&self) -> BTreeMap<ModPath, BTreeMap<(String, String), String>> {
        let mut graphs: BTreeMap<ModPath, BTreeMap<(String, String), String>> = BTreeMap::new();
        for (from, path) in &self.references {
            let Some((to, _)) = self.resolve(from, path, 0) else { continue };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // A module and its own ancestor or descendant.
            }
            let shown = format!("{} uses {}", show(from), path.join("::"));
            graphs
                .entry(from[..common].to_vec())
                .or_default()
                .entry((from[common].clone(), to[common].clone()))
                .or_insert(shown);
        }
        graphs
    }
}

/// The file of `mod name;` declared in `file` (whose children live in `dir`), and the
/// directory of its own children.
fn module_file(m: &syn::ItemMod, file: &Path, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let attribute = m.attrs.iter().find(|a| a.path().is_ident("path"));
    if let Some(syn::Meta::NameValue(value)) = attribute.map(|a| &a.meta) {
        if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(path), .. }) = &value.value {
            let path = file.parent().unwrap().join(path.value());
            let child_dir = path.parent().unwrap().to_owned();
            return (path, child_dir);
        }
    }
    let flat = dir.join(format!("{name}.rs"));
    match flat.exists() {
        true => (flat, dir.join(name)),
        false => (dir.join(name).join("mod.rs"), dir.join(name)),
    }
}

fn show(module: &[String]) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.join("::") }
}

/// The cycles of a graph: its strongly connected components of more than one node.
fn cycles(edges: &BTreeMap<(String, String), String>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let reaches = |from: &String, to: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            for (_, b) in edges.keys().filter(|(a, _)| a == node) {
                if b == to {
                    return true;
                }
                if seen.insert(b) {
                    stack.push(b);
                }
            }
        }
        false
    };
    let mut found: Vec<Vec<String>> = Vec::new();
    for node in &nodes {
        if found.iter().any(|c| c.contains(node)) {
            continue;
        }
        let component: Vec<String> =
            nodes.iter().filter(|other| reaches(node, other) && reaches(other, node)).map(|n| (*n).clone()).collect();
        if component.len() > 1 {
            found.push(component);
        }
    }
    found
}

/// Every crate root of the workspace's members: libraries, binaries, tests, examples,
/// benchmarks.
fn crate_roots(workspace: &Path) -> Vec<PathBuf> {
    let manifest: toml::Table = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap().parse().unwrap();
    let members = manifest["workspace"]["members"].as_array().unwrap();
    let mut roots = Vec::new();
    for member in members {
        let dir = workspace.join(member.as_str().unwrap());
        let manifest: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
        let declared = |key: &str| -> Vec<PathBuf> {
            let targets = match manifest.get(key) {
                Some(toml::Value::Table(target)) => vec![target.clone()],
                Some(toml::Value::Array(targets)) => targets.iter().filter_map(|t| t.as_table().cloned()).collect(),
                _ => Vec::new(),
            };
            targets.iter().filter_map(|t| t.get("path")?.as_str().map(|p| dir.join(p))).collect()
        };
        let listed = |sub: &str| -> Vec<PathBuf> {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { return Vec::new() };
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "rs")).collect()
        };
        roots.extend(["lib", "bin", "example", "test", "bench"].iter().flat_map(|key| declared(key)));
        roots.extend(["src/lib.rs", "src/main.rs"].iter().map(|f| dir.join(f)).filter(|p| p.exists()));
        roots.extend(["src/bin", "tests", "examples", "benches"].iter().flat_map(|sub| listed(sub)));
    }
    roots.sort();
    roots.dedup();
    roots
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let mut problems = Vec::new();
    let mut checked = 0;
    for root in crate_roots(&workspace) {
        let krate = Crate::load(&root);
        let graphs = krate.graphs();
        let edges: usize = graphs.values().map(BTreeMap::len).sum();
        let before = problems.len();
        for (parent, edges) in &graphs {
            for cycle in cycles(edges) {
                let shown: Vec<&String> = edges
                    .iter()
                    .filter(|((a, b), _)| cycle.contains(a) && cycle.contains(b))
                    .map(|(_, reference)| reference)
                    .collect();
                problems.push(format!(
                    "{}: an import cycle between the modules {:?} of {}: {}",
                    root.strip_prefix(&workspace).unwrap().display(),
                    cycle,
                    show(parent),
                    shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
                ));
            }
        }
        let cycles = match problems.len() - before {
            0 => "no cycle".to_owned(),
            n => format!("{n} cycles (below)"),
        };
        println!(
            "{}: {} modules, {} edges between sibling modules, {cycles}",
            root.strip_prefix(&workspace).unwrap().display(),
            krate.modules.len(),
            edges,
        );
        checked += 1;
    }
    assert!(checked >= 10, "the workspace's crates were not found ({checked})");
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_runtime_folders_import_only_downwards() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let krate = Crate::load(&workspace.join("appserver/src/lib.rs"));
    let allowed: &[(&str, &[&str])] = &[
        ("handler", &[]),
        ("config", &[]),
        ("routing", &["handler"]),
        ("serve", &["config", "routing", "handler"]),
        ("__private", &["handler", "routing"]),
        // The public `appserver::sse` names what `handler` defines.
        ("sse", &["handler"]),
        ("ws", &["handler"]),
    ];
    let graphs = krate.graphs();
    let top = graphs.get(&Vec::new()).cloned().unwrap_or_default();
    let mut wrong = Vec::new();
    for ((from, to), reference) in &top {
        let may = allowed.iter().find(|(folder, _)| folder == from).map_or(&[][..], |(_, may)| *may);
        if !may.contains(&to.as_str()) {
            wrong.push(format!("{from} → {to} ({reference})"));
        }
        println!("appserver: {from} → {to}");
    }
    for folder in ["handler", "routing", "config", "serve"] {
        assert!(krate.modules.contains(&vec![folder.to_owned()]), "appserver has no folder `{folder}`");
    }
    // The check sees references: a known one is found.
    assert!(top.contains_key(&("serve".to_owned(), "config".to_owned())), "{top:?}");
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}
