//! The OpenAPI document with the `schemars` feature: the JSON Schemas of request bodies
//! and answers, shared definitions in `components/schemas`, checked by a validator; and
//! served at `openapi_path`.

use appserver::sse::{Event, Sse};
use appserver::{
    Bearer, Created, Form, Html, Json, Query, Redirect, Role, Server, StatusCode, TestClient, Tokens, route,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::convert::Infallible;

#[derive(Deserialize, Serialize, JsonSchema)]
struct Order {
    item: String,
    quantity: u16,
    address: Address,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Address {
    city: String,
}

#[derive(Deserialize, JsonSchema)]
struct Search {
    q: String,
}

#[route(POST, r"/orders/")]
fn place(order: Json<Order>) -> (StatusCode, Order) {
    (StatusCode::CREATED, order.0)
}

#[route(POST, r"/orders/created/")]
fn create(order: Json<Order>) -> Created<Order> {
    Created(order.0)
}

#[route(GET, r"/page/")]
fn page() -> appserver::Result<Html<&'static str>> {
    Ok(Html("<p>page</p>"))
}

#[route(PUT, r"/orders/(?P<id>\d+)")]
fn replace(id: u32, order: Json<Order>) -> appserver::Result<(StatusCode, Order)> {
    match id {
        0 => Err(appserver::Error::bad_request("no order 0")),
        _ => Ok((StatusCode::OK, order.0)),
    }
}

/// A stream of events whose type has a name.
type Events = futures_util::stream::Iter<std::vec::IntoIter<Result<Event, Infallible>>>;

#[route(GET, r"/orders/(?P<id>\d+)/events")]
fn events(id: u32) -> appserver::Result<Sse<Events>> {
    Ok(Sse::new(futures_util::stream::iter(vec![Ok(Event::default().data(id.to_string()))])))
}

#[route(GET, r"/socket/")]
fn socket(ws: appserver::ws::WebSocketUpgrade) -> appserver::Response {
    ws.on_upgrade(|_socket| async {})
}

/// An extractor that reads a header, and says so for the document.
struct Tenant(String);

impl appserver::FromRequest for Tenant {
    fn from_request(request: &appserver::Request) -> Result<Self, appserver::Error> {
        match request.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
            Some(tenant) => Ok(Tenant(tenant.to_owned())),
            None => Err(appserver::Error::bad_request("missing X-Tenant")),
        }
    }

    const HEADER: Option<appserver::HeaderDoc> = Some(appserver::HeaderDoc {
        name: "X-Tenant",
        required: true,
        description: "Whose orders",
        pattern: Some("^[a-z]{1,16}$"),
    });
}

#[route(GET, r"/tenant/orders/")]
fn tenant_orders(tenant: Tenant) -> String {
    tenant.0
}

#[route(GET, r"/elsewhere/")]
fn elsewhere() -> Redirect {
    Redirect::to("/page/")
}

struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

#[route(DELETE, r"/orders/(?P<id>\d+)")]
fn cancel(id: u32, _admin: Bearer<Admin>) -> u32 {
    id
}

#[route(GET, r"/orders/(?P<id>\d+)")]
fn order(id: u32) -> appserver::Result<Address> {
    Ok(Address { city: format!("city {id}") })
}

#[derive(Deserialize, JsonSchema)]
struct Page {
    /// Words to look for.
    q: String,
    limit: Option<u32>,
}

#[route(GET, r"/search/")]
fn find(page: Query<Page>) -> Vec<String> {
    vec![page.0.q; page.0.limit.unwrap_or(1) as usize]
}

#[route(POST, r"/search/")]
fn search(form: Form<Search>) -> Vec<String> {
    vec![form.0.q]
}

