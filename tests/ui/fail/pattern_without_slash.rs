use appserver::route;

#[route(r"items/")]
fn items() -> Vec<u64> {
    vec![1, 2]
}

fn main() {}
