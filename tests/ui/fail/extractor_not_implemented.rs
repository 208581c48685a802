use appserver::route;

struct Session;

#[route(r"/me")]
fn me(session: Session) -> &'static str {
    let _ = session;
    "me"
}

fn main() {}