#[test]
fn bodies_and_answers_have_their_json_schemas_and_the_document_is_valid() {
    let document = appserver::openapi("orders", "2.0").unwrap();
    let place = &document["paths"]["/orders/"]["post"];
    assert_eq!(
        place["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Order"})
    );
    // `(StatusCode, T)`: the status is the handler's pick, a 2xx; `Created<T>`: a 201.
    assert_eq!(
        place["responses"]["2XX"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Order"})
    );
    assert!(place["responses"]["200"].is_null(), "{place}");
    let create = &document["paths"]["/orders/created/"]["post"];
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Order"})
    );
    // A route that takes a bearer token: the scheme, its requirement, 401 and 403, the role.
    let cancel = &document["paths"]["/orders/{id}"]["delete"];
    assert_eq!(cancel["security"], json!([{"bearerAuth": []}]));
    assert_eq!(cancel["description"], "Needs a bearer token with the role `admin`.");
    for status in ["401", "403"] {
        let schema = &cancel["responses"][status]["content"]["application/json"]["schema"];
        assert_eq!(schema, &json!({"$ref": "#/components/schemas/Error"}), "{status}");
    }
    assert_eq!(document["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    assert!(order_free_of_security(&document), "routes without a token declare none");
    // `Query<T>`: a query parameter per field, required unless optional.
    let find = &document["paths"]["/search/"]["get"];
    let parameters = find["parameters"].as_array().unwrap();
    let named = |name: &str| parameters.iter().find(|p| p["name"] == name).cloned().unwrap_or_default();
    assert_eq!(named("q")["in"], "query");
    assert_eq!(named("q")["required"], true);
    assert_eq!(named("q")["schema"]["type"], "string");
    assert_eq!(named("limit")["required"], false);
    assert_eq!(named("limit")["schema"]["format"], "uint32", "{find}");
    // Its width's bounds, which schemars gives only as a format.
    assert_eq!(named("limit")["schema"]["maximum"], u32::MAX, "{find}");
    // An optional field's empty value (`?limit=`) is its absence.
    assert_eq!(named("limit")["allowEmptyValue"], true, "{find}");
    assert!(named("q")["allowEmptyValue"].is_null(), "{find}");
    // `Result<(StatusCode, T), E>`: a 2xx the handler picks.
    let replace = &document["paths"]["/orders/{id}"]["put"]["responses"];
    assert_eq!(replace["2XX"]["content"]["application/json"]["schema"], json!({"$ref": "#/components/schemas/Order"}));
    // An event stream, in a `Result` too: each event's fields.
    let events = &document["paths"]["/orders/{id}/events"]["get"]["responses"]["200"]["content"];
    assert_eq!(events["text/event-stream"]["schema"]["properties"]["data"], json!({"type": "string"}), "{events}");
    let page = &document["paths"]["/page/"]["get"];
    assert_eq!(page["responses"]["200"]["content"], json!({"text/html": {"schema": {"type": "string"}}}));
    // A WebSocket route: its 101, whatever type the handler answers with.
    let socket = &document["paths"]["/socket/"]["get"]["responses"];
    assert!(socket["101"].is_object() && socket["2XX"].is_null(), "{socket}");
    // ... and the handshake's headers, without which it answers 426.
    let handshake = &document["paths"]["/socket/"]["get"]["parameters"];
    let headers: Vec<&str> = handshake.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(headers, ["Upgrade", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Key"]);
    assert!(handshake.as_array().unwrap().iter().all(|p| p["in"] == "header" && p["required"] == true));
    // A header an extractor reads, as it declares it.
    assert_eq!(
        document["paths"]["/tenant/orders/"]["get"]["parameters"],
        json!([{"name": "X-Tenant", "in": "header", "required": true, "description": "Whose orders",
                "schema": {"type": "string", "pattern": "^[a-z]{1,16}$"}}])
    );
    let elsewhere = &document["paths"]["/elsewhere/"]["get"]["responses"]["3XX"];
    assert_eq!(elsewhere["headers"]["Location"]["required"], true, "{elsewhere}");
    assert!(elsewhere["content"].is_null(), "{elsewhere}");
    let order = &document["paths"]["/orders/{id}"]["get"];
    assert_eq!(
        order["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Address"})
    );
    assert_eq!(
        order["parameters"][0]["schema"],
        json!({"type": "integer", "minimum": 0, "maximum": u32::MAX, "pattern": "^(?:\\d+)$"})
    );
    let search = &document["paths"]["/search/"]["post"];
    let form = &search["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(form, &json!({"$ref": "#/components/schemas/Search"}));
    assert_eq!(
        search["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "array", "items": {"type": "string"}})
    );
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["Order"]["properties"]["address"], json!({"$ref": "#/components/schemas/Address"}));
    assert_eq!(schemas["Order"]["properties"]["quantity"]["maximum"], 65535);
    assert!(schemas["Error"].is_object() && schemas["Search"].is_object(), "{schemas}");
    examples::validate_openapi(&document).unwrap();

    let tokens = Tokens::new().token("ops", "openapi-test-token-0123456789", ["admin"]);
    let server = Server::new().openapi_path(Some("/openapi.json".into())).openapi_info("orders", "2.0");
    let client = TestClient::new(server.auth_tokens(tokens)).unwrap();
    let served = client.get("/openapi.json").send();
    assert_eq!(served.json::<Value>()["info"], json!({"title": "orders", "version": "2.0"}));
    assert_eq!(served.header("content-type"), Some("application/json"));
    assert_eq!(served.json::<Value>()["paths"], document["paths"]);
    assert_eq!(client.post("/openapi.json").send().status(), StatusCode::NOT_FOUND, "GET and HEAD only");
}

/// Whether the GET of an order, which takes no token, declares no security.
fn order_free_of_security(document: &Value) -> bool {
    let order = &document["paths"]["/orders/{id}"]["get"];
    order["security"].is_null() && order["responses"]["401"].is_null()
}
