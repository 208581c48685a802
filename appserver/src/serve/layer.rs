//! Tower middleware around the routes ([`Server::layer`](crate::Server::layer)), and the
//! routes as a tower `Service` ([`AppService`]) to mount inside hyper or axum.
//!
//! Layers wrap one boxed service over boxed bodies, so that any tower or tower-http layer
//! fits. A server without layers never builds it: its connections call the routes
//! directly.

use super::access::Access;
use super::request_id::{self, X_REQUEST_ID};
use super::service::{App, Renderer, rendered};
use crate::handler::{BoxError, Error, IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt as _};

/// The body of a request or response between layers.
pub type LayerBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The routes with their layers; an error is answered as a JSON 500 by [`call`].
pub(crate) type Stack = BoxCloneSyncService<http::Request<LayerBody>, http::Response<LayerBody>, BoxError>;

/// A layer, kept until the server starts.
pub(crate) type AddLayer = Arc<dyn Fn(Stack) -> Stack + Send + Sync>;

/// `layer`, ready to wrap a stack: its responses boxed, its errors boxed.
pub(crate) fn add<L, S, B>(layer: L) -> AddLayer
where
    L: Layer<Stack, Service = S> + Send + Sync + 'static,
    S: Service<http::Request<LayerBody>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    Arc::new(move |inner: Stack| {
        let service = layer
            .layer(inner)
            .map_response(|response: http::Response<B>| response.map(|body| body.map_err(Into::into).boxed_unsync()))
            .map_err(Into::into);
        BoxCloneSyncService::new(service)
    })
}

/// Sends `request` through `stack` (waiting until it is ready) and logs its access line
/// with the status the layers answered; an error of a layer is a logged JSON 500. With
/// `request_id`, the request gets its id before the layers see it, and the response after.
pub(crate) async fn call(
    mut stack: Stack,
    render: Option<Renderer>,
    mut request: http::Request<LayerBody>,
    request_id: bool,
) -> http::Response<LayerBody> {
    let id = request_id.then(|| request_id::of(&mut request));
    let access = Access::start(&request);
    let answered = match std::future::poll_fn(|cx| stack.poll_ready(cx)).await {
        Ok(()) => stack.call(request).await,
        Err(err) => Err(err),
    };
    let response = answered.unwrap_or_else(|err| {
        super::log::handler_failed(500, &err.to_string());
        let response = Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
        boxed(match &render {
            Some(render) => rendered(response, render),
            None => response,
        })
    });
    let mut response = response;
    if let Some(access) = access {
        access.log(response.status(), id.as_ref());
    }
    if let Some(id) = id {
        response.headers_mut().insert(X_REQUEST_ID, id);
    }
    response
}

pub(crate) fn box_error(err: impl Into<BoxError>) -> BoxError {
    err.into()
}

/// The routes of `app` wrapped in `layers`, the first added innermost.
pub(crate) fn stack(app: Arc<App>, layers: &[AddLayer]) -> Stack {
    let routes = BoxCloneSyncService::new(tower::service_fn(move |request: http::Request<LayerBody>| {
        let answer = app.respond(request, None);
        async move { Ok::<_, BoxError>(boxed(answer.await)) }
    }));
    layers.iter().fold(routes, |stack, layer| layer(stack))
}

fn boxed(response: Response) -> http::Response<LayerBody> {
    response.map(|body| body.boxed_unsync())
}

/// The routes of a [`Server`](crate::Server), with its layers, as a tower `Service` over
/// any request body: mount them inside another server. Made by
/// [`Server::into_service`](crate::Server::into_service).
#[derive(Clone)]
pub struct AppService(pub(crate) Stack, pub(crate) Option<Renderer>, pub(crate) bool);

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppService")
    }
}

impl<B> Service<http::Request<B>> for AppService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<LayerBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    /// Always ready: each call waits for the layers' readiness itself.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let request: http::Request<LayerBody> = request.map(|body| body.map_err(box_error).boxed_unsync());
        let answer = call(self.0.clone(), self.1.clone(), request, self.2);
        Box::pin(async move { Ok(answer.await) })
    }
}
