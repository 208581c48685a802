use appserver::route;

#[route(GTE | POST, r"/items/")]
fn items() -> Vec<u64> {
    vec![1, 2]
}

fn main() {}
