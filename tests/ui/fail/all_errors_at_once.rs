use appserver::route;

#[route(r"/(?P<kind>\w+)/(?P<id>\w+)/(?P<page>\d+)?")]
fn object(id: u64, page: u32, verbose: bool) -> String {
    format!("{id}{page}{verbose}")
}

fn main() {}
