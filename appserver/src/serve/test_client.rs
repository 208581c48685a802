//! [`TestClient`]: requests through a server's routes, in the test's own thread, without a
//! socket.

use super::error::{Cause, ServeError};
use super::layer::AppService;
use super::server::Server;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::Service as _;

/// Sends requests through a [`Server`]'s routes, state and layers (the service
/// [`Server::into_service`] gives: router, extractors, limits, JSON errors, panics answered
/// 500) with
/// no socket, from a plain `#[test]`. It reads neither `appserver.toml` nor `APPSERVER_*`:
/// only the settings made on the `Server`.
///
/// ```standalone_crate
/// use appserver::{route, Json, Server, StatusCode, TestClient};
/// use serde_json::{json, Value};
///
/// #[route(POST, r"/echo/(?P<times>\d+)")]
/// fn echo(times: usize, body: Json<Value>) -> Value {
///     json!({ "echo": vec![body.0; times] })
/// }
///
/// let client = TestClient::new(Server::new()).unwrap();
/// let response = client.post("/echo/2").json(&json!("hi")).send();
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.json::<Value>(), json!({ "echo": ["hi", "hi"] }));
///
/// let response = client.post("/echo/x").send();
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// assert_eq!(response.text(), r#"{"error":{"status":404,"message":"no route for POST /echo/x"}}"#);
/// ```
pub struct TestClient {
    service: AppService,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient").finish_non_exhaustive()
    }
}

impl TestClient {
    /// A client of `server`'s routes, with its state, layers and settings made in code;
    /// runs its `on_worker_start` hook. Errors as [`Server::serve`] has them (routes that
    /// need missing state, duplicate routes, invalid settings).
    pub fn new(server: Server) -> Result<TestClient, ServeError> {
        let service = server.into_service_in_code()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| ServeError::new(Cause::Runtime(error)))?;
        Ok(TestClient { service, runtime })
    }

    /// A request with `method` to `path` (with its query string, if any).
    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        TestRequest { client: self, method, path: path.to_owned(), headers: HeaderMap::new(), body: Bytes::new() }
    }

    /// A GET request.
    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::GET, path)
    }

    /// A POST request.
    pub fn post(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::POST, path)
    }

    /// A PUT request.
    pub fn put(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PUT, path)
    }

    /// A DELETE request.
    pub fn delete(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, path)
    }
}

/// A request being built by a [`TestClient`]; [`TestRequest::send`] sends it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct TestRequest<'a> {
    client: &'a TestClient,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl TestRequest<'_> {
    /// Adds a header. Panics if the name or value is not valid in HTTP.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        self.headers.append(name, HeaderValue::from_str(value).expect("a valid header value"));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("a value that serializes to JSON");
        self.header(CONTENT_TYPE.as_str(), "application/json").body(body)
    }

    /// Sets an urlencoded form body, with its `Content-Type`.
    pub fn form<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_html_form::to_string(value).expect("a value that serializes to a form");
        self.header(CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded").body(body)
    }

    /// Sends the request through the routes and reads the whole response.
    pub fn send(self) -> TestResponse {
        let mut request = http::Request::new(Full::new(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = self.path.parse().expect("a valid request path");
        *request.headers_mut() = self.headers;
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, HeaderValue::from_static("localhost"));
        }
        let mut service = self.client.service.clone();
        let (parts, body) = self.client.runtime.block_on(async {
            let Ok(response) = service.call(request).await;
            let (parts, body) = response.into_parts();
            (parts, body.collect().await.map(|b| b.to_bytes()).unwrap_or_default())
        });
        TestResponse { status: parts.status, headers: parts.headers, body }
    }
}

/// A response received by a [`TestClient`].
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T`. Panics, showing the body, if it is not.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("the body is not that JSON ({err}): {}", self.text()))
    }
}
