use appserver::route;

#[route(GET, concat!("/api", "/items"))]
fn items() -> Vec<u64> {
    vec![1, 2]
}

fn main() {}
