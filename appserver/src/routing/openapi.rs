//! The OpenAPI 3.1 document of the routes: a path template per route whose groups are
//! whole path segments, each group a typed path parameter with its regex as `pattern`,
//! the request body of a `Json<T>` or `Form<T>` extractor, and the error shape as a
//! shared response; with the `schemars` feature, the JSON Schemas of the bodies. A route
//! whose pattern is not such a template is listed in the extension `x-appserver-patterns`
//! with its regex, never left out.

use super::answer::AnswerStatus;
use super::route::{Parameter, Route};
use super::router::Router;
use super::schema::Generators;
use crate::handler::Takes;
use appserver_pattern::Pattern;
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Map, Value, json};

/// The OpenAPI 3.1 document of the routes of `router`, titled `title` at `version`;
/// `tokens`: whether the server has bearer tokens, so that routes may ask for one.
pub(crate) fn document(router: &Router, title: &str, version: &str, tokens: bool) -> Value {
    let mut schemas = Generators::new();
    let mut paths = Map::new();
    let mut others = Vec::new();
    let mut secured = false;
    for route in router.routes() {
        let pattern = appserver_pattern::parse(route.pattern).expect("the router parsed it");
        let Some(template) = template(&pattern) else {
            others.push(json!({
                "pattern": route.pattern,
                "methods": route.answers().names().collect::<Vec<_>>(),
                "handler": route.name,
                "defined_at": format!("{}:{}", route.file, route.line),
            }));
            continue;
        };
        secured |= bearer(route, tokens).is_some();
        let item = paths.entry(template).or_insert_with(|| json!({}));
        for method in route.methods.names() {
            item[method.to_ascii_lowercase()] = operation(route, &pattern, method, tokens, &mut schemas);
        }
    }
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["status", "message"],
                        "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
                    }},
                },
            },
            "responses": {
                "Error": {
                    "description": "An error: its status, and a message that says what went wrong",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        },
    });
    for (name, schema) in schemas.definitions() {
        document["components"]["schemas"][name] = schema;
    }
    if !others.is_empty() {
        document["x-appserver-patterns"] = Value::Array(others);
    }
    if secured {
        document["components"]["securitySchemes"] = json!({
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token from the server's `auth_tokens`"},
        });
    }
    document
}

/// The role of the bearer token `route` takes (`""`: any), if it takes one and the server
/// has tokens (`tokens`).
fn bearer(route: &Route, tokens: bool) -> Option<&'static str> {
    (route.bearer)().filter(|_| tokens)
}

