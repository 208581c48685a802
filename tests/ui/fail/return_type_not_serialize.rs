use appserver::route;

struct Item {
    id: u64,
}

#[route(r"/items/(?P<id>\d+)")]
fn item(id: u64) -> Item {
    Item { id }
}

fn main() {}
