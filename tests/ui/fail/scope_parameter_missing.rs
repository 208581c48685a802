#[appserver::scope(r"/shops/(?P<shop>[a-z]+)")]
mod shops {
    use appserver::route;

    #[route(GET, r"/orders/(?P<order>\d+)")]
    pub(crate) fn order(order: u64) -> u64 {
        order
    }
}

fn main() {}
