use appserver::route;

struct Slug(String);

#[route(r"/posts/(?P<slug>[a-z-]+)")]
fn post(slug: Slug) -> String {
    slug.0
}

fn main() {}
