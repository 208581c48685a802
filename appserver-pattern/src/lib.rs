//! Route patterns and method sets as both the `#[route]` macro and the appserver router
//! read them.
//!
//! The macro checks a pattern at compile time and the router compiles it at startup; both
//! call [`parse`], so the two can never disagree about what a pattern means. Likewise both
//! name methods through [`Methods`].
//!
//! A pattern is a regular expression matched against the whole request path, exactly as it
//! arrived (percent-encoded, so ASCII): it is implicitly anchored at both ends, and its
//! classes (`\w`, `\d`, `.`, `[^/]`) are ASCII/byte classes. Group text is percent-decoded
//! after matching, before it is parsed into a parameter.
//!
//! ```
//! let pattern = appserver_pattern::parse(r"/(?P<kind>\w+)/get/(?P<id>\d+)/").unwrap();
//! let names: Vec<&str> = pattern.groups().iter().map(|g| g.name()).collect();
//! assert_eq!(names, ["kind", "id"]);
//! assert!(pattern.groups()[1].matches_only(b"0123456789"));
//! ```

mod methods;

pub use methods::Methods;

use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::{self, Class, Hir, HirKind, Look};

pub use regex_syntax::Error;

/// A parsed route pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    hir: Hir,
    groups: Vec<Group>,
    literal_len: usize,
}

/// A named capture group of a [`Pattern`].
#[derive(Debug, Clone)]
pub struct Group {
    name: String,
    index: u32,
    source: String,
    always: bool,
    hir: Hir,
}

/// Parses `pattern` the way the router matches it.
///
/// Errors are the regex parser's own, with the position of the problem.
pub fn parse(pattern: &str) -> Result<Pattern, Box<Error>> {
    let ast = ast::parse::Parser::new().parse(pattern).map_err(|e| Box::new(e.into()))?;
    let hir = hir::translate::TranslatorBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .translate(pattern, &ast)
        .map_err(|e| Box::new(e.into()))?;

    let mut sources = Vec::new();
    group_sources(&ast, pattern, &mut sources);
    let mut always = Vec::new();
    mandatory_groups(&hir, &mut always);
    let mut groups = Vec::new();
    named_groups(&hir, &mut groups);
    let groups = groups
        .into_iter()
        .map(|(index, name, hir)| Group {
            source: sources.iter().find(|(n, _)| *n == name).map_or_else(String::new, |(_, s)| s.clone()),
            always: always.contains(&index),
            name,
            index,
            hir,
        })
        .collect();

    let literal_len = min_literal_len(&hir);
    let hir = Hir::concat(vec![Hir::look(Look::Start), hir, Hir::look(Look::End)]);
    Ok(Pattern { hir, groups, literal_len })
}

impl Pattern {
    /// The pattern anchored at both ends, ready to compile.
    pub fn hir(&self) -> &Hir {
        &self.hir
    }

    /// The named groups, in the order they open in the pattern.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// How many literal bytes every match of this pattern contains: the router tries more
    /// literal (more specific) patterns first.
    pub fn literal_len(&self) -> usize {
        self.literal_len
    }
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's capture index (0 is the whole match).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The group's body as written in the pattern, e.g. `\d+`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the group takes part in every match (it is not behind `?`, `*` or one arm
    /// of an alternation).
    pub fn always_matches(&self) -> bool {
        self.always
    }

    /// Whether the group can match the empty string.
    pub fn can_be_empty(&self) -> bool {
        self.hir.properties().minimum_len() == Some(0)
    }

    /// Whether every byte the group can match is one of `allowed`.
    pub fn matches_only(&self, allowed: &[u8]) -> bool {
        let mut seen = [false; 256];
        byte_set(&self.hir, &mut seen);
        (0..=255u8).all(|b| !seen[usize::from(b)] || allowed.contains(&b))
    }
}

fn group_sources(ast: &Ast, pattern: &str, out: &mut Vec<(String, String)>) {
    match ast {
        Ast::Group(group) => {
            if let ast::GroupKind::CaptureName { name, .. } = &group.kind {
                let span = group.ast.span();
                out.push((name.name.clone(), pattern[span.start.offset..span.end.offset].to_owned()));
            }
            group_sources(&group.ast, pattern, out);
        }
        Ast::Repetition(rep) => group_sources(&rep.ast, pattern, out),
        Ast::Alternation(alt) => alt.asts.iter().for_each(|a| group_sources(a, pattern, out)),
        Ast::Concat(cat) => cat.asts.iter().for_each(|a| group_sources(a, pattern, out)),
        _ => {}
    }
}

fn named_groups(hir: &Hir, out: &mut Vec<(u32, String, Hir)>) {
    match hir.kind() {
        HirKind::Capture(cap) => {
            if let Some(name) = &cap.name {
                out.push((cap.index, name.to_string(), (*cap.sub).clone()));
            }
            named_groups(&cap.sub, out);
        }
        HirKind::Repetition(rep) => named_groups(&rep.sub, out),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().for_each(|h| named_groups(h, out));
        }
        _ => {}
    }
}

