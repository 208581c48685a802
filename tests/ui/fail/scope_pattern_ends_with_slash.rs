#[appserver::scope(r"/shops/")]
mod shops {
    use appserver::route;

    #[route(GET, r"/all")]
    pub(crate) fn all() -> u64 {
        1
    }
}

fn main() {}
