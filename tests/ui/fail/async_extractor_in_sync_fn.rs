use appserver::{route, Error, FromRequestAsync, Request};
use std::future::Future;

struct Member;

impl FromRequestAsync for Member {
    fn from_request(_: &Request) -> impl Future<Output = Result<Self, Error>> + Send + 'static {
        async { Ok(Member) }
    }
}

#[route(GET, r"/lounge/")]
fn lounge(member: Member) -> &'static str {
    let _ = member;
    "welcome"
}

fn main() {}