/// Adds to `out` the capture indexes present in every match of `hir`.
fn mandatory_groups(hir: &Hir, out: &mut Vec<u32>) {
    match hir.kind() {
        HirKind::Capture(cap) => {
            out.push(cap.index);
            mandatory_groups(&cap.sub, out);
        }
        HirKind::Repetition(rep) if rep.min > 0 => mandatory_groups(&rep.sub, out),
        HirKind::Concat(subs) => subs.iter().for_each(|h| mandatory_groups(h, out)),
        HirKind::Alternation(subs) => {
            let mut arms = subs.iter().map(|h| {
                let mut arm = Vec::new();
                mandatory_groups(h, &mut arm);
                arm
            });
            if let Some(mut common) = arms.next() {
                for arm in arms {
                    common.retain(|i| arm.contains(i));
                }
                out.extend(common);
            }
        }
        _ => {}
    }
}

fn byte_set(hir: &Hir, seen: &mut [bool; 256]) {
    match hir.kind() {
        HirKind::Literal(hir::Literal(bytes)) => bytes.iter().for_each(|&b| seen[usize::from(b)] = true),
        HirKind::Class(Class::Bytes(class)) => {
            for r in class.ranges() {
                (r.start()..=r.end()).for_each(|b| seen[usize::from(b)] = true);
            }
        }
        HirKind::Class(Class::Unicode(class)) => {
            for r in class.ranges() {
                let (start, end) = (u32::from(r.start()), u32::from(r.end()));
                (start.min(0x80)..=end.min(0x7F)).for_each(|b| seen[b as usize] = true);
                if end >= 0x80 {
                    seen[0x80..].iter_mut().for_each(|s| *s = true);
                }
            }
        }
        HirKind::Repetition(rep) => byte_set(&rep.sub, seen),
        HirKind::Capture(cap) => byte_set(&cap.sub, seen),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().for_each(|h| byte_set(h, seen)),
        HirKind::Empty | HirKind::Look(_) => {}
    }
}

fn min_literal_len(hir: &Hir) -> usize {
    match hir.kind() {
        HirKind::Literal(hir::Literal(bytes)) => bytes.len(),
        HirKind::Capture(cap) => min_literal_len(&cap.sub),
        HirKind::Repetition(rep) if rep.min > 0 => min_literal_len(&rep.sub),
        HirKind::Concat(subs) => subs.iter().map(min_literal_len).sum(),
        HirKind::Alternation(subs) => subs.iter().map(min_literal_len).min().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn groups_and_their_sources() {
        let p = parse(r"/(?P<kind>\w+)/get/(?P<id>\d+)/(?:x(?P<opt>[a-z]))?").unwrap();
        let g = p.groups();
        assert_eq!(
            g.iter().map(|g| (g.name(), g.index(), g.source())).collect::<Vec<_>>(),
            [("kind", 1, r"\w+"), ("id", 2, r"\d+"), ("opt", 3, "[a-z]")]
        );
        assert!(g[0].always_matches() && g[1].always_matches() && !g[2].always_matches());
        assert!(g[1].matches_only(b"0123456789") && !g[0].matches_only(b"0123456789"));
        assert!(!g[0].can_be_empty());
    }

    #[test]
    fn alternation_groups_are_optional_unless_in_every_arm() {
        let p = parse(r"/(?:a(?P<x>\d)|b(?P<y>\d))").unwrap();
        assert!(p.groups().iter().all(|g| !g.always_matches()));
        let p = parse(r"/(?P<x>a|b)").unwrap();
        assert!(p.groups()[0].always_matches());
    }

    #[test]
    fn classes_are_ascii_and_literal_length_counts_fixed_text() {
        let p = parse(r"/(?P<w>\w+)").unwrap();
        assert!(p.groups()[0].matches_only(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"));
        assert_eq!(parse("/users/me").unwrap().literal_len(), 9);
        assert_eq!(parse(r"/users/(?P<id>[^/]+)").unwrap().literal_len(), 7);
    }

    #[test]
    fn errors_quote_the_parser() {
        let err = parse(r"/(?P<id>\d+").unwrap_err().to_string();
        assert!(err.contains("unclosed group"), "{err}");
    }
}
