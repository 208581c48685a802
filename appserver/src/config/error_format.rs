//! The shape of error bodies: [`ErrorFormat`].

/// The shape a server answers its errors in; the `error_format` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorFormat {
    /// `{"error":{"status":404,"message":"no route for GET /x"}}`, `application/json`.
    Json,
    /// RFC 9457 problem details, `application/problem+json`:
    /// `{"type":"about:blank","title":"Not Found","status":404,"detail":"no route for GET /x"}`.
    Problem,
}

impl ErrorFormat {
    /// The format named `name` in the config file and the environment.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(ErrorFormat::Json),
            "problem" => Some(ErrorFormat::Problem),
            _ => None,
        }
    }
}
