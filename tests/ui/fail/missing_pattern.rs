use appserver::route;

#[route(GET)]
fn items() -> Vec<u64> {
    vec![1, 2]
}

fn main() {}
