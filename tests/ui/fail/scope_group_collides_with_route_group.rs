#[appserver::scope(r"/shops/(?P<shop>[a-z]+)")]
mod shops {
    use appserver::route;

    #[route(GET, r"/branches/(?P<shop>\d+)")]
    pub(crate) fn branch(shop: String) -> String {
        shop
    }
}

fn main() {}
