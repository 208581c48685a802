//! The TQueue server: `cargo run --release -p tqueue`. Settings: `appserver.toml` (the
//! server's keys, and TQueue's under `[tqueue]`), `APPSERVER_*` and `TQUEUE_*` variables.

use appserver::Server;

fn main() -> Result<(), tqueue::StartError> {
    tqueue::from_config(Server::new())?.serve()?;
    Ok(())
}
