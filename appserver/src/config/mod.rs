//! Configuration: the one settings schema, its sources (the config file, the environment,
//! the settings made in code) and their errors, the application's own sections of the
//! file, and the typed values a setting holds ([`ServerType`], [`Tokens`]).
//!
//! A leaf: it imports none of the other folders.

mod error_format;
mod load;
mod schema;
mod section;
mod server_type;
mod tokens;
mod value;

pub use error_format::ErrorFormat;
pub use schema::Config;
pub(crate) use schema::{ConfigError, Settings, Source, expected, schema};
pub(crate) use section::read as read_section;
pub use server_type::ServerType;
pub use tokens::Tokens;
