use appserver::route;

#[route(r"/count/(?P<count>\w+)")]
fn count(count: u64) -> u64 {
    count
}

fn main() {}
