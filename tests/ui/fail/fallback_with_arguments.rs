use appserver::fallback;

#[fallback(GET)]
fn not_found() -> &'static str {
    "nothing here"
}

fn main() {}
