use appserver::route;

#[route(POST, r"/jobs/take/", head = false)]
fn take() -> u32 {
    1
}

fn main() {}
