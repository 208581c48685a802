use appserver::route;

#[route(r"/items/(?P<id>\d+")]
fn item(id: u64) -> u64 {
    id
}

fn main() {}
