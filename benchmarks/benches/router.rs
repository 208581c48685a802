//! Router lookups, captures included, on the GitHub API route set (the one public router
//! benchmarks use), beside matchit, the original server's linear scan of one regex per
//! route, and a `RegexSet` plus the winner's captures; then appserver's router at 10, 100
//! and 1000 routes, and the time to build it for 1000.
//!
//! Run with: cargo bench -p benchmarks --bench router

use appserver::__private::{Lookup, Reply, Request, Route, Router};
use appserver::Method;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const GITHUB: &str = include_str!("../github-routes.txt");

/// The route templates (`/repos/{p1}/{p2}`) and the lookup paths.
fn github() -> (Vec<&'static str>, Vec<&'static str>) {
    let (routes, lookups) = GITHUB.split_once("\n## lookups").unwrap();
    let lines = |text: &'static str| text.lines().filter(|l| l.starts_with('/')).collect::<Vec<_>>();
    (lines(routes), lines(lookups))
}

/// A template as a route pattern: each `{p}` a named group matching one segment's text.
fn pattern(template: &str) -> String {
    let mut pattern = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest.find('}').unwrap();
        pattern.push_str(&regex::escape(&rest[..open]));
        pattern.push_str(&format!("(?P<{}>[^/]+)", &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    pattern + &regex::escape(rest)
}

fn never(_: &Request) -> Result<Reply, appserver::Error> {
    unreachable!()
}

/// appserver's router over `templates`, all GET.
fn appserver_router(templates: &[String]) -> Router {
    let routes = templates.iter().enumerate().map(|(i, template)| {
        let names: Vec<&'static str> = template
            .split('{')
            .skip(1)
            .map(|s| &*Box::leak(s[..s.find('}').unwrap()].to_owned().into_boxed_str()))
            .collect();
        &*Box::leak(Box::new(Route {
            name: "bench",
            pattern: Box::leak(pattern(template).into_boxed_str()),
            methods: appserver::__private::Methods::GET,
            params: Box::leak(names.into_boxed_slice()),
            file: "github-routes.txt",
            line: i as u32,
            extractors: &[],
            parameters: &[],
            bearer: || None,
            headers: Vec::new,
            response: |_| None,
            answer: || appserver::__private::AnswerDoc::JSON,
            head: true,
            max_body_bytes: None,
            takes: || appserver::__private::Takes::Request,
            precheck: |_| Ok(()),
            handler: never,
        }))
    });
    Router::new(routes).unwrap_or_else(|err| panic!("{err:?}"))
}

fn lookup(router: &Router, path: &str) -> usize {
    match router.find(&Method::GET, path) {
        Lookup::Route(_, params, _) => params.iter().flatten().map(|(s, e)| e - s).sum(),
        _ => panic!("no route for {path}"),
    }
}

fn github_lookups(c: &mut Criterion) {
    let (templates, lookups) = github();
    let owned: Vec<String> = templates.iter().map(|t| t.to_string()).collect();
    let mut group = c.benchmark_group("github");
    group.throughput(Throughput::Elements(lookups.len() as u64));

    let router = appserver_router(&owned);
    group.bench_function("appserver", |b| {
        b.iter(|| lookups.iter().map(|path| lookup(&router, black_box(path))).sum::<usize>())
    });

    let mut matchit = matchit::Router::new();
    for (i, template) in templates.iter().enumerate() {
        matchit.insert(*template, i).unwrap();
    }
    group.bench_function("matchit", |b| {
        b.iter(|| {
            lookups
                .iter()
                .map(|path| matchit.at(black_box(path)).unwrap().params.iter().map(|(_, v)| v.len()).sum::<usize>())
                .sum::<usize>()
        })
    });

    let regexes: Vec<regex::Regex> =
        templates.iter().map(|t| regex::Regex::new(&format!("^{}$", pattern(t))).unwrap()).collect();
    let captured = |caps: regex::Captures<'_>| caps.iter().skip(1).flatten().map(|m| m.len()).sum::<usize>();
    group.bench_function("linear regex scan", |b| {
        b.iter(|| {
            lookups
                .iter()
                .map(|path| regexes.iter().find_map(|re| re.captures(black_box(path))).map(captured).unwrap())
                .sum::<usize>()
        })
    });

    let set = regex::RegexSet::new(regexes.iter().map(|r| r.as_str())).unwrap();
    group.bench_function("RegexSet + captures", |b| {
        b.iter(|| {
            lookups
                .iter()
                .map(|path| {
                    let first = set.matches(black_box(path)).iter().next().unwrap();
                    captured(regexes[first].captures(path).unwrap())
                })
                .sum::<usize>()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("github per path");
    for path in &lookups {
        group.bench_with_input(BenchmarkId::new("appserver", path), path, |b, path| {
            b.iter(|| lookup(&router, black_box(path)))
        });
        group.bench_with_input(BenchmarkId::new("matchit", path), path, |b, path| {
            b.iter(|| matchit.at(black_box(path)).unwrap().params.iter().map(|(_, v)| v.len()).sum::<usize>())
        });
    }
    group.finish();
}

/// `n` plausible routes: resources with ids and nested collections.
fn generated(n: usize) -> (Vec<String>, Vec<String>) {
    let routes: Vec<String> = (0..n)
        .map(|i| match i % 4 {
            0 => format!("/api/v1/resource{i}"),
            1 => format!("/api/v1/resource{i}/{{id}}"),
            2 => format!("/api/v1/resource{i}/{{id}}/items"),
            _ => format!("/api/v1/resource{i}/{{id}}/items/{{item}}"),
        })
        .collect();
    let lookups = [0, n / 3, 2 * n / 3, n - 1]
        .iter()
        .map(|&i| routes[i].replace("{id}", "4711").replace("{item}", "abc-def"))
        .collect();
    (routes, lookups)
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    for n in [10, 100, 1000] {
        let (routes, lookups) = generated(n);
        let router = appserver_router(&routes);
        eprintln!("router memory for {n} routes: {} bytes", router.memory_usage());
        group.throughput(Throughput::Elements(lookups.len() as u64));
        group.bench_with_input(BenchmarkId::new("appserver", n), &lookups, |b, lookups| {
            b.iter(|| lookups.iter().map(|path| lookup(&router, black_box(path))).sum::<usize>())
        });
    }
    group.finish();

    let (routes, _) = generated(1000);
    let mut group = c.benchmark_group("startup");
    group.sample_size(10);
    group.bench_function("build 1000 routes", |b| b.iter(|| appserver_router(black_box(&routes))));
    group.finish();
}

criterion_group!(benches, github_lookups, scaling);
criterion_main!(benches);