fn operation(route: &Route, pattern: &Pattern, method: &str, tokens: bool, schemas: &mut Generators) -> Value {
    let mut parameters: Vec<Value> = route
        .parameters
        .iter()
        .filter(|p| p.group)
        .map(|p| {
            let source = pattern.groups().iter().find(|g| g.name() == p.name).map_or("", |g| g.source());
            let mut schema = schema_of(p);
            schema["pattern"] = Value::String(format!("^(?:{source})$"));
            json!({"name": p.name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    for query in route.parameters.iter().filter(|p| p.ty.starts_with("Query<")) {
        parameters.extend(query_parameters(schemas.query(query.schema)));
    }
    if (route.takes)() == Takes::Upgrade {
        parameters.extend(handshake_headers());
    }
    parameters.extend((route.headers)().iter().map(|header| {
        let mut schema = json!({"type": "string"});
        if let Some(pattern) = header.pattern {
            schema["pattern"] = json!(pattern);
        }
        json!({"name": header.name, "in": "header", "required": header.required,
               "description": header.description, "schema": schema})
    }));
    let mut operation = json!({
        "operationId": format!("{}.{}", route.name.replace("::", "."), method.to_ascii_lowercase()),
        "summary": route.name,
        "parameters": parameters,
        "responses": answer(route, schemas),
    });
    if let Some(role) = bearer(route, tokens) {
        operation["security"] = json!([{"bearerAuth": []}]);
        operation["description"] = json!(match role {
            "" => "Needs a bearer token.".to_owned(),
            role => format!("Needs a bearer token with the role `{role}`."),
        });
        let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        operation["responses"]["401"] = error("No token, or one the server does not know");
        operation["responses"]["403"] = error("A token without the role this route needs");
    }
    let body = route.parameters.iter().filter(|p| !p.group).find_map(|p| {
        let media = match p.ty.split('<').next() {
            Some("Json") => "application/json",
            Some("Form") => "application/x-www-form-urlencoded",
            _ => return None,
        };
        Some(json!({"required": true, "content": {media: {"schema": schemas.request(p.schema)}}}))
    });
    if let Some(body) = body {
        operation["requestBody"] = body;
    }
    operation
}

/// The query parameters of a `Query<T>` from `T`'s object schema: a field each, required
/// when the schema says so.
fn query_parameters(schema: Option<Value>) -> Vec<Value> {
    let Some(schema) = schema else { return Vec::new() };
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else { return Vec::new() };
    properties
        .iter()
        .map(|(name, schema)| {
            // An optional field's `null` is its absence from the query string, or its empty
            // value (`?limit=`).
            let mut schema = schema.clone();
            let mut optional = false;
            if let Some(types) = schema["type"].as_array() {
                let present: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                optional = present.len() < types.len();
                schema["type"] = match present.len() {
                    1 => present[0].clone(),
                    _ => Value::Array(present),
                };
            }
            let mut parameter =
                json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema});
            if optional {
                parameter["allowEmptyValue"] = Value::Bool(true);
            }
            parameter
        })
        .collect()
}

/// The headers of a WebSocket handshake (RFC 6455, section 4.1), which a WebSocket route
/// needs: without them it answers 426.
fn handshake_headers() -> [Value; 4] {
    let header = |name: &str, schema: Value| json!({"name": name, "in": "header", "required": true, "schema": schema});
    [
        header("Upgrade", json!({"type": "string", "enum": ["websocket"]})),
        header("Connection", json!({"type": "string", "enum": ["Upgrade"]})),
        header("Sec-WebSocket-Version", json!({"type": "string", "enum": ["13"]})),
        // 16 bytes in base64.
        header("Sec-WebSocket-Key", json!({"type": "string", "pattern": "^[A-Za-z0-9+/]{21}[AQgw]==$"})),
    ]
}

/// The responses of `route`: its answer, under its status (exact, or its class such as
/// `2XX` when the handler picks it), with its media type; and the error shape for the rest.
fn answer(route: &Route, schemas: &mut Generators) -> Value {
    let error = json!({"$ref": "#/components/responses/Error"});
    if (route.takes)() == Takes::Upgrade {
        // A WebSocket handshake, whatever type the handler answers it with.
        return json!({"101": {"description": "Switching to the WebSocket protocol"}, "default": error});
    }
    let doc = (route.answer)();
    let status = match doc.status {
        AnswerStatus::Exact(code) => code.to_string(),
        AnswerStatus::Class(class) => format!("{class}XX"),
    };
    let mut answer = json!({"description": "The handler's answer"});
    match (doc.media, doc.json) {
        (Some(media), true) => answer["content"] = json!({media: {"schema": schemas.response(route.response)}}),
        // Each event of a stream, as OpenAPI 3.2's `itemSchema` for `text/event-stream` has it.
        (Some(media @ "text/event-stream"), false) => {
            answer["content"] = json!({media: {"schema": {
                "type": "object",
                "properties": {
                    "data": {"type": "string"},
                    "event": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer", "minimum": 0},
                },
            }}})
        }
        (Some(media), false) => answer["content"] = json!({media: {"schema": {"type": "string"}}}),
        (None, _) => {}
    }
    if doc.status == AnswerStatus::Class(3) {
        answer["description"] = json!("A redirect to the Location header's target");
        answer["headers"] = json!({"Location": {"required": true, "schema": {"type": "string"}}});
    }
    json!({status: answer, "default": error})
}

/// The JSON Schema of a path parameter's Rust type; integers with the bounds of their
/// width.
fn schema_of(parameter: &Parameter) -> Value {
    let integer = |min: i128, max: i128| json!({"type": "integer", "minimum": min, "maximum": max});
    match parameter.ty {
        "u8" => integer(0, u8::MAX.into()),
        "u16" => integer(0, u16::MAX.into()),
        "u32" => integer(0, u32::MAX.into()),
        "u64" | "usize" => integer(0, u64::MAX.into()),
        "i8" => integer(i8::MIN.into(), i8::MAX.into()),
        "i16" => integer(i16::MIN.into(), i16::MAX.into()),
        "i32" => integer(i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => integer(i64::MIN.into(), i64::MAX.into()),
        "f32" | "f64" => json!({"type": "number"}),
        "bool" => json!({"type": "boolean"}),
        _ => json!({"type": "string"}),
    }
}

/// `pattern` as a path template (`/{object_type}/get/{object_id}/`), if each group is a
/// whole path segment: after a `/`, before a `/` or the end, never empty, never a `/`.
fn template(pattern: &Pattern) -> Option<String> {
    let mut parts: Vec<&Hir> = Vec::new();
    flatten(pattern.hir(), &mut parts);
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        match part.kind() {
            HirKind::Look(_) => {}
            HirKind::Literal(literal) => out.push_str(std::str::from_utf8(&literal.0).ok()?),
            HirKind::Capture(capture) => {
                let name = capture.name.as_deref()?;
                let next_is_boundary = match parts.get(i + 1).map(|p| p.kind()) {
                    None | Some(HirKind::Look(_)) => true,
                    Some(HirKind::Literal(literal)) => literal.0.first() == Some(&b'/'),
                    _ => false,
                };
                if !out.ends_with('/') || !next_is_boundary || !segment(&capture.sub) {
                    return None;
                }
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
            _ => return None,
        }
    }
    Some(out)
}

fn flatten<'a>(hir: &'a Hir, parts: &mut Vec<&'a Hir>) {
    match hir.kind() {
        HirKind::Concat(subs) => subs.iter().for_each(|sub| flatten(sub, parts)),
        _ => parts.push(hir),
    }
}

/// Whether `hir` matches only non-empty text without a `/`.
fn segment(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(literal) => !literal.0.is_empty() && !literal.0.contains(&b'/'),
        HirKind::Class(class) => !has_slash(class),
        HirKind::Repetition(repetition) => repetition.min >= 1 && segment(&repetition.sub),
        HirKind::Capture(capture) => segment(&capture.sub),
        HirKind::Alternation(arms) => arms.iter().all(segment),
        HirKind::Concat(parts) => parts.iter().all(segment),
        HirKind::Empty | HirKind::Look(_) => false,
    }
}

fn has_slash(class: &Class) -> bool {
    match class {
        Class::Bytes(class) => class.ranges().iter().any(|r| (r.start()..=r.end()).contains(&b'/')),
        Class::Unicode(class) => class.ranges().iter().any(|r| (r.start()..=r.end()).contains(&'/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template_of(pattern: &str) -> Option<String> {
        template(&appserver_pattern::parse(pattern).unwrap())
    }

    #[test]
    fn groups_that_are_whole_segments_become_template_parameters() {
        let template = template_of(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/");
        assert_eq!(template.as_deref(), Some("/{object_type}/get/{object_id}/"));
        assert_eq!(template_of(r"/users/(?P<id>[^/]+)").as_deref(), Some("/users/{id}"));
        assert_eq!(template_of("/users/me").as_deref(), Some("/users/me"));
        assert_eq!(template_of(r"/files/(?P<path>.+)"), None, "a group that spans segments");
        assert_eq!(template_of(r"/v(?P<n>\d+)/x"), None, "a group inside a segment");
        assert_eq!(template_of(r"/p/(?P<name>[a-z]+)(?:\.(?P<format>json|txt))?"), None, "an optional group");
        assert_eq!(template_of(r"/p/(?P<name>[a-z]*)"), None, "a group that may be empty");
    }
}
