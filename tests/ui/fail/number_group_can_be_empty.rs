use appserver::route;

#[route(r"/offset/(?P<offset>-?\d*)")]
fn offset(offset: i32) -> i32 {
    offset
}

fn main() {}
