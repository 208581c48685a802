use appserver::route;

#[route(r"/items/(?P<id>\d+)")]
fn item<T: Default>(id: u64) -> u64 {
    let _ = T::default();
    id
}

fn main() {}
