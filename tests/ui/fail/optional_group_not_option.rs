use appserver::route;

#[route(r"/page(?:/(?P<number>\d+))?")]
fn page(number: u32) -> u32 {
    number
}

fn main() {}
