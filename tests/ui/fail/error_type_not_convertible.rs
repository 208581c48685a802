use appserver::route;

struct NotFound;

#[route(r"/items/(?P<id>\d+)")]
fn item(id: u64) -> Result<u64, NotFound> {
    if id == 0 { Err(NotFound) } else { Ok(id) }
}

fn main() {}
