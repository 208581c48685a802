//! TQueue's protocols over real sockets on the embedded store: the conformance suite
//! (v1 byte for byte, leases, dead letters, bounds and errors, auth), and what is the
//! embedded store's own: its startup checks, and the OpenAPI document.

mod conformance;
mod support;

use support::*;
use tqueue::Settings;

conformance::suite!(Some(Store::Embedded));

#[test]
fn without_tokens_it_serves_this_host_only_unless_told() {
    let server = Server::new().bind(([0, 0, 0, 0], 0));
    let settings = Settings { data_dir: scratch_dir(), ..Settings::default() };
    let err = tqueue::app(server, settings.clone()).unwrap_err().to_string();
    assert!(err.starts_with("tqueue has no tokens and would listen on 0.0.0.0, beyond this host"), "{err}");
    let server = Server::new().bind(([0, 0, 0, 0], 0));
    assert!(tqueue::app(server, Settings { allow_anonymous: true, ..settings.clone() }).is_ok());
    let forked = Server::new().server_type(appserver::ServerType::Forked);
    let err = tqueue::app(forked, settings).unwrap_err().to_string();
    assert!(err.starts_with("with the embedded store tqueue runs in Threaded mode"), "{err}");
    let short = Server::new().request_timeout(std::time::Duration::from_secs(10));
    let err = tqueue::app(short, Settings { data_dir: scratch_dir(), ..Settings::default() }).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid [tqueue] settings:\n`max_wait` = 20 must be shorter than the server's `request_timeout` (10s)"
    );
    let err = tqueue::app(Server::new(), Settings { lease: 0.0, max_attempts: 0, ..Settings::default() });
    let err = err.unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid [tqueue] settings:\n`lease` = 0: expected seconds, more than 0 and at most 86400\n`max_attempts` = 0: expected at least 1"
    );
}

#[test]
fn the_openapi_document_lists_every_route_and_is_valid() {
    let document = appserver::openapi("tqueue", "0.1.0").unwrap();
    let lease = &document["paths"]["/v2/queues/{queue}/lease"]["post"];
    assert_eq!(lease["parameters"][0]["schema"], json!({"type": "string", "pattern": "^(?:[A-Za-z0-9_.-]{1,64})$"}));
    // The lease's query string: a parameter per field, none required.
    let names: Vec<(&str, bool)> = lease["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| (p["name"].as_str().unwrap(), p["required"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("max", false), ("lease", false), ("wait", false)], "{lease}");
    assert_eq!(lease["parameters"][1]["schema"]["type"], "integer", "an absent parameter is no null: {lease}");
    let put = &document["paths"]["/v2/queues/{queue}/tasks"]["post"];
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/NewTask"}),
        "{put}"
    );
    // A put is a 201 with its queue and id.
    assert_eq!(
        put["responses"]["201"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Put"})
    );
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["NewTask"]["required"], json!(["task"]), "{schemas}");
    assert_eq!(schemas["Stats"]["properties"]["ready"]["type"], "integer", "{schemas}");
    assert!(
        document["paths"]["/{queue}/put/"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            .is_object()
    );
    // Every route is a path template: done with and without its slash, requeue of all dead
    // tasks and of one, are routes of their own.
    for path in ["/{queue}/done/{task_id}", "/{queue}/done/{task_id}/"] {
        assert!(document["paths"][path]["get"].is_object() && document["paths"][path]["post"].is_object(), "{path}");
    }
    for path in ["/v2/queues/{queue}/dead/requeue", "/v2/queues/{queue}/dead/{id}/requeue"] {
        assert!(document["paths"][path]["post"].is_object(), "{path}");
    }
    assert!(document["x-appserver-patterns"].is_null(), "{}", document["x-appserver-patterns"]);
    examples::validate_openapi(&document).unwrap();
    // Each route asks for a token with its role (`Caller<R>`), and may answer 401 and 403.
    assert_eq!(lease["security"], json!([{"bearerAuth": []}]));
    assert_eq!(lease["description"], "Needs a bearer token with the role `consume`.");
    assert!(lease["responses"]["401"].is_object() && lease["responses"]["403"].is_object(), "{lease}");
    let dead = &document["paths"]["/v2/queues/{queue}/dead"]["get"];
    assert_eq!(dead["description"], "Needs a bearer token with the role `admin`.");
    assert_eq!(document["paths"]["/{queue}/qsize/"]["get"]["description"], "Needs a bearer token.");
    examples::validate_openapi(&document).unwrap();
    // Served, titled and versioned after the crate; with tokens, as above.
    let tokens = Tokens::new().token("ops", "openapi-0123456789", ["admin"]);
    let server = start(Settings::default(), tokens);
    let served = Client::new(server.addr()).get("/openapi.json").json();
    assert_eq!(served["info"], json!({"title": "tqueue", "version": env!("CARGO_PKG_VERSION")}));
    assert_eq!(served["paths"], document["paths"]);
    // Without tokens anyone on this host may call: no route asks for a token.
    let server = start(Settings::default(), Tokens::new());
    let served = Client::new(server.addr()).get("/openapi.json").json();
    let lease = &served["paths"]["/v2/queues/{queue}/lease"]["post"];
    assert!(lease["security"].is_null() && lease["responses"]["401"].is_null(), "{lease}");
    assert!(served["components"]["securitySchemes"].is_null(), "{}", served["components"]);
}

#[test]
fn a_full_store_refuses_writes_keeps_true_counts_and_takes_writes_again_when_space_returns() {
    let dir = scratch_dir();
    let settings = Settings { data_dir: dir.clone(), max_store_mb: 1, ..Settings::default() };
    let server = start(settings, Tokens::new());
    let mut c = Client::new(server.addr());
    let task = json!({"task": "x".repeat(4000)});
    let mut acknowledged = 0;
    let refused = loop {
        let reply = c.post_json("/v2/queues/q/tasks", &task);
        match reply.status {
            201 => acknowledged += 1,
            _ => break reply,
        }
        assert!(acknowledged < 1000, "1 MiB holds fewer than 1000 tasks of 4 KB");
    };
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(acknowledged > 50, "{acknowledged}");
    // Refused again while full; the counts are the acknowledged puts, nothing more.
    for _ in 0..20 {
        assert_eq!(c.post_json("/v2/queues/q/tasks", &task).status, 503);
    }
    assert_eq!(c.get("/q/qsize/").body, format!(r#"{{"worker":"q","qsize":{acknowledged}}}"#));
    let stats = c.get("/v2/queues/q").json();
    assert_eq!((stats["ready"].as_u64(), stats["leased"].as_u64()), (Some(acknowledged), Some(0)), "{stats}");
    assert_eq!(stats["put"].as_u64(), Some(acknowledged), "refused puts are not counted: {stats}");
    // Space returns as tasks are done: the next put succeeds, without a restart.
    let leased = c.post("/v2/queues/q/lease?max=20").json();
    let leases: Vec<String> =
        leased["tasks"].as_array().unwrap().iter().map(|t| t["lease"].as_str().unwrap().to_owned()).collect();
    assert_eq!(leases.len(), 20, "{leased}");
    for lease in &leases {
        assert_eq!(c.post(&format!("/v2/queues/q/leases/{lease}/done")).status, 200);
    }
    assert_eq!(c.post_json("/v2/queues/q/tasks", &task).status, 201);
    let stats = c.get("/v2/queues/q").json();
    assert_eq!(stats["ready"].as_u64(), Some(acknowledged - 20 + 1), "{stats}");
    assert_eq!(stats["leased"].as_u64(), Some(0), "{stats}");
}
