use appserver::route;

#[route(r"/items/")]
struct Items;

fn main() {}
